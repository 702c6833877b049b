"""`fieldkit-server init DIR`: a new deployment directory.

Refuses to touch a directory that already holds a deployment (a second CA or
sealing key would orphan every provisioned device); to start over, use a new
directory. Layout (all paths in server.toml are relative to DIR):

    server.toml                  the server config
    pki/ca.crt, ca.key           deployment CA (key 0600)
    pki/server.crt, server.key   TLS certificate of the HTTPS listener and the broker
    pki/server_ingest-N.crt/key  MQTT identities server:ingest-1..N
    keys/server-seal.key/.pub    HPKE sealing key pair (.pub goes to devices)
    keys/server-sign.key/.pub    Ed25519 ack/command signing key (.pub goes to devices)
    mosquitto/mosquitto.conf,acl broker config with the same ACL the tests use; its pid_file
                                 (mosquitto/mosquitto.pid) and acl are what [fleet] revocation uses
    data/                        the SQLite store (default)

Every file is 0600 and every folder 0700, whatever the caller's umask, except what Mosquitto
reads after dropping to its own user when init runs as root (its config and ACL, the CA and
server certificates and the server key: group of that user, 0640) and what it writes (log, pid
file, persistence folder: its own); see `server_stub.deploy.file_modes`.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from server_stub.deploy import broker as brokermod
from server_stub.deploy import file_modes, keys, pki
from sync.wire.envelope import suite_by_name
from sync.wire.envelope_open import ServerPrivateKey

CONFIG_NAME = "server.toml"
BROKER_DIR = "mosquitto"
log = logging.getLogger(__name__)


class InitError(RuntimeError):
    """The directory already holds a deployment, or an option is invalid."""


@dataclass(frozen=True)
class InitOptions:
    hostnames: Sequence[str] = ("localhost",)
    ips: Sequence[str] = ("127.0.0.1", "::1")
    suite: str = "mlkem768-x25519"
    workers: int = 1
    https_host: str = "127.0.0.1"
    https_port: int = 8443
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 8883  # the devices' listener
    # The ingest workers' own listener, on loopback with no connection cap (BrokerConfig.server_port).
    mqtt_server_port: int = 8884
    store_url: str = "sqlite:data/fieldkit.db"
    # Enrollment listener; None = off. Not 8444: the dashboard's default port.
    enroll_host: str = "127.0.0.1"
    enroll_port: int | None = 8445
    # Mosquitto's `user` line: None = its default (drops to "mosquitto" when started as root).
    broker_user: str | None = None


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _q(s: str | Path) -> str:
    return json.dumps(str(s))  # a JSON string is a valid TOML basic string


def render_config(o: InitOptions, share_group: str, identities: Sequence[str]) -> str:
    lines = [
        "# fieldkit-server config, made by `fieldkit-server init`. Paths are relative to this file.",
        "",
        "[deployment]",
        "# Period dates are calendar days in this zone; times are shown in it. A process may",
        "# name its own (`process define --timezone America/Tijuana`).",
        f"timezone = {_q('America/Mexico_City')}",
        "",
        "[tls]",
        f"ca_cert = {_q('pki/ca.crt')}",
        f"ca_key = {_q('pki/ca.key')}",
        f"server_cert = {_q('pki/server.crt')}",
        f"server_key = {_q('pki/server.key')}",
        "",
        "[keys]",
        "# First = current; keep old sealing keys here after a change so pending records still open.",
        f"seal_keys = [{_q('keys/server-seal.key')}]",
        f"seal_public = {_q('keys/server-seal.pub')}",
        f"sign_key = {_q('keys/server-sign.key')}",
        f"sign_public = {_q('keys/server-sign.pub')}",
        "",
        "[store]",
        f"url = {_q(o.store_url)}",
        "",
        "[https]",
        f"host = {_q(o.https_host)}",
        f"port = {o.https_port}",
        "",
        "[mqtt]",
        "# The workers' own listener (loopback): devices connect to [fleet] device_mqtt_url.",
        f"host = {_q('127.0.0.1')}",
        f"port = {o.mqtt_server_port}",
        "# Secret: a device that knows it could join the group on Mosquitto 2.0.",
        f"share_group = {_q(share_group)}",
        "",
        "[fleet]",
        f"device_mqtt_url = {_q(f'mqtts://{_url_host(o.mqtt_host)}:{o.mqtt_port}')}",
        "# Enrollment listener (no client certificates); comment enroll_port out to turn it off.",
        f"enroll_host = {_q(o.enroll_host)}",
        *([f"enroll_port = {o.enroll_port}"] if o.enroll_port is not None else []),
        "# Revocation rewrites the broker's ACL with deny rules and SIGHUPs the pid in broker_pid_file.",
        f"broker_acl = {_q(f'{BROKER_DIR}/acl')}",
        f"broker_pid_file = {_q(f'{BROKER_DIR}/mosquitto.pid')}",
    ]
    for name in identities:
        stem = name.replace(":", "_")
        lines += ["", "[[mqtt.identities]]", f"name = {_q(name)}",
                  f"cert = {_q(f'pki/{stem}.crt')}", f"key = {_q(f'pki/{stem}.key')}"]
    return "\n".join(lines) + "\n"


def init_deployment(root: Path, o: InitOptions = InitOptions()) -> Path:
    """Create everything; returns the config path."""
    cfg_path = root / CONFIG_NAME
    for p in (cfg_path, root / "pki" / "ca.key", root / "keys" / "server-seal.key"):
        if p.exists():
            raise InitError(f"{p} already exists: {root} holds a deployment; refusing to overwrite it")
    if not 1 <= o.workers <= 64:
        raise InitError(f"--workers must be 1..64, not {o.workers}")
    ports = [o.https_port, o.mqtt_port, o.mqtt_server_port,
             *([o.enroll_port] if o.enroll_port is not None else [])]
    if not all(0 < p < 65536 for p in ports) or len(set(ports)) != len(ports):
        raise InitError(f"ports must be distinct and in 1..65535 (https, mqtt, mqtt-server, enroll: {ports})")
    try:
        suite = suite_by_name(o.suite)
    except ValueError as e:
        raise InitError(str(e)) from None
    try:
        shared_with = file_modes.broker_user(o.broker_user)
    except KeyError:
        # Mosquitto started as root would refuse to start too; the broker may live elsewhere.
        log.warning("user %r does not exist: the broker's files stay 0600 (install mosquitto, "
                    "or pass --broker-user)", o.broker_user or file_modes.BROKER_DEFAULT_USER)
        shared_with = None
    root.mkdir(mode=file_modes.PRIVATE_DIR, parents=True, exist_ok=True)
    pki_dir, key_dir = root / "pki", root / "keys"

    # Name constraints: the CA can vouch only for this deployment's own names.
    extra = [ipaddress.ip_network(i) for i in o.ips
             if not any(ipaddress.ip_address(i) in n for n in pki.LOOPBACK_NETS)]
    ca = pki.make_ca(permitted_dns=list(o.hostnames), permitted_ips=[*pki.LOOPBACK_NETS, *extra])
    pki.write_issued(ca, pki_dir / "ca.crt", pki_dir / "ca.key")
    pki.write_issued(pki.issue_server_cert(ca, list(o.hostnames), list(o.ips)),
                     pki_dir / "server.crt", pki_dir / "server.key")
    identities = [f"server:ingest-{i}" for i in range(1, o.workers + 1)]
    for name in identities:
        stem = name.replace(":", "_")
        pki.write_issued(pki.issue_server_identity(ca, name),
                         pki_dir / f"{stem}.crt", pki_dir / f"{stem}.key")

    keys.write_seal_keys(key_dir / "server-seal.key", key_dir / "server-seal.pub",
                         ServerPrivateKey.generate(suite))
    keys.write_sign_keys(key_dir / "server-sign.key", key_dir / "server-sign.pub",
                         ed25519.Ed25519PrivateKey.generate())

    # The broker config the deployment runs Mosquitto with (same ACL as the tests).
    pid_file = root / BROKER_DIR / "mosquitto.pid"
    bcfg = brokermod.BrokerConfig(
        tls=brokermod.BrokerTLS(pki_dir / "ca.crt", pki_dir / "server.crt", pki_dir / "server.key"),
        workdir=root / BROKER_DIR, port=o.mqtt_port, host=o.mqtt_host, server_identities=identities,
        server_port=o.mqtt_server_port,
        run_as=o.broker_user, pid_file=pid_file)
    brokermod.write_config(bcfg)

    (root / "data").mkdir(mode=file_modes.PRIVATE_DIR, exist_ok=True)
    file_modes.write_private_text(cfg_path, render_config(o, brokermod.new_share_group(), identities))
    # Modes last, over the whole tree: whatever the writers above did under the caller's umask.
    file_modes.secure_deployment(root, shared_with, file_modes.BrokerPaths(
        reads=[bcfg.conf_path, bcfg.acl_path, bcfg.tls.cafile, bcfg.tls.certfile, bcfg.tls.keyfile],
        writes=[bcfg.log_path, pid_file], owns=[bcfg.persistence_dir]))
    if shared_with is not None:
        for line in file_modes.unreachable_by(root, shared_with):
            log.warning("%s", line)
    return cfg_path
