"""An ingestion server for tests (in-process threads or a `fieldkit-server serve`
subprocess) on the test PKI and broker, and a test "device" that seals with sync's
code and sends by HTTPS (requests) or MQTT (paho). See docs/server.md."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import requests
from cryptography.hazmat.primitives.asymmetric import ed25519

from server_stub.cli.serve import RunningServer, build_server
from server_stub.core.config import load_config
from server_stub.core.store import Store, open_store
from server_stub.deploy import keys
from server_stub.deploy.broker import new_share_group
from server_stub.deploy.broker_process import Broker, free_port
from server_stub.fleet.registry import add_device, revoke_device
from sync.wire.ack import Ack, AckVerifier
from sync.wire.envelope import HYBRID, SuiteSpec
from sync.wire.envelope_open import ServerPrivateKey
from sync.wire.sealing import SealedEnvelope, Sealer
from tests.helpers.mqtt import Identity, PKIPaths
from tests.helpers.outbox import tiny_record

READY_LINE = "fieldkit-server ready"


def _toml_str(p: Path | str) -> str:
    return '"' + str(p).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_server_config(root: Path, pki: PKIPaths, broker: Broker, *, identities: Sequence[Identity],
                        store_url: str, https_port: int, suite: SuiteSpec = HYBRID) -> Path:
    """Keys + server.toml in `root`, pointing at the test PKI and broker."""
    kdir = root / "keys"
    keys.write_seal_keys(kdir / "server-seal.key", kdir / "server-seal.pub", ServerPrivateKey.generate(suite))
    keys.write_sign_keys(kdir / "server-sign.key", kdir / "server-sign.pub",
                         ed25519.Ed25519PrivateKey.generate())
    text = render_config_for_tests(pki, broker, identities, store_url, https_port)
    path = root / "server.toml"
    path.write_text(text)
    path.chmod(0o600)  # `serve` refuses a config other users can read
    return path


def render_config_for_tests(pki: PKIPaths, broker: Broker, identities: Sequence[Identity],
                            store_url: str, https_port: int) -> str:
    # The same shape `fieldkit-server init` writes, with the test PKI's absolute paths.
    lines = [
        "[tls]",
        f"ca_cert = {_toml_str(pki.ca_cert)}",
        f"ca_key = {_toml_str(pki.ca_key)}",
        f"server_cert = {_toml_str(pki.server_cert)}",
        f"server_key = {_toml_str(pki.server_key)}",
        "[keys]",
        'seal_keys = ["keys/server-seal.key"]',
        'seal_public = "keys/server-seal.pub"',
        'sign_key = "keys/server-sign.key"',
        'sign_public = "keys/server-sign.pub"',
        "[store]",
        f"url = {_toml_str(store_url)}",
        "[https]",
        'host = "127.0.0.1"',
        f"port = {https_port}",
        "[mqtt]",
        f"host = {_toml_str(broker.host)}",
        f"port = {broker.port}",
        f"share_group = {_toml_str(new_share_group())}",
    ]
    for ident in identities:
        lines += ["[[mqtt.identities]]", f"name = {_toml_str(ident.name)}",
                  f"cert = {_toml_str(ident.cert)}", f"key = {_toml_str(ident.key)}"]
    return "\n".join(lines) + "\n"


class IngestServer:
    """A configured server; `start()` runs it in threads ("thread") or as a subprocess ("process")."""

    def __init__(self, root: Path, pki: PKIPaths, broker: Broker, *, mode: str = "thread",
                 store_url: str | None = None, fault: str | None = None,
                 identities: Sequence[Identity] | None = None, https: bool = True, mqtt: bool = True) -> None:
        assert mode in ("thread", "process"), mode
        root.mkdir(parents=True, exist_ok=True)
        self.root, self.pki, self.broker, self.mode = root, pki, broker, mode
        self.fault, self.https, self.mqtt = fault, https, mqtt
        self.https_port = free_port()
        self.config_path = write_server_config(
            root, pki, broker, identities=list(identities or [pki.server]),
            store_url=store_url or f"sqlite:{root / 'data' / 'fieldkit.db'}", https_port=self.https_port)
        self.config = load_config(self.config_path)
        self.ca_cert = pki.ca_cert
        self.seal_public = self.config.keys.seal_public
        self.sign_public = self.config.keys.sign_public
        self.running: RunningServer | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = root / "server.log"
        self._store: Store | None = None

    # --- addresses and keys -------------------------------------------------------------

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def mqtt_url(self) -> str:
        return self.broker.url

    def verifier(self, device_id: str) -> AckVerifier:
        return AckVerifier(device_id, [keys.load_ed25519_public(self.sign_public)])

    # --- registry and store -------------------------------------------------------------

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.config.store_url())
        return self._store

    def register(self, device_id: str, sign_pub: ed25519.Ed25519PublicKey | Path,
                 cert: Path | None = None) -> None:
        from server_stub.deploy import pki as pkimod

        pub = keys.load_ed25519_public(sign_pub) if isinstance(sign_pub, Path) else sign_pub
        add_device(self.store, device_id, pub, ca=self.pki.load_ca(),
                   cert=pkimod.load_cert(cert) if cert else None)

    def revoke(self, device_id: str) -> None:
        revoke_device(self.store, device_id)

    def stored_count(self) -> int:
        return self.store.count_records()

    def stored_ids(self) -> set[uuid.UUID]:
        return self.store.record_ids()

    def refusal_count(self) -> int:
        return self.store.count_refusals()

    # --- lifecycle ----------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> None:
        if self.mode == "thread":
            self.running = build_server(self.config, fault=self.fault, https=self.https, mqtt=self.mqtt)
            self.running.start(timeout)
            if not self.running.wait_ready(timeout):
                raise RuntimeError("MQTT worker(s) not subscribed")
            return
        env = dict(os.environ)
        env.pop("FIELDKIT_SERVER_FAULT", None)
        if self.fault:
            env["FIELDKIT_SERVER_FAULT"] = self.fault
        args = [sys.executable, "-m", "server_stub.cli", "serve", "--config", str(self.config_path)]
        args += [] if self.https else ["--no-https"]
        args += [] if self.mqtt else ["--no-mqtt"]
        start_at = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while READY_LINE not in self.log_text()[start_at:]:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready:\n{self.log_text()[-3000:]}")
            time.sleep(0.05)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_exit(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        rc = self.proc.wait(timeout)
        self.proc = None
        return rc

    def stop(self) -> None:
        if self.running is not None:
            self.running.stop()
            self.running = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            self.proc = None

    def kill(self) -> None:
        assert self.mode == "process" and self.proc is not None, "kill() needs mode='process'"
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait(10)
        self.proc = None

    def close(self) -> None:
        self.stop()
        if self._store is not None:
            self._store.close()
            self._store = None


@dataclass
class TestDevice:
    """A device as the server sees it: client cert (from the PKI), Ed25519 key, Sealer."""

    __test__ = False

    identity: Identity
    signing_key: ed25519.Ed25519PrivateKey
    sealer: Sealer

    @property
    def id(self) -> str:
        return self.identity.name

    @classmethod
    def create(cls, identity: Identity, server: IngestServer, *, register: bool = True) -> TestDevice:
        key = ed25519.Ed25519PrivateKey.generate()
        dev = cls(identity, key, Sealer(identity.name, key, keys.load_seal_public(server.seal_public)))
        if register:
            server.register(identity.name, key.public_key(), identity.cert)
        return dev

    def seal(self, seed: int = 0) -> SealedEnvelope:
        rec = replace(tiny_record(self.id, seed=seed, image_bytes=400), folio=f"TST-{seed:05d}")
        return self.sealer.seal(rec)

    def post(self, server: IngestServer, data: bytes, *, identity: Identity | None = None,
             content_type: str = "application/cbor") -> requests.Response:
        ident = identity or self.identity
        return requests.post(f"{server.https_url}/v1/records", data=data, timeout=15,
                             cert=(str(ident.cert), str(ident.key)), verify=str(server.ca_cert),
                             headers={"Content-Type": content_type})


def check_ack(server: IngestServer, device_id: str, ack_bytes: bytes, sealed: SealedEnvelope) -> Ack:
    """Verify like the device does: signature, device, record, envelope hash, folio."""
    ack = server.verifier(device_id).verify(ack_bytes)
    assert ack.record_id == sealed.header.record_id
    assert ack.envelope_sha256 == sealed.sha256
    assert ack.folio == sealed.header.folio
    return ack


def with_dashboard(server: IngestServer, dashboard: str = "", rest: str = "") -> int:
    """Turn the dashboard on in a server's config before it starts (`dashboard`: more keys of
    its section, `rest`: more sections); the dashboard's port."""
    port = free_port()
    server.config_path.write_text(server.config_path.read_text()
                                  + f"[dashboard]\nenabled = true\nport = {port}\n{dashboard}" + rest)
    server.config = load_config(server.config_path)
    return port
