"""Fleet tables on the server: auxiliaries, enrolled devices, heartbeats, commands.

Tables (created on first use; SQLite and PostgreSQL):

- ``fleet_auxiliaries``: auxiliaries and coordinators (PIN only as an scrypt hash),
  each working for exactly one aspirant (INE rule), for some of its processes.
- ``fleet_devices``: what enrollment assigned (folio prefix, auxiliaries on board).
- ``device_heartbeats``: the LAST status each device reported (MQTT retained
  status / LWT, or ``POST /v1/status`` for HTTPS-only devices). The dashboard
  reads this table (docs/server.md, "Fleet").
- ``device_commands``: signed commands queued for a device (seq per device).
- ``devices.label`` (a column of the store's registry table): the name a coordinator gave
  a device on the dashboard, NULL until then (`set_device_label`).

Processes and aspirants live in ``server_stub.verify.processes``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from server_stub.core.store import Store
from server_stub.verify import processes as procmod
from sync.common.pin import hash_pin

SCHEMA = """
CREATE TABLE IF NOT EXISTS fleet_auxiliaries (
    aux_id       TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    pin_hash     TEXT NOT NULL,
    role         TEXT NOT NULL,
    aspirant_id  TEXT NOT NULL,
    processes    TEXT NOT NULL,
    updated_ms   {int} NOT NULL
);
CREATE TABLE IF NOT EXISTS fleet_devices (
    device_id     TEXT PRIMARY KEY,
    folio_prefix  TEXT NOT NULL UNIQUE,
    auxiliaries   TEXT NOT NULL,
    code_id       TEXT NOT NULL,
    enrolled_ms   {int} NOT NULL
);
CREATE TABLE IF NOT EXISTS device_heartbeats (
    device_id             TEXT PRIMARY KEY,
    online                {int} NOT NULL,
    received_ms           {int} NOT NULL,
    via                   TEXT NOT NULL,
    pending               {int},
    oldest_pending_age_s  {real},
    battery_percent       {real},
    free_disk_bytes       {int},
    app_version           TEXT,
    last_sync_ms          {int},
    last_command_seq      {int},
    status_json           TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS device_commands (
    device_id     TEXT NOT NULL,
    seq           {int} NOT NULL,
    kind          TEXT NOT NULL,
    created_ms    {int} NOT NULL,
    expires_ms    {int} NOT NULL,
    command       {blob} NOT NULL,
    published_ms  {int},
    PRIMARY KEY (device_id, seq)
)
"""
ROLES = ("auxiliar", "coordinador")


class FleetError(ValueError):
    """A fleet operation the server refuses (one line, Spanish)."""


# A device's status (heartbeat) JSON is a few hundred bytes; anything past this is dropped,
# by either transport, before it is parsed or stored.
MAX_STATUS_BYTES = 16 * 1024


def now_ms() -> int:
    return int(time.time() * 1000)


def ensure_schema(store: Store) -> None:
    procmod.ensure_schema(store)
    store.ensure_schema(SCHEMA, 7711108)
    # 1 = provisioned for self-service (docs/self-service.md); older rows are auxiliaries' kiosks.
    store.add_column("fleet_devices", "self_service", "INTEGER NOT NULL DEFAULT 0", 7711108)
    # The config schema the enrollment request reported (NULL: enrolled before it was kept).
    store.add_column("fleet_devices", "config_schema", "INTEGER", 7711108)


def is_self_service(store: Store, device_id: str) -> bool:
    """Whether `device_id` was provisioned for self-service (False for unknown devices)."""
    rows = store.query("SELECT self_service FROM fleet_devices WHERE device_id = ?", (device_id,))
    return bool(rows and rows[0][0])


def enrolled_schema(store: Store, device_id: str) -> int | None:
    """The config schema `device_id` reported when it enrolled, if known."""
    rows = store.query("SELECT config_schema FROM fleet_devices WHERE device_id = ?", (device_id,))
    return int(rows[0][0]) if rows and rows[0][0] is not None else None


def self_service_devices(store: Store) -> set[str]:
    return {str(r[0]) for r in store.query("SELECT device_id FROM fleet_devices WHERE self_service = 1")}


# --- auxiliaries ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuxiliaryRow:
    aux_id: str
    name: str
    pin_hash: str
    role: str
    aspirant_id: str
    processes: list[str]


def put_auxiliary(store: Store, aux_id: str, name: str, pin: str, processes: list[str], *,
                  role: str = "auxiliar") -> AuxiliaryRow:
    """Add or replace an auxiliary; all its processes must belong to ONE aspirant."""
    ensure_schema(store)
    if role not in ROLES:
        raise FleetError(f"rol desconocido {role!r} (auxiliar o coordinador)")
    if not aux_id or not processes:
        raise FleetError("hace falta un id y al menos un proceso")
    aspirants: set[str] = set()
    for pid in processes:
        found = [a.aspirant_id for a in procmod.list_aspirants(store, pid)]
        if not found:
            raise FleetError(f"el proceso {pid!r} no existe o no tiene aspirante")
        aspirants.update(found)
    if len(aspirants) != 1:
        raise FleetError("un auxiliar sólo puede trabajar para un aspirante "
                         f"(estos procesos son de: {', '.join(sorted(aspirants))})")
    try:
        pin_hash = hash_pin(pin)
    except ValueError as e:
        raise FleetError(str(e)) from None
    row = AuxiliaryRow(aux_id, name, pin_hash, role, aspirants.pop(), list(processes))
    with store.tx() as conn:
        conn.execute(store.sql(
            "INSERT INTO fleet_auxiliaries (aux_id, name, pin_hash, role, aspirant_id, processes, "
            "updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (aux_id) DO UPDATE SET "
            "name = excluded.name, pin_hash = excluded.pin_hash, role = excluded.role, "
            "aspirant_id = excluded.aspirant_id, "
            "processes = excluded.processes, updated_ms = excluded.updated_ms"),
            (aux_id, name, pin_hash, role, row.aspirant_id, json.dumps(processes), now_ms()))
    return row


def set_pin(store: Store, aux_id: str, pin: str) -> None:
    try:
        h = hash_pin(pin)
    except ValueError as e:
        raise FleetError(str(e)) from None
    with store.tx() as conn:
        cur = conn.execute(store.sql("UPDATE fleet_auxiliaries SET pin_hash = ?, updated_ms = ? "
                                     "WHERE aux_id = ?"), (h, now_ms(), aux_id))
        if not cur.rowcount:
            raise FleetError(f"no existe el auxiliar {aux_id!r}")


def list_auxiliaries(store: Store, ids: list[str] | None = None) -> list[AuxiliaryRow]:
    ensure_schema(store)
    rows = store.query("SELECT aux_id, name, pin_hash, role, aspirant_id, processes FROM fleet_auxiliaries "
                       "ORDER BY aux_id")
    out = [AuxiliaryRow(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]
    if ids is None:
        return out
    by_id = {a.aux_id: a for a in out}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise FleetError(f"auxiliares desconocidos: {', '.join(missing)}")
    return [by_id[i] for i in ids]


def known_auxiliaries(store: Store, ids: set[str], *, chunk: int = 500) -> set[str]:
    """Which of `ids` the server issued (rows of ``fleet_auxiliaries``, any role).
    Ingest asks once per batch; the table must exist (`ensure_schema`)."""
    found: set[str] = set()
    wanted = sorted(i for i in ids if i)
    for k in range(0, len(wanted), chunk):
        part = wanted[k:k + chunk]
        found.update(r[0] for r in store.query(
            f"SELECT aux_id FROM fleet_auxiliaries WHERE aux_id IN ({', '.join('?' * len(part))})",
            tuple(part)))
    return found


def assigned_auxiliaries(store: Store, device_ids: set[str]) -> dict[str, list[str]]:
    """The auxiliaries assigned to each of `device_ids` that was enrolled with a code (a device
    registered by hand has no entry). An empty list: a device provisioned for self-service."""
    out: dict[str, list[str]] = {}
    wanted = sorted(device_ids)
    for k in range(0, len(wanted), 500):
        part = wanted[k:k + 500]
        for dev, aux in store.query(f"SELECT device_id, auxiliaries FROM fleet_devices WHERE device_id IN "
                                    f"({', '.join('?' * len(part))})", tuple(part)):
            out[dev] = [str(a) for a in json.loads(aux)]
    return out


# --- devices ----------------------------------------------------------------------------------


def active_devices_with(store: Store, aux_ids: set[str]) -> list[str]:
    """Active devices enrolled with any of `aux_ids` on board: those a change of these
    auxiliaries (a PIN, their processes) must reach by a config update."""
    ensure_schema(store)
    active = {d.device_id for d in store.list_devices() if d.state == "active"}
    rows = store.query("SELECT device_id, auxiliaries FROM fleet_devices ORDER BY device_id")
    return [r[0] for r in rows if r[0] in active and aux_ids.intersection(json.loads(r[1]))]


def device_auxiliaries(store: Store, device_id: str) -> list[str]:
    rows = store.query("SELECT auxiliaries FROM fleet_devices WHERE device_id = ?", (device_id,))
    if not rows:
        raise FleetError(f"el dispositivo {device_id!r} no se inscribió con un código")
    return list(json.loads(rows[0][0]))


def set_device_auxiliaries(store: Store, device_id: str, aux_ids: list[str]) -> None:
    list_auxiliaries(store, aux_ids)  # all must exist
    with store.tx() as conn:
        cur = conn.execute(store.sql("UPDATE fleet_devices SET auxiliaries = ? WHERE device_id = ?"),
                           (json.dumps(aux_ids), device_id))
        if not cur.rowcount:
            raise FleetError(f"el dispositivo {device_id!r} no se inscribió con un código")


LABEL_MAX = 40
LABEL_LOCK = 7711108  # the fleet schema's advisory lock (PostgreSQL)


def ensure_label_column(store: Store) -> None:
    """Add ``devices.label`` to an older store. Not part of `ensure_schema`, which runs on every
    heartbeat: on PostgreSQL even `ADD COLUMN IF NOT EXISTS` locks the registry table that every
    ingest reads, so this runs once where labels are used (the dashboard at start, a write)."""
    store.add_column("devices", "label", "TEXT", LABEL_LOCK)


def clean_label(text: str) -> str:
    """A label as kept: trimmed, 1 to LABEL_MAX printable characters (letters with accents
    are printable; tabs, line breaks and bidi controls are not)."""
    label = text.strip()
    if not 1 <= len(label) <= LABEL_MAX or not label.isprintable():
        raise FleetError(f"El nombre debe tener de 1 a {LABEL_MAX} caracteres imprimibles.")
    return label


def set_device_label(store: Store, device_id: str, text: str) -> str:
    """Name a registered device (the label as kept, see `clean_label`)."""
    label = clean_label(text)
    ensure_label_column(store)
    with store.tx() as conn:
        cur = conn.execute(store.sql("UPDATE devices SET label = ? WHERE device_id = ?"), (label, device_id))
        if not cur.rowcount:
            raise FleetError(f"No existe el dispositivo {device_id!r}.")
    return label


def device_labels(store: Store) -> dict[str, str]:
    """{device_id: label} of the devices that have one (`ensure_label_column` has run)."""
    return {r[0]: r[1] for r in store.query("SELECT device_id, label FROM devices WHERE label IS NOT NULL")}


# --- heartbeats -------------------------------------------------------------------------------

_HB_COLS = ("device_id, online, received_ms, via, pending, oldest_pending_age_s, battery_percent, "
            "free_disk_bytes, app_version, last_sync_ms, last_command_seq, status_json")


@dataclass(frozen=True)
class Heartbeat:
    device_id: str
    online: bool
    received_ms: int
    via: str  # "mqtt", "mqtt-lwt" (the broker's last will), "https"
    pending: int | None
    oldest_pending_age_s: float | None
    battery_percent: float | None
    free_disk_bytes: int | None
    app_version: str | None
    last_sync_ms: int | None
    last_command_seq: int | None
    status: dict[str, Any]


def _num(d: dict[str, Any], k: str, kind: type) -> Any:
    v = d.get(k)
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return kind(v)


def record_heartbeat(store: Store, device_id: str, status: dict[str, Any], via: str,
                     received_ms: int | None = None) -> Heartbeat:
    """Keep the latest status. A last will (online false, few fields) keeps the numbers
    from the previous heartbeat, so the dashboard still shows the pending count."""
    ensure_schema(store)
    prev = get_heartbeat(store, device_id)
    online = status.get("online") is True
    merged = dict(prev.status) if prev is not None and not online else {}
    merged.update(status)
    s = merged
    av = s.get("app_version")
    hb = Heartbeat(device_id, online, received_ms or now_ms(), via, _num(s, "pending", int),
                   _num(s, "oldest_pending_age_s", float), _num(s, "battery_percent", float),
                   _num(s, "free_disk_bytes", int), av if isinstance(av, str) else None,
                   _num(s, "last_sync_ms", int), _num(s, "last_command_seq", int), s)
    values = (hb.device_id, int(hb.online), hb.received_ms, hb.via, hb.pending, hb.oldest_pending_age_s,
              hb.battery_percent, hb.free_disk_bytes, hb.app_version, hb.last_sync_ms,
              hb.last_command_seq, json.dumps(s))
    cols = _HB_COLS.split(", ")
    update = ", ".join(f"{c} = excluded.{c}" for c in cols[1:])
    with store.tx() as conn:
        conn.execute(store.sql(f"INSERT INTO device_heartbeats ({_HB_COLS}) VALUES "
                               f"({', '.join('?' * len(values))}) "
                               f"ON CONFLICT (device_id) DO UPDATE SET {update}"), values)
    return hb


def _hb(r: tuple[Any, ...]) -> Heartbeat:
    return Heartbeat(r[0], bool(r[1]), int(r[2]), r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
                     json.loads(r[11]))


def get_heartbeat(store: Store, device_id: str) -> Heartbeat | None:
    ensure_schema(store)
    rows = store.query(f"SELECT {_HB_COLS} FROM device_heartbeats WHERE device_id = ?", (device_id,))
    return _hb(rows[0]) if rows else None


def list_heartbeats(store: Store) -> list[Heartbeat]:
    ensure_schema(store)
    return [_hb(r) for r in store.query(f"SELECT {_HB_COLS} FROM device_heartbeats ORDER BY device_id")]
