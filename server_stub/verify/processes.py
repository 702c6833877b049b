"""Processes and aspirants on the server: kind (threshold rule), collection period,
each aspirant's geographic scope, and the garantía-de-audiencia notification.

Defined with `fieldkit-server process define|add-aspirant|notify|list`. The
fleet may add columns (auxiliaries, local districts); readers here
select named columns only, so added columns do not break them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from server_stub.core.store import Store
from server_stub.verify.process_kinds import KINDS
from sync.common import periods

SEND_WINDOW_MS = periods.SEND_WINDOW_MS  # LGIPE: everything sent within 24 h after the period closes
AUDIENCIA_MS = 5 * 24 * 3600 * 1000  # garantía de audiencia: 5 days after notification

SCHEMA = """
CREATE TABLE IF NOT EXISTS processes (
    process_id  TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    starts_ms   {int} NOT NULL,
    ends_ms     {int} NOT NULL,
    created_ms  {int} NOT NULL
);
CREATE TABLE IF NOT EXISTS aspirants (
    process_id        TEXT NOT NULL,
    aspirant_id       TEXT NOT NULL,
    name              TEXT NOT NULL,
    entidad           {int},
    distrito_federal  {int},
    municipio         {int},
    notified_ms       {int},
    PRIMARY KEY (process_id, aspirant_id)
)
"""


class ProcessError(ValueError):
    """A process or aspirant definition the server refuses."""


@dataclass(frozen=True, slots=True)
class Process:
    process_id: str
    kind: str
    name: str
    starts_ms: int
    ends_ms: int
    # The process's own zone ("" = the deployment's): its dates are calendar days there.
    timezone: str = ""

    @property
    def send_deadline_ms(self) -> int:
        return periods.send_deadline_ms(self.ends_ms)

    def zone(self, default: str = periods.DEFAULT_TZ) -> ZoneInfo:
        return periods.zone(self.timezone or default)


@dataclass(frozen=True, slots=True)
class Aspirant:
    process_id: str
    aspirant_id: str
    name: str
    entidad: int | None
    distrito_federal: int | None
    municipio: int | None
    notified_ms: int | None

    def in_scope(self, entidad: int, distrito_federal: int, municipio: int) -> bool:
        return ((self.entidad is None or self.entidad == entidad)
                and (self.distrito_federal is None or self.distrito_federal == distrito_federal)
                and (self.municipio is None or self.municipio == municipio))

    @property
    def scope_label(self) -> str:
        parts = [f"entidad {self.entidad:02d}" if self.entidad is not None else "nacional"]
        if self.distrito_federal is not None:
            parts.append(f"distrito {self.distrito_federal:02d}")
        if self.municipio is not None:
            parts.append(f"municipio {self.municipio}")
        return ", ".join(parts)

    def audiencia_closes_ms(self) -> int | None:
        return None if self.notified_ms is None else self.notified_ms + AUDIENCIA_MS


def ensure_schema(store: Store) -> None:
    store.ensure_schema(SCHEMA, 7711102)
    store.add_column("processes", "timezone", "TEXT", 7711102)  # older stores: NULL = deployment's


def define_process(store: Store, process_id: str, kind: str, name: str, starts_ms: int, ends_ms: int,
                   *, replace: bool = False, timezone: str = "") -> Process:
    if kind not in KINDS:
        raise ProcessError(f"tipo de proceso desconocido {kind!r} (uno de: {', '.join(KINDS)})")
    if not process_id or ends_ms <= starts_ms:
        raise ProcessError("hace falta un id y un periodo con fin posterior al inicio")
    if timezone:
        try:
            periods.zone(timezone)
        except periods.PeriodError as e:
            raise ProcessError(str(e)) from None
    ensure_schema(store)
    tail = ("ON CONFLICT (process_id) DO UPDATE SET kind = excluded.kind, name = excluded.name, "
            "starts_ms = excluded.starts_ms, ends_ms = excluded.ends_ms, timezone = excluded.timezone"
            if replace else "ON CONFLICT (process_id) DO NOTHING")
    with store.tx() as conn:
        cur = conn.execute(store.sql("INSERT INTO processes (process_id, kind, name, starts_ms, ends_ms, "
                                     f"created_ms, timezone) VALUES (?, ?, ?, ?, ?, ?, ?) {tail}"),
                           (process_id, kind, name, starts_ms, ends_ms, int(time.time() * 1000),
                            timezone or None))
        if not cur.rowcount:
            raise ProcessError(f"el proceso {process_id!r} ya existe (use --replace)")
    return Process(process_id, kind, name, starts_ms, ends_ms, timezone)


def settle_zones(store: Store, deployment_tz: str) -> int:
    """Processes defined before zones were stored get the deployment's, once: the device's
    config and the server's pages then agree on their days (rows changed)."""
    ensure_schema(store)
    with store.tx() as conn:
        cur = conn.execute(store.sql("UPDATE processes SET timezone = ? WHERE timezone IS NULL"),
                           (deployment_tz,))
        return int(cur.rowcount or 0)


