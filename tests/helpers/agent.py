"""A provisioned test device for the sync agent: keys, config file, outbox, and ways to
run the agent as a thread or as a `fieldkit-sync run` process (real TLS, real broker,
the real ingestion server from tests/helpers/server.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from server_stub.deploy import keys as server_keys
from sync.agent.agent import SyncAgent
from sync.agent.settings import AgentOptions, AgentSettings
from sync.device.config import load_config
from sync.outbox.keyfile import create_key_file, load_key
from sync.outbox.outbox import Outbox
from sync.wire.sealing import Sealer
from tests.helpers.mqtt import Identity
from tests.helpers.outbox import tiny_record
from tests.helpers.server import IngestServer

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "device.example.toml"
BIN = Path(sys.executable).parent
# Fast enough for tests, same code paths as the defaults.
FAST = AgentOptions(backoff_initial_s=0.2, backoff_cap_s=1.0, ack_timeout_s=3.0, poll_s=0.2,
                    heartbeat_s=5.0, netwatch_s=0.5, connect_timeout_s=5.0, http_read_timeout_s=10.0)


def _q(p: Path | str) -> str:
    return '"' + str(p).replace("\\", "\\\\").replace('"', '\\"') + '"'


def wait_until(pred: Callable[[], bool], timeout: float = 30.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


@dataclass
class AgentDevice:
    """Everything provisioning would leave on a device, in ``root``."""

    __test__ = False

    identity: Identity
    root: Path
    config_path: Path
    settings: AgentSettings
    sealer: Sealer
    signing_key: ed25519.Ed25519PrivateKey
    agents: list[SyncAgent] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _seed: int = 0

    @property
    def id(self) -> str:
        return self.identity.name

    def outbox(self) -> Outbox:
        return Outbox.open(self.settings.outbox_path, load_key(self.settings.outbox_key))

    def put(self, n: int, image_bytes: int = 1500) -> list[uuid.UUID]:
        """Save n records as the kiosk would (own connection, as another process would)."""
        ids = []
        with self.outbox() as ob:
            for _ in range(n):
                self._seed += 1
                ids.append(ob.put(tiny_record(self.id, seed=self._seed, image_bytes=image_bytes),
                                  self.sealer).record_id)
        return ids

    def unacked(self) -> int:
        with self.outbox() as ob:
            return ob.counts().unacknowledged

    def agent(self, options: AgentOptions = FAST, start: bool = True) -> SyncAgent:
        a = SyncAgent(self.settings, options)
        self.agents.append(a)
        if start:
            a.start()
        return a

    def spawn(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """`fieldkit-sync run` as its own process; its log goes to root/agent.log."""
        log = (self.root / "agent.log").open("ab")
        p = subprocess.Popen([str(BIN / "fieldkit-sync"), "--config", str(self.config_path), "run", *args],
                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=env or dict(os.environ))
        log.close()
        self.procs.append(p)
        return p

    def log_text(self) -> str:
        p = self.root / "agent.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def close(self) -> None:
        for a in self.agents:
            a.stop()
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait(10)


def make_device(root: Path, server: IngestServer, identity: Identity, *, transport: str = "auto",
                mqtt_url: str | None = None, https_url: str | None = None, register: bool = True,
                folio_prefix: str = "7KQ2") -> AgentDevice:
    """Provision a device in ``root`` for ``server`` (and register its key there)."""
    root.mkdir(parents=True, exist_ok=True)
    kdir = root / "keys"
    kdir.mkdir(exist_ok=True)
    sign = ed25519.Ed25519PrivateKey.generate()
    sign_path = kdir / "device-sign.key"
    sign_path.write_bytes(sign.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    sign_path.chmod(0o600)
    key = create_key_file(kdir / "outbox.key")
    mqtt = server.mqtt_url if mqtt_url is None else mqtt_url
    https = server.https_url if https_url is None else https_url
    lines = [
        "[device]", f'id = "{identity.name}"', f'folio_prefix = "{folio_prefix}"', 'data_dir = "data"',
        "[server]", f"https_url = {_q(https)}", f"mqtt_url = {_q(mqtt)}", f'transport = "{transport}"',
        "[keys]", f"ca = {_q(server.ca_cert)}", f"client_cert = {_q(identity.cert)}",
        f"client_key = {_q(identity.key)}", f"signing_key = {_q(sign_path)}",
        f"outbox_key = {_q(kdir / 'outbox.key')}", f"server_seal_public = {_q(server.seal_public)}",
        f"server_sign_public = {_q(server.sign_public)}", "",
    ]
    example = EXAMPLE.read_text()
    text = "\n".join(lines) + example[example.index("[[processes]]"):]
    cfg_path = root / "device.toml"
    cfg_path.write_text(text)
    cfg = load_config(cfg_path)
    cfg.device.data_dir.mkdir(exist_ok=True)
    settings = AgentSettings.from_config(cfg)
    Outbox.create(settings.outbox_path, key, identity.name, folio_prefix).close()
    sealer = Sealer(identity.name, sign, server_keys.load_seal_public(server.seal_public))
    if register:
        server.register(identity.name, sign.public_key(), identity.cert)
    return AgentDevice(identity, root, cfg_path, settings, sealer, sign)


def all_arrived_once(dev: AgentDevice, server: IngestServer, ids: list[uuid.UUID],
                     timeout: float = 60.0) -> bool:
    """Every record stored at the server, none twice, and the device's outbox empty."""
    ok = wait_until(lambda: dev.unacked() == 0, timeout)
    stored = server.stored_ids()
    assert set(ids) <= stored, f"missing at server: {len(set(ids) - stored)}"
    assert server.stored_count() == len(stored)  # the store's count agrees: no double rows
    return ok
