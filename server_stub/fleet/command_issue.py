"""Signed commands for one device (wipe, config update) and the config a device gets.

A command is queued in ``device_commands`` with the next per-device ``seq``;
the MQTT worker publishes unpublished ones to ``.../commands`` (QoS 1), and an
HTTPS-only device fetches them with ``GET /v1/commands?after=<seq>``. The device
reports the last seq it applied in its heartbeat. Format: sync/wire/command.py.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric import ed25519

from server_stub.core.store import Store
from server_stub.fleet import tables as fleet
from server_stub.verify import processes as procmod
from server_stub.verify.process_kinds import device_kind, rule_for
from sync.common import periods
from sync.wire.command import KINDS, Command, sign_command
from sync.wire.config_schema import for_schema, reported_schema

log = logging.getLogger("fieldkit.server.fleet")

DEFAULT_TTL_MS = 7 * 24 * 3600 * 1000  # a lost device may stay off for days
DEFAULT_FREEZE = {"max_unsent_age_days": 3.0, "max_pending": 2000}
# Home's warning thresholds (sync.device.config.WarningsSection); cut for devices before schema 2.
DEFAULT_WARNINGS = {"low_battery_percent": 20.0, "unsent_hours": 24.0, "low_disk_records": 50}


@dataclass(frozen=True)
class QueuedCommand:
    device_id: str
    seq: int
    kind: str
    expires_ms: int
    command: bytes


def _date(ms: int, tz: ZoneInfo) -> str:
    """The calendar day at `ms` where the process runs (its dates are days there)."""
    return periods.local_date(ms, tz).isoformat()


def _scope(a: procmod.Aspirant) -> dict[str, Any]:
    level = ("municipio" if a.municipio is not None else "distrito_federal" if a.distrito_federal is not None
             else "entidad" if a.entidad is not None else "nacional")
    out: dict[str, Any] = {"level": level}
    for k in ("entidad", "distrito_federal", "municipio"):
        if getattr(a, k) is not None:
            out[k] = getattr(a, k)
    return out


@dataclass(frozen=True)
class SelfServiceFor:
    """What a self-service device captures for (docs/self-service.md): one aspirant, in these
    processes, as its enrollment code said (``enrollment_codes.aspirant``/``processes``). No
    auxiliary is on board: the citizen captures alone."""

    aspirant_id: str = ""
    processes: tuple[str, ...] = ()


def device_config(store: Store, aux_ids: list[str],
                  self_service: SelfServiceFor | None = None) -> dict[str, Any]:
    """The `[[processes]]`, `[[auxiliaries]]`, `[freeze]` and `[warnings]` a device with these auxiliaries
    gets, in the device config's own shape (sync/device/config.py). A self-service device (no
    auxiliaries) gets its aspirant's processes and `[self_service] enabled = true`."""
    auxes = fleet.list_auxiliaries(store, aux_ids)
    if self_service is not None:
        if others := [a.aux_id for a in auxes if a.role != "coordinador"]:
            raise fleet.FleetError("un dispositivo de autoservicio sólo lleva coordinadores, no auxiliares "
                                   f"({', '.join(others)})")
        pairs = [(pid, self_service.aspirant_id) for pid in sorted(set(self_service.processes))]
    else:
        aspirants = {a.aspirant_id for a in auxes}
        if len(aspirants) > 1:
            raise fleet.FleetError("los auxiliares de un dispositivo deben trabajar para el mismo aspirante "
                                   f"(aquí: {', '.join(sorted(aspirants))})")
        pairs = [(pid, a) for a in aspirants for pid in sorted({p for x in auxes for p in x.processes})]
    out: dict[str, Any] = {
        "processes": [_process(store, pid, aspirant_id) for pid, aspirant_id in pairs],
        "auxiliaries": [{"id": a.aux_id, "name": a.name, "pin_hash": a.pin_hash, "role": a.role,
                         "processes": a.processes} for a in auxes],
        "freeze": dict(DEFAULT_FREEZE), "warnings": dict(DEFAULT_WARNINGS)}
    if self_service is not None:
        out["self_service"] = {"enabled": True}  # cut for devices before schema 4 (for_device)
    return out


def _process(store: Store, process_id: str, aspirant_id: str) -> dict[str, Any]:
    p = procmod.get_process(store, process_id)
    asp = procmod.get_aspirant(store, process_id, aspirant_id)
    if p is None or asp is None:
        raise fleet.FleetError(f"el proceso {process_id!r} ya no existe")
    rule = rule_for(p.kind)
    tz = p.zone()  # a process from before zones were stored: America/Mexico_City
    return {"id": p.process_id, "kind": device_kind(p.kind),  # process_kinds.KINDS
            "name": p.name, "aspirant_id": asp.aspirant_id, "aspirant_name": asp.name,
            "scope": _scope(asp), "start": _date(p.starts_ms, tz), "end": _date(p.ends_ms, tz),
            "start_ms": p.starts_ms, "end_ms": p.ends_ms, "timezone": tz.key,
            "threshold_percent": rule.total_bp / 100 if rule else 0.0}


def self_service_for(store: Store, device_id: str) -> SelfServiceFor | None:
    """None for an auxiliaries' device; for a self-service one, what its enrollment code named
    (read from ``enrollment_codes``, which server_stub.fleet.enrollment_codes owns)."""
    fleet.ensure_schema(store)
    if not fleet.is_self_service(store, device_id):
        return None
    rows = store.query("SELECT c.aspirant, c.processes FROM fleet_devices d JOIN enrollment_codes c "
                       "ON c.code_id = d.code_id WHERE d.device_id = ?", (device_id,))
    if not rows or not rows[0][0]:
        return SelfServiceFor()
    return SelfServiceFor(str(rows[0][0]), tuple(json.loads(rows[0][1] or "[]")))


