"""Device configuration: one TOML file, typed and validated.

Default path `/etc/fieldkit/device.toml`, overridden by `FIELDKIT_CONFIG` and
then by `--config`. Relative paths inside the file are taken relative to the
file's own folder, so a config and its keys can travel together.
Every problem becomes a ConfigError whose str() is one line naming the file
and the field; the CLIs print it and exit with status 2.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from sync.common import periods
from sync.common.typed_load import FieldError, FileFieldError, parse_toml, read_text_file

DEFAULT_CONFIG_PATH = Path("/etc/fieldkit/device.toml")
CONFIG_ENV = "FIELDKIT_CONFIG"

ProcessKind = Literal[
    "candidatura_independiente",
    "consulta_popular",
    "iniciativa_ciudadana",
    "revocacion_mandato",
    "organizacion_politica",
    "partido_politico",
    "agrupacion_politica",
]
ScopeLevel = Literal["nacional", "entidad", "distrito_federal", "distrito_local", "municipio"]
Transport = Literal["auto", "mqtt", "https"]
SealSuite = Literal["mlkem768-x25519", "x25519"]

_DEVICE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")
_FOLIO_PREFIX = re.compile(r"^[A-Z0-9]{2,6}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ConfigError(FileFieldError):
    """A config problem, as one line: `<file>: <field>: <what>`."""


def _check(cond: bool, field_name: str, message: str) -> None:
    if not cond:
        raise FieldError(field_name, message)


def outbox_file(data_dir: Path) -> Path:
    """The outbox inside a data dir: the one place that names the file (kiosk, agent, enrollment)."""
    return data_dir / "outbox.db"


@dataclass(frozen=True)
class DeviceSection:
    """Who the device is and where it keeps its data."""

    id: str
    folio_prefix: str
    data_dir: Path = Path("/var/lib/fieldkit")
    name: str = ""

    def __post_init__(self) -> None:
        _check(bool(_DEVICE_ID.match(self.id)), "id",
               f"{self.id!r} no es un id de dispositivo válido (minúsculas, dígitos y '-', 3-63)")
        _check(bool(_FOLIO_PREFIX.match(self.folio_prefix)), "folio_prefix",
               f"{self.folio_prefix!r} no es un prefijo de folio válido (2-6 mayúsculas o dígitos)")

    @property
    def outbox_path(self) -> Path:
        return outbox_file(self.data_dir)


@dataclass(frozen=True)
class ServerSection:
    https_url: str = ""
    mqtt_url: str = ""
    transport: Transport = "auto"
    seal_suite: SealSuite = "mlkem768-x25519"

    def __post_init__(self) -> None:
        _check(self.https_url == "" or self.https_url.startswith("https://"), "https_url",
               f"{self.https_url!r} debe empezar con https://")
        _check(self.mqtt_url == "" or self.mqtt_url.startswith("mqtts://"), "mqtt_url",
               f"{self.mqtt_url!r} debe empezar con mqtts:// (MQTT sin TLS no se admite)")
        _check(bool(self.https_url or self.mqtt_url), "https_url",
               "hace falta al menos https_url o mqtt_url")
        _check(self.transport != "mqtt" or bool(self.mqtt_url), "mqtt_url",
               "transport = 'mqtt' pero falta mqtt_url")
        _check(self.transport != "https" or bool(self.https_url), "https_url",
               "transport = 'https' pero falta https_url")


@dataclass(frozen=True)
class KeysSection:
    """Paths to the device's key material, made at provisioning."""

    ca: Path                  # the deployment CA, pinned for TLS
    client_cert: Path         # device certificate (CN = device id)
    client_key: Path          # its TLS private key
    signing_key: Path         # device Ed25519 key that signs envelopes
    outbox_key: Path          # 32 random bytes, hex, for SQLCipher
    server_seal_public: Path  # HPKE recipient key of the server
    server_sign_public: Path  # Ed25519 key that signs acks and commands


@dataclass(frozen=True)
class Scope:
    level: ScopeLevel
    entidad: int | None = None
    distrito_federal: int | None = None
    distrito_local: int | None = None
    municipio: int | None = None

    def __post_init__(self) -> None:
        if self.level != "nacional":
            _check(self.entidad is not None, "entidad", f"el ámbito {self.level!r} requiere entidad")
        if self.level in ("distrito_federal", "distrito_local", "municipio"):
            _check(getattr(self, self.level) is not None, self.level,
                   f"el ámbito {self.level!r} requiere {self.level}")


@dataclass(frozen=True)
class Process:
    id: str
    kind: ProcessKind
    name: str
    aspirant_id: str
    aspirant_name: str
    scope: Scope
    start: str
    end: str
    threshold_percent: float = 0.0
    # Exact period in Unix ms from the server (enrollment); 0 = use the dates (whole days).
    start_ms: int = 0
    end_ms: int = 0
    # Where the dates are calendar days (sync/common/periods.py); configs from before the
    # key (schema < 3) had Mexico City's days.
    timezone: str = periods.DEFAULT_TZ

    def __post_init__(self) -> None:
        _check(bool(_DATE.match(self.start)), "start", f"{self.start!r} no es una fecha AAAA-MM-DD")
        _check(bool(_DATE.match(self.end)), "end", f"{self.end!r} no es una fecha AAAA-MM-DD")
        _check(self.start <= self.end, "end", "el periodo termina antes de empezar")
        periods.zone_field(self.timezone)

    def zone(self) -> ZoneInfo:
        return periods.zone(self.timezone)


