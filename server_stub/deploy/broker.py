"""The project's Mosquitto: its config and ACL (the process wrapper: broker_process.py).

The broker authenticates every client by its TLS certificate: the CN becomes
the MQTT username and the client id, and `pattern` ACLs on `%u` keep each
device inside `fieldkit/v1/devices/<its id>/`. Server identities
(`server:<role>` CNs) get explicit `user` blocks that read all records and
status and write all acks and commands.

`render_config` / `render_acl` are plain functions so `fieldkit-server init`
can write a production config with the same rules the tests exercise.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
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
    # Open connections on the devices' listener. Mosquitto 2 has no per-client connection rate:
    # docs/deploy-server.md gives an nftables rule for that.
    max_connections: int = 5000
    # A listener of its own for the server's workers (loopback, no connection cap), so that
    # idle sockets filling the devices' listener never keep ingest out. None: one listener.
    server_port: int | None = None
    server_host: str = "127.0.0.1"
    # Seconds between saves of the in-memory database (sessions, subscriptions, queued acks
    # and records, retained statuses); a clean stop always saves, a crash (kill -9, power)
    # loses what came since the last save. Mosquitto rewrites and fsyncs the whole file each
    # time, blocking its loop meanwhile, once the interval has fully passed (so every ~6 s),
    # idle or not: ~0.5 KB per device, so 5,000 devices write ~40 GB a day, well within a
    # server SSD's endurance (this is the server, not the Pi's SD card). The file grows while
    # the server's workers are away and records queue for them (up to max_queued_bytes each; a
    # 200 MiB save took 0.3-0.8 s here); raise this if such outages are long. Not
    # autosave_on_changes: it counts every delivered QoS 1 message, connect, subscription
    # and retained heartbeat, so a small count would rewrite the file many times a second
    # under a burst of records. docs/deploy-server.md, "Broker crashes".
    autosave_interval: int = 5
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
        "# Devices: CN = username = %u; write own records/status/queries,"
        " read own acks/commands/answers.",
        f"pattern write {topics.device_topic('%u', 'records')}",
        f"pattern write {topics.device_topic('%u', 'status')}",
        f"pattern write {topics.device_topic('%u', 'query')}",
        f"pattern read {topics.device_topic('%u', 'acks')}",
        f"pattern read {topics.device_topic('%u', 'commands')}",
        f"pattern read {topics.device_topic('%u', 'answer')}",
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
            f"topic read {topics.device_topic('+', 'query')}",
            f"topic write {topics.device_topic('+', 'acks')}",
            f"topic write {topics.device_topic('+', 'commands')}",
            f"topic write {topics.device_topic('+', 'answer')}",
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
        "autosave_on_changes false",  # by time, not by count: see BrokerConfig.autosave_interval
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
    lines += _listener(cfg.port, cfg.host, t, cfg.max_connections)
    if cfg.server_port is not None:
        lines += _listener(cfg.server_port, cfg.server_host, t, None)
    return "\n".join(lines) + "\n"


def _listener(port: int, host: str, t: BrokerTLS, max_connections: int | None) -> list[str]:
    """One TLS listener; with per_listener_settings false the ACL and limits above apply to all,
    `max_connections` to this one."""
    lines = ["", f"listener {port} {host}", "protocol mqtt"]
    if max_connections is not None:
        lines.append(f"max_connections {max_connections}")
    lines += [f"cafile {t.cafile}", f"certfile {t.certfile}", f"keyfile {t.keyfile}",
              "require_certificate true", "use_identity_as_username true", "use_username_as_clientid true"]
    if t.crlfile is not None:
        lines.append(f"crlfile {t.crlfile}")
    return lines


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
