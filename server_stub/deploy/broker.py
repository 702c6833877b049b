"""The project's Mosquitto: config, ACL, and a process wrapper for tests and the demo.

The broker authenticates every client by its TLS certificate: the CN becomes
the MQTT username and the client id, and `pattern` ACLs on `%u` keep each
device inside `fieldkit/v1/devices/<its id>/`. Server identities
(`server:<role>` CNs) get explicit `user` blocks that read all records and
status and write all acks and commands.

`render_config` / `render_acl` are plain functions so `fieldkit-server init`
can write a production config with the same rules the tests exercise.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from server_stub.deploy.file_modes import replace_keeping_access
from sync.wire import topics
from sync.wire.envelope import MAX_ENVELOPE_BYTES

# The largest packet the broker takes: the largest legal envelope plus room for the PUBLISH
# header, the topic and MQTT v5 properties. The ingest workers drop (and count) anything
# between MAX_ENVELOPE_BYTES and this.
MAX_PACKET_BYTES = MAX_ENVELOPE_BYTES + 64 * 1024


def ingest_share_topic(group: str = "ingest") -> str:
    """The server's shared subscription for records.

    Mosquitto 2.0's acl_file does not check SUBSCRIBE at all (it grants every
    filter and applies `read` rules only when delivering). A device that joins
    the server's share group is dealt its turn of the records and they are
    dropped at delivery, so a production deployment should use a random group
    name kept in the server config (see `new_share_group`).
    """
    try:
        return topics.shared(group, "+", "records")
    except ValueError as e:
        raise BrokerError(str(e)) from None




def new_share_group() -> str:
    return f"ingest-{secrets.token_hex(16)}"


class BrokerError(RuntimeError):
    """Mosquitto could not be found, configured or started."""


@dataclass(frozen=True)
class BrokerTLS:
    cafile: Path
    certfile: Path
    keyfile: Path
    # Revoked device certificates. Mosquitto reads it at start (restart the
    # broker after rewriting it); with a crlfile every client is checked.
    crlfile: Path | None = None


@dataclass(frozen=True)
class BrokerConfig:
    tls: BrokerTLS
    workdir: Path  # conf, acl, log and persistence live here
    port: int
    host: str = "127.0.0.1"
    server_identities: Sequence[str] = ("server:ingest",)
    # None: "root" when we are root, else unset (mosquitto only switches user as root).
    run_as: str | None = field(default_factory=lambda: "root" if os.geteuid() == 0 else None)
    # Acks queued for an offline device; beyond this mosquitto drops them (the
    # device resends and the server re-acks, so it costs traffic, not records).
    max_queued_messages: int = 10000
    # ... and a byte cap per client on top: with records of up to 8 MiB a message count alone
    # would let one session hold tens of GB. Past it the broker drops QoS 1 messages for that
    # client: the device resends what was not acked, so again traffic, not records.
    max_queued_bytes: int = 256 * 1024 * 1024
    # Open connections per listener (devices, workers and probes together). Mosquitto 2 has no
    # per-client connection rate: docs/deploy-server.md gives an nftables rule for that.
    max_connections: int = 5000
    autosave_interval: int = 60  # seconds; a clean stop always saves
    verbose: bool = False  # log every packet (debugging only; large logs)
    # Revoked devices: explicit deny rules, applied by reload() without a restart.
    denied_devices: Sequence[str] = ()
    # Mosquitto writes its pid here (after dropping privileges: the folder must be writable by
    # its user); `[fleet].broker_pid_file` points at it so revocation can SIGHUP the broker.
    pid_file: Path | None = None

    @property
    def conf_path(self) -> Path:
        return self.workdir / "mosquitto.conf"

    @property
    def acl_path(self) -> Path:
        return self.workdir / "acl"

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    @property
    def persistence_dir(self) -> Path:
        return self.workdir / "data"


def render_acl(server_identities: Sequence[str] = ("server:ingest",), denied: Sequence[str] = ()) -> str:
    """ACL text. `pattern` lines apply to every user, servers included.

    `denied`: revoked device ids. Mosquitto checks a user's `deny` rules before any
    grant (pattern ones included) on every publish and delivery, and re-reads the
    file on SIGHUP; it does not re-read its CRL, so revocation is done here."""
    lines = [
        "# Devices: CN = username = %u; write own records/status, read own acks/commands.",
        f"pattern write {topics.device_topic('%u', 'records')}",
        f"pattern write {topics.device_topic('%u', 'status')}",
        f"pattern read {topics.device_topic('%u', 'acks')}",
        f"pattern read {topics.device_topic('%u', 'commands')}",
        "",
    ]
    for ident in server_identities:
        if any(c in ident for c in " \t\n/+#"):
            raise BrokerError(f"invalid server identity for the ACL: {ident!r}")
        # `read` is checked per delivered message on its real topic, so these
        # rules also cover $share/<group>/... subscriptions.
        lines += [
            f"user {ident}",
            f"topic read {topics.device_topic('+', 'records')}",
            f"topic read {topics.device_topic('+', 'status')}",
            f"topic write {topics.device_topic('+', 'acks')}",
            f"topic write {topics.device_topic('+', 'commands')}",
            "",
        ]
    for dev in denied:
        if not dev or any(c in dev for c in " \t\n/+#"):
            raise BrokerError(f"invalid device id for the ACL: {dev!r}")
        lines += [f"user {dev}", "topic deny #", ""]
    return "\n".join(lines)


def render_config(cfg: BrokerConfig) -> str:
    t = cfg.tls
    lines = [
        "# Generated by server_stub.deploy.broker; edit the generator, not this file.",
        "per_listener_settings false",
        "allow_anonymous false",
        f"acl_file {cfg.acl_path}",
        "persistence true",
        # persistence_location is a prefix: the trailing slash matters.
        f"persistence_location {cfg.persistence_dir}/",
        f"autosave_interval {cfg.autosave_interval}",
        f"max_queued_messages {cfg.max_queued_messages}",
        f"max_queued_bytes {cfg.max_queued_bytes}",
        # A client that sends a larger packet is disconnected before the broker stores or
        # forwards it (MQTT v5 clients learn the limit from CONNACK).
        f"max_packet_size {MAX_PACKET_BYTES}",
        # Without it Nagle holds a record's last segment for the peer's delayed ACK (~40 ms a hop).
        "set_tcp_nodelay true",
        f"log_dest file {cfg.log_path}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages true",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
    ]
    if cfg.verbose:
        lines.append("log_type all")
    if cfg.run_as:
        lines.append(f"user {cfg.run_as}")
    if cfg.pid_file is not None:
        lines.append(f"pid_file {cfg.pid_file}")
    lines += [
        "",
        f"listener {cfg.port} {cfg.host}",
        "protocol mqtt",
        f"max_connections {cfg.max_connections}",
        f"cafile {t.cafile}",
        f"certfile {t.certfile}",
        f"keyfile {t.keyfile}",
        "require_certificate true",
        "use_identity_as_username true",
        "use_username_as_clientid true",
    ]
    if t.crlfile is not None:
        lines.append(f"crlfile {t.crlfile}")
    return "\n".join(lines) + "\n"


def write_config(cfg: BrokerConfig) -> Path:
    for p in (cfg.tls.cafile, cfg.tls.certfile, cfg.tls.keyfile):
        if not Path(p).is_file():
            raise BrokerError(f"TLS file missing: {p}")
    # New files and folders private (0600 / 0700, whatever the umask); a rewrite keeps the
    # owner, group and mode `fieldkit-server init` gave them (file_modes: the broker's group).
    cfg.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    cfg.persistence_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    replace_keeping_access(cfg.acl_path, render_acl(cfg.server_identities, cfg.denied_devices).encode())
    replace_keeping_access(cfg.conf_path, render_config(cfg).encode())
    return cfg.conf_path


def find_mosquitto() -> Path:
    for cand in ("/usr/sbin/mosquitto", shutil.which("mosquitto")):
        if cand and os.access(cand, os.X_OK):
            return Path(cand)
    raise BrokerError("mosquitto not found (Debian: apt-get install mosquitto)")


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Broker:
    """A mosquitto process with the project's config.

    `restart()` keeps the port and the persistence directory, so persistent
    sessions and queued QoS 1 messages survive it (mosquitto saves its
    database on SIGTERM; `kill()` skips that, like a crash).
    """

    def __init__(
        self,
        config: BrokerConfig,
        *,
        probe_cert: tuple[Path, Path] | None = None,
        binary: Path | None = None,
    ) -> None:
        self.config = config
        self.binary = binary or find_mosquitto()
        # Client cert+key used to check readiness (a full mutual-TLS handshake).
        self.probe_cert = probe_cert
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(
        cls,
        workdir: Path,
        tls: BrokerTLS,
        *,
        port: int | None = None,
        probe_cert: tuple[Path, Path] | None = None,
        **options: object,
    ) -> Broker:
        """Config on `port`, or a free loopback port when None."""
        host = str(options.pop("host", "127.0.0.1"))
        cfg = BrokerConfig(
            tls=tls,
            workdir=Path(workdir),
            port=port or free_port(host),
            host=host,
            **options,  # type: ignore[arg-type]
        )
        return cls(cfg, probe_cert=probe_cert)

    # --- properties ---------------------------------------------------------

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def port(self) -> int:
        return self.config.port

    @property
    def url(self) -> str:
        return f"mqtts://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.config.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # --- lifecycle ----------------------------------------------------------

    def start(self, timeout: float = 15.0, *, _retries: int = 3) -> None:
        if self.running:
            return
        write_config(self.config)
        stderr = os.fdopen(os.open(self.config.workdir / "mosquitto.stderr",
                                   os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600), "ab")
        self.proc = subprocess.Popen(
            [str(self.binary), "-c", str(self.config.conf_path)],
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            start_new_session=True,  # keep terminal signals (Ctrl-C) to us
        )
        stderr.close()
        try:
            self._wait_ready(timeout)
        except BrokerError:
            self.kill()
            if _retries > 0 and self._port_taken():
                # Lost a race for the port: wait for it to free (a restart must
                # keep its port), then try again.
                time.sleep(0.5)
                self.start(timeout, _retries=_retries - 1)
                return
            raise

    def _port_taken(self) -> bool:
        err = self.config.workdir / "mosquitto.stderr"
        text = self.log_text() + (err.read_text(errors="replace") if err.exists() else "")
        return "Address already in use" in text

    def _probe_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.config.tls.cafile))
        if self.probe_cert:
            ctx.load_cert_chain(str(self.probe_cert[0]), str(self.probe_cert[1]))
        return ctx

    def _wait_ready(self, timeout: float) -> None:
        ctx = self._probe_context()
        deadline = time.monotonic() + timeout
        delay = 0.01
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise BrokerError(f"mosquitto exited with {self.proc.returncode}\n{self._diagnostics()}")
            try:
                with (
                    socket.create_connection((self.host, self.port), timeout=2) as raw,
                    ctx.wrap_socket(raw, server_hostname=self.host) as tls,
                ):
                    tls.do_handshake()
                    return
            except (OSError, ssl.SSLError) as exc:
                last = exc
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
        raise BrokerError(f"mosquitto not ready after {timeout}s ({last})\n{self._diagnostics()}")

    def _diagnostics(self) -> str:
        err = self.config.workdir / "mosquitto.stderr"
        tail = self.log_text().splitlines()[-20:]
        if err.exists():
            tail += err.read_text(errors="replace").splitlines()[-20:]
        return "\n".join(tail)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: mosquitto saves its persistence database and exits."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: a crash; whatever was not autosaved is lost."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.proc = None

    def restart(self, timeout: float = 15.0, *, crash: bool = False) -> None:
        """Same port, same persistence directory."""
        if crash:
            self.kill()
        else:
            self.stop()
        self.start(timeout)

    def reload(self) -> None:
        """SIGHUP: mosquitto re-reads the config and the ACL file."""
        if self.proc is None or self.proc.poll() is not None:
            raise BrokerError("broker not running")
        write_config(self.config)
        self.proc.send_signal(signal.SIGHUP)

    def with_tls(self, tls: BrokerTLS) -> None:
        """Swap TLS files (e.g. add a CRL); takes effect at the next (re)start."""
        self.config = replace(self.config, tls=tls)

    def __enter__(self) -> Broker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.stop()