@dataclass(frozen=True)
class Auxiliary:
    id: str
    name: str
    pin_hash: str  # "scrypt$n$r$p$salt_hex$hash_hex"; never the PIN itself
    processes: list[str]
    role: Literal["auxiliar", "coordinador"] = "auxiliar"  # a coordinator may unlock others

    def __post_init__(self) -> None:
        _check(self.pin_hash.startswith("scrypt$"), "pin_hash",
               "debe ser un hash scrypt ('scrypt$...'), nunca el PIN")
        _check(bool(self.processes), "processes", "el auxiliar no tiene procesos asignados")


@dataclass(frozen=True)
class Seccion:
    """One row of the sección -> geography table used for the offline pre-check."""

    seccion: int
    entidad: int
    distrito_federal: int
    distrito_local: int
    municipio: int


@dataclass(frozen=True)
class FreezeSection:
    """Freeze policy (sync/agent/freeze.py): no new captures while too much is unsent."""

    max_unsent_age_days: float = 3.0
    max_pending: int = 2000

    def __post_init__(self) -> None:
        _check(self.max_unsent_age_days > 0, "max_unsent_age_days", "debe ser mayor que 0")
        _check(self.max_pending > 0, "max_pending", "debe ser mayor que 0")


@dataclass(frozen=True)
class WarningsSection:
    """When home warns (kiosk/capture/warnings.py), well before the freeze policy stops captures.

    Every key has a default, so a config without the table (or from an older server) loads."""

    low_battery_percent: float = 20.0  # on battery at or below this; 0 = never
    unsent_hours: float = 24.0         # the oldest unsent record older than this
    low_disk_records: int = 50         # free disk below what this many more records may need

    def __post_init__(self) -> None:
        _check(0 <= self.low_battery_percent < 100, "low_battery_percent", "debe estar entre 0 y 99")
        _check(self.unsent_hours > 0, "unsent_hours", "debe ser mayor que 0")
        _check(self.low_disk_records >= 1, "low_disk_records", "debe ser al menos 1")


@dataclass(frozen=True)
class SelfServiceSection:
    """A device provisioned for self-service (docs/self-service.md): it starts at "Dar mi
    apoyo" with no auxiliary PIN, and a half-done capture left alone is discarded.

    Every key has a default, so a config without the table (or from an older server) loads."""

    enabled: bool = False
    idle_seconds: int = 90     # no touch for this long discards the capture and returns to the start
    warning_seconds: int = 15  # how long before that the screen warns

    def __post_init__(self) -> None:
        _check(self.idle_seconds >= 20, "idle_seconds", "debe ser al menos 20")
        _check(0 < self.warning_seconds < self.idle_seconds, "warning_seconds",
               "debe ser mayor que 0 y menor que idle_seconds")


@dataclass(frozen=True)
class DeviceConfig:
    device: DeviceSection
    server: ServerSection
    keys: KeysSection
    processes: list[Process]
    auxiliaries: list[Auxiliary]
    secciones: list[Seccion] = field(default_factory=list)
    locale: Literal["es", "en"] = "es"
    idle_lock_minutes: int = 5
    freeze: FreezeSection = field(default_factory=FreezeSection)
    warnings: WarningsSection = field(default_factory=WarningsSection)
    self_service: SelfServiceSection = field(default_factory=SelfServiceSection)
    source: Path = Path()

    def __post_init__(self) -> None:
        ids = [p.id for p in self.processes]
        _check(len(ids) == len(set(ids)), "processes", "hay ids de proceso repetidos")
        for i, aux in enumerate(self.auxiliaries):
            for pid in aux.processes:
                _check(pid in ids, f"auxiliaries[{i}].processes",
                       f"el proceso {pid!r} no está en [[processes]]")
            aspirants = {p.aspirant_id for p in self.processes if p.id in aux.processes}
            _check(len(aspirants) <= 1, f"auxiliaries[{i}].processes",
                   "un auxiliar sólo puede trabajar para un aspirante")
        _check(self.idle_lock_minutes > 0, "idle_lock_minutes", "debe ser mayor que 0")
        # The activation request goes over HTTPS whatever transport carries the records.
        _check(not self.self_service.enabled or bool(self.server.https_url), "self_service.enabled",
               "un dispositivo de autoservicio necesita server.https_url (las activaciones van por HTTPS)")

    def process(self, process_id: str) -> Process:
        for p in self.processes:
            if p.id == process_id:
                return p
        raise KeyError(process_id)

    def seccion_table(self) -> dict[int, Seccion]:
        return {s.seccion: s for s in self.secciones}


def resolve_config_path(cli_value: str | os.PathLike[str] | None = None) -> tuple[Path, bool]:
    """Which file to read, and whether it was asked for explicitly."""
    if cli_value:
        return Path(cli_value), True
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env), True
    return DEFAULT_CONFIG_PATH, False


def _resolve_paths(cfg: DeviceConfig, base: Path) -> DeviceConfig:
    from dataclasses import fields, replace

    def fix(p: Path) -> Path:
        return p if p.is_absolute() else (base / p)

    keys = replace(cfg.keys, **{f.name: fix(getattr(cfg.keys, f.name)) for f in fields(cfg.keys)})
    device = replace(cfg.device, data_dir=fix(cfg.device.data_dir))
    return replace(cfg, keys=keys, device=device)


def parse_config(text: str, path: Path | str = "<texto>") -> DeviceConfig:
    path = Path(path)
    cfg = parse_toml(DeviceConfig, text, path, ConfigError)
    return _resolve_paths(cfg, path.parent.resolve())


def load_config(path: Path | str) -> DeviceConfig:
    path = Path(path)
    return parse_config(read_text_file(path, ConfigError, permission_denied="sin permiso de lectura"), path)