def queue_command(store: Store, sign_key: ed25519.Ed25519PrivateKey, device_id: str, kind: str,
                  payload: bytes = b"", *, ttl_ms: int = DEFAULT_TTL_MS) -> QueuedCommand:
    if kind not in KINDS:
        raise fleet.FleetError(f"orden desconocida {kind!r}")
    fleet.ensure_schema(store)
    if store.get_device(device_id) is None:
        raise fleet.FleetError(f"dispositivo desconocido {device_id!r}")
    now = fleet.now_ms()
    with store.tx() as conn:
        # Seq under the write lock: two admins queueing at once still get distinct seqs (SQLite's
        # write transaction; on PostgreSQL's READ COMMITTED a per-device advisory lock).
        if store.kind == "postgresql":
            conn.execute("SELECT pg_advisory_xact_lock(7711120, hashtext(%s))", (device_id,))
        row = conn.execute(store.sql("SELECT COALESCE(MAX(seq), 0) FROM device_commands WHERE device_id = ?"),
                           (device_id,)).fetchone()
        seq = int(row[0]) + 1
        data = sign_command(Command(uuid.uuid4(), device_id, seq, now, now + ttl_ms, kind, payload), sign_key)
        conn.execute(store.sql("INSERT INTO device_commands (device_id, seq, kind, created_ms, expires_ms, "
                               "command) VALUES (?, ?, ?, ?, ?, ?)"),
                     (device_id, seq, kind, now, now + ttl_ms, data))
    return QueuedCommand(device_id, seq, kind, now + ttl_ms, data)


def queue_config_update(store: Store, sign_key: ed25519.Ed25519PrivateKey, device_id: str, *,
                        aux_ids: list[str] | None = None, unlock: list[str] | None = None) -> QueuedCommand:
    """Push the device's current processes/auxiliaries (new PINs included); `unlock` lists
    auxiliaries whose PIN lockout the device should clear (coordinator unlock)."""
    serves = self_service_for(store, device_id)
    ids = aux_ids if aux_ids is not None else fleet.device_auxiliaries(store, device_id)
    cfg = device_config(store, ids, serves)  # a self-service device keeps its [self_service]
    if aux_ids is not None:  # checked above: a self-service device takes coordinators only
        fleet.set_device_auxiliaries(store, device_id, ids)
    cfg["unlock"] = list(unlock or [])
    cfg, _ = for_device(store, device_id, cfg)
    return queue_command(store, sign_key, device_id, "config", json.dumps(cfg, sort_keys=True).encode())


def push_process_change(store: Store, sign_key: ed25519.Ed25519PrivateKey, process_id: str) -> list[str]:
    """A process redefined (its period, its zone): a config update to every active device
    whose auxiliaries work for it, so the kiosk offers it by the new dates. The devices."""
    aux = {a.aux_id for a in fleet.list_auxiliaries(store) if process_id in a.processes}
    devices = fleet.active_devices_with(store, aux)
    active = {d.device_id for d in store.list_devices() if d.state == "active"}
    devices += sorted(d for d in fleet.self_service_devices(store) & active
                      if process_id in (self_service_for(store, d) or SelfServiceFor()).processes)
    for d in devices:
        queue_config_update(store, sign_key, d)
    return devices


def for_device(store: Store, device_id: str, cfg: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`cfg` cut to the config schema the device last reported (sync/wire/config_schema.py):
    a device that does not know a key yet would refuse the whole update. Its last heartbeat
    says; before the first one, what its enrollment request said."""
    hb = fleet.get_heartbeat(store, device_id)
    if hb is None and (enrolled := fleet.enrolled_schema(store, device_id)) is not None:
        return cut_to_schema(cfg, enrolled, device_id)
    return cut_to_schema(cfg, reported_schema(hb.status if hb is not None else None), device_id)


def cut_to_schema(cfg: dict[str, Any], schema: int, device_id: str) -> tuple[dict[str, Any], list[str]]:
    """`cfg` with only the keys config schema `schema` knows; what was left out is logged."""
    out, dropped = for_schema(cfg, schema)
    if dropped:
        log.warning("config for %s (config_schema %d) leaves out %s", device_id, schema, ", ".join(dropped))
    return out, dropped


def pending_commands(store: Store, device_id: str, after_seq: int = 0) -> list[QueuedCommand]:
    """Unexpired commands with seq > after_seq, oldest first."""
    fleet.ensure_schema(store)
    rows = store.query("SELECT device_id, seq, kind, expires_ms, command FROM device_commands "
                       "WHERE device_id = ? AND seq > ? AND expires_ms > ? ORDER BY seq",
                       (device_id, after_seq, fleet.now_ms()))
    return [QueuedCommand(r[0], int(r[1]), r[2], int(r[3]), bytes(r[4])) for r in rows]


def unpublished_commands(store: Store, limit: int = 100) -> list[QueuedCommand]:
    fleet.ensure_schema(store)
    rows = store.query("SELECT device_id, seq, kind, expires_ms, command FROM device_commands "
                       "WHERE published_ms IS NULL AND expires_ms > ? ORDER BY created_ms LIMIT ?",
                       (fleet.now_ms(), limit))
    return [QueuedCommand(r[0], int(r[1]), r[2], int(r[3]), bytes(r[4])) for r in rows]


def mark_published(store: Store, device_id: str, seq: int) -> None:
    with store.tx() as conn:
        conn.execute(store.sql("UPDATE device_commands SET published_ms = ? WHERE device_id = ? AND seq = ?"),
                     (fleet.now_ms(), device_id, seq))