def add_aspirant(store: Store, process_id: str, aspirant_id: str, name: str, *, entidad: int | None = None,
                 distrito_federal: int | None = None, municipio: int | None = None) -> Aspirant:
    proc = get_process(store, process_id)
    if proc is None:
        raise ProcessError(f"no existe el proceso {process_id!r}")
    scope = KINDS[proc.kind].scope if proc.kind in KINDS else "pais"
    if scope in ("entidad", "distrito") and entidad is None:
        raise ProcessError(f"un proceso de tipo {proc.kind} necesita --entidad")
    if scope == "distrito" and distrito_federal is None:
        raise ProcessError(f"un proceso de tipo {proc.kind} necesita --distrito")
    with store.tx() as conn:
        conn.execute(store.sql(
            "INSERT INTO aspirants (process_id, aspirant_id, name, entidad, distrito_federal, municipio) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (process_id, aspirant_id) DO UPDATE SET "
            "name = excluded.name, entidad = excluded.entidad, distrito_federal = excluded.distrito_federal, "
            "municipio = excluded.municipio"), (process_id, aspirant_id, name, entidad, distrito_federal,
                                                municipio))
    return Aspirant(process_id, aspirant_id, name, entidad, distrito_federal, municipio, None)


def notify_aspirant(store: Store, process_id: str, aspirant_id: str, now_ms: int | None = None) -> int:
    """Record that the aspirant was notified of the inconsistent supports (audiencia opens)."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    with store.tx() as conn:
        cur = conn.execute(store.sql("UPDATE aspirants SET notified_ms = ? WHERE process_id = ? "
                                     "AND aspirant_id = ?"), (now, process_id, aspirant_id))
        if not cur.rowcount:
            raise ProcessError(f"no existe el aspirante {aspirant_id!r} en {process_id!r}")
    return now


_PROCESS_COLS = "process_id, kind, name, starts_ms, ends_ms, COALESCE(timezone, '')"


def get_process(store: Store, process_id: str) -> Process | None:
    rows = store.query(f"SELECT {_PROCESS_COLS} FROM processes WHERE process_id = ?", (process_id,))
    return Process(*rows[0]) if rows else None


def list_processes(store: Store) -> list[Process]:
    rows = store.query(f"SELECT {_PROCESS_COLS} FROM processes ORDER BY process_id")
    return [Process(*r) for r in rows]


def list_aspirants(store: Store, process_id: str | None = None) -> list[Aspirant]:
    sql = ("SELECT process_id, aspirant_id, name, entidad, distrito_federal, municipio, notified_ms "
           "FROM aspirants")
    rows = (store.query(sql + " WHERE process_id = ? ORDER BY aspirant_id", (process_id,)) if process_id
            else store.query(sql + " ORDER BY process_id, aspirant_id"))
    return [Aspirant(*r) for r in rows]


def get_aspirant(store: Store, process_id: str, aspirant_id: str) -> Aspirant | None:
    for a in list_aspirants(store, process_id):
        if a.aspirant_id == aspirant_id:
            return a
    return None
