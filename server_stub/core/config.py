"""Server configuration: one TOML file, typed, strict (unknown keys refused).

Relative paths (and a relative ``sqlite:`` store path) are taken relative to
the config file's folder, so a deployment directory made by
``fieldkit-server init`` can be moved as a whole. Every problem becomes a
``ServerConfigError`` whose str() is one line naming file and field; the CLI
prints it and exits with status 2.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from server_stub.deploy import broker as brokermod
from server_stub.deploy import pki
from sync.common import periods
from sync.common.typed_load import FieldError, FileFieldError, parse_toml, read_text_file


class ServerConfigError(FileFieldError):
    """`<file>: <field>: <what>` in one line."""


def _check(cond: bool, name: str, message: str) -> None:
    if not cond:
        raise FieldError(name, message)


@dataclass(frozen=True)
class TLSSection:
    ca_cert: Path
    server_cert: Path  # HTTPS listener certificate (the broker may share it)
    server_key: Path
    ca_key: Path | None = None  # needed only to issue device certificates


@dataclass(frozen=True)
class KeysSection:
    # First = current sealing key (its public half is provisioned to devices);
    # older ones stay so records sealed before a key change still open.
    seal_keys: list[Path]
    seal_public: Path
    sign_key: Path
    sign_public: Path

    def __post_init__(self) -> None:
        _check(bool(self.seal_keys), "seal_keys", "hace falta al menos una clave de sellado")


@dataclass(frozen=True)
class StoreSection:
    # "sqlite:<path>" (relative to the config's folder) or "postgresql://...".
    url: str = "sqlite:data/fieldkit.db"

    def __post_init__(self) -> None:
        ok = self.url.startswith(("sqlite:", "postgresql://", "postgres://"))
        _check(ok, "url", f"{self.url!r}: se esperaba 'sqlite:<ruta>' o 'postgresql://...'")


@dataclass(frozen=True)
class HttpsSection:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8443

    def __post_init__(self) -> None:
        _check(0 <= self.port < 65536, "port", f"{self.port} no es un puerto")


@dataclass(frozen=True)
class MqttIdentity:
    name: str  # certificate CN, "server:ingest-1"
    cert: Path
    key: Path

    def __post_init__(self) -> None:
        _check(bool(pki.SERVER_ID_RE.fullmatch(self.name)), "name",
               f"{self.name!r} no es una identidad de servidor ('server:<rol>')")


@dataclass(frozen=True)
class MqttSection:
    host: str = "127.0.0.1"
    port: int = 8883
    enabled: bool = True
    # Secret: on Mosquitto 2.0 a device that knows it could join the group.
    share_group: str = ""
    identities: list[MqttIdentity] = field(default_factory=list)
    session_expiry_s: int = 7 * 24 * 3600
    # Records stored per transaction (one fsync each); 1 = commit every record on its own.
    max_batch: int = 64

    def __post_init__(self) -> None:
        _check(0 < self.port < 65536, "port", f"{self.port} no es un puerto")
        _check(1 <= self.max_batch <= 1000, "max_batch", "debe estar entre 1 y 1000")
        if self.enabled:
            _check(bool(self.share_group), "share_group", "falta el grupo compartido (secreto)")
            _check(bool(self.identities), "identities", "hace falta al menos una identidad MQTT")
        try:
            if self.share_group:
                brokermod.ingest_share_topic(self.share_group)
        except brokermod.BrokerError as e:
            raise FieldError("share_group", str(e)) from None
        names = [i.name for i in self.identities]
        _check(len(names) == len(set(names)), "identities",
               "identidades repetidas (el broker admite una conexión por CN)")
        _check(self.session_expiry_s > 0, "session_expiry_s", "debe ser mayor que 0")


@dataclass(frozen=True)
class VerifySection:
    # Classify stored records against the roll in a background thread.
    enabled: bool = True
    interval_s: float = 0.5
    batch: int = 200

    def __post_init__(self) -> None:
        _check(self.interval_s > 0, "interval_s", "debe ser mayor que 0")
        _check(self.batch > 0, "batch", "debe ser mayor que 0")


@dataclass(frozen=True)
class AcuseSection:
    # Acuse de recibo by e-mail: "outbox" (.eml files in outbox_dir), "smtp" (relay), "off".
    mode: str = "outbox"
    outbox_dir: Path = Path("data/acuses")
    sender: str = "acuses@fieldkit.invalid"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_user: str = ""
    smtp_password: str = ""
    interval_s: float = 1.0
    retry_min_s: float = 30.0
    retry_max_s: float = 3600.0

    def __post_init__(self) -> None:
        _check(self.mode in ("outbox", "smtp", "off"), "mode", f"{self.mode!r}: 'outbox', 'smtp' u 'off'")
        _check(0 < self.smtp_port < 65536, "smtp_port", f"{self.smtp_port} no es un puerto")
        _check(0 < self.retry_min_s <= self.retry_max_s, "retry_min_s", "0 < retry_min_s <= retry_max_s")
        _check("@" in self.sender, "sender", "no es una dirección de correo")


@dataclass(frozen=True)
class DashboardSection:
    # Coordinators' web dashboard: its own HTTPS listener, no client certificate, password login.
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8444
    # Reverse proxies whose X-Forwarded-For names the client (addresses or networks); from any
    # other peer the header is ignored and the connection's address is the client's.
    trusted_proxies: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check(0 <= self.port < 65536, "port", f"{self.port} no es un puerto")
        for p in self.trusted_proxies:
            try:
                ipaddress.ip_network(p, strict=False)
            except ValueError:
                raise FieldError("trusted_proxies", f"{p!r} no es una dirección ni una red IP") from None


@dataclass(frozen=True)
class FleetSection:
    """Enrollment and fleet (docs/server.md, "Fleet"). The enrollment listener runs only
    when `enroll_port` is set: it has no client certificates, so it is opt-in."""

    enroll_host: str = "127.0.0.1"
    enroll_port: int | None = None
    enroll_public_url: str = ""  # put in codes/QRs; default https://<enroll_host>:<enroll_port>
    device_https_url: str = ""  # told to devices; default https://<https.host>:<https.port>
    device_mqtt_url: str = ""  # default mqtts://<mqtt.host>:<mqtt.port> (empty if MQTT is off)
    code_ttl_s: int = 24 * 3600
    broker_acl: Path | None = None  # the broker's acl_file: revocation writes deny rules here
    broker_pid_file: Path | None = None  # mosquitto's pid_file: revocation sends it SIGHUP
    broker_reload_command: str = ""  # alternative to the pid file, e.g. "systemctl reload mosquitto"

    def __post_init__(self) -> None:
        _check(self.enroll_port is None or 0 <= self.enroll_port < 65536, "enroll_port",
               f"{self.enroll_port} no es un puerto")
        _check(self.code_ttl_s > 0, "code_ttl_s", "debe ser mayor que 0")


@dataclass(frozen=True)
class DeploymentSection:
    # Dates of periods are calendar days here, and every time shown is local here; a process
    # may name its own zone (`process define --timezone`).
    timezone: str = periods.DEFAULT_TZ

    def __post_init__(self) -> None:
        periods.zone_field(self.timezone)

    def zone(self) -> ZoneInfo:
        return periods.zone(self.timezone)


@dataclass(frozen=True)
class AlertsSection:
    """The overview's alerts banner and the coordinators' e-mail digest of the same alerts."""

    silent_hours: float = 6.0      # no heartbeat for this long
    held_hours: float = 24.0       # an unsent record on a device this old
    battery_percent: float = 15.0  # last reported battery at or below this
    window_hours: float = 24.0     # a sending window closing this soon with records on devices
    digest_to: list[str] = field(default_factory=list)  # empty: no digest
    digest_every_hours: float = 24.0

    def __post_init__(self) -> None:
        for name in ("silent_hours", "held_hours", "window_hours", "digest_every_hours"):
            _check(getattr(self, name) > 0, name, "debe ser mayor que 0")
        _check(0 <= self.battery_percent <= 100, "battery_percent", "entre 0 y 100")
        for a in self.digest_to:
            _check("@" in a and " " not in a.strip(), "digest_to", f"{a!r} no es una dirección de correo")


@dataclass(frozen=True)
class SelfServiceSection:
    """Activation codes for self-service devices (server_stub/fleet/activations.py)."""

    code_ttl_hours: int = 24        # a code is good for this long after it was asked for
    max_per_email_day: int = 3      # codes per e-mail address in 24 h
    max_per_cic_day: int = 3        # codes per credential (CIC) in 24 h
    max_per_device_hour: int = 30   # requests per device in an hour
    max_wrong: int = 5              # wrong codes typed on a device before its pending code dies
    check_roll: bool = False        # refuse a CIC not in the loaded roll

    def __post_init__(self) -> None:
        _check(1 <= self.code_ttl_hours <= 24 * 7, "code_ttl_hours", "entre 1 y 168")
        for name in ("max_per_email_day", "max_per_cic_day", "max_per_device_hour", "max_wrong"):
            _check(getattr(self, name) >= 1, name, "debe ser 1 o más")


@dataclass(frozen=True)
class ServerConfig:
    tls: TLSSection
    keys: KeysSection
    deployment: DeploymentSection = field(default_factory=DeploymentSection)
    store: StoreSection = field(default_factory=StoreSection)
    https: HttpsSection = field(default_factory=HttpsSection)
    mqtt: MqttSection = field(default_factory=MqttSection)
    verify: VerifySection = field(default_factory=VerifySection)
    acuse: AcuseSection = field(default_factory=AcuseSection)
    dashboard: DashboardSection = field(default_factory=DashboardSection)
    fleet: FleetSection = field(default_factory=FleetSection)  # enrollment, revocation
    alerts: AlertsSection = field(default_factory=AlertsSection)
    self_service: SelfServiceSection = field(default_factory=SelfServiceSection)
    source: Path = Path()

    def __post_init__(self) -> None:
        if self.alerts.digest_to and self.acuse.mode == "off":
            raise FieldError("alerts.digest_to", "el resumen de avisos sale por el correo de los acuses: "
                                                 "ponga [acuse] mode = \"outbox\" o \"smtp\"")

    def store_url(self) -> str:
        """The store URL with a relative sqlite path made absolute."""
        url = self.store.url
        if not url.startswith("sqlite:"):
            return url
        p = Path(url.removeprefix("sqlite:").removeprefix("//"))
        return f"sqlite:{p if p.is_absolute() else self.source.parent.resolve() / p}"

    def device_https_url(self) -> str:
        if self.fleet.device_https_url:
            return self.fleet.device_https_url
        return f"https://{_host(self.https.host)}:{self.https.port}" if self.https.enabled else ""

    def device_mqtt_url(self) -> str:
        if self.fleet.device_mqtt_url:
            return self.fleet.device_mqtt_url
        return f"mqtts://{_host(self.mqtt.host)}:{self.mqtt.port}" if self.mqtt.enabled else ""

    def enroll_url(self, port: int | None = None) -> str:
        if self.fleet.enroll_public_url:
            return self.fleet.enroll_public_url
        return f"https://{_host(self.fleet.enroll_host)}:{port or self.fleet.enroll_port}"


def _host(h: str) -> str:
    return f"[{h}]" if ":" in h else h


def _resolve(cfg: ServerConfig, base: Path) -> ServerConfig:
    def fix(p: Path) -> Path:
        return p if p.is_absolute() else base / p

    def fixed_paths(section: Any) -> dict[str, Any]:
        """The section's Path fields made absolute, as keyword arguments for `replace`."""
        return {f.name: fix(v) for f in fields(section) if isinstance(v := getattr(section, f.name), Path)}

    tls = replace(cfg.tls, **fixed_paths(cfg.tls))
    keys = replace(cfg.keys, seal_keys=[fix(p) for p in cfg.keys.seal_keys],
                   seal_public=fix(cfg.keys.seal_public), sign_key=fix(cfg.keys.sign_key),
                   sign_public=fix(cfg.keys.sign_public))
    idents = [replace(i, cert=fix(i.cert), key=fix(i.key)) for i in cfg.mqtt.identities]
    return replace(cfg, tls=tls, keys=keys, mqtt=replace(cfg.mqtt, identities=idents),
                   acuse=replace(cfg.acuse, outbox_dir=fix(cfg.acuse.outbox_dir)),
                   fleet=replace(cfg.fleet, **fixed_paths(cfg.fleet)))


def parse_config(text: str, path: Path | str = "<texto>") -> ServerConfig:
    path = Path(path)
    return _resolve(parse_toml(ServerConfig, text, path, ServerConfigError), path.parent.resolve())


def load_config(path: Path | str) -> ServerConfig:
    path = Path(path)
    return parse_config(read_text_file(path, ServerConfigError), path)
