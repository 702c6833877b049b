"""What the dashboard shows, as plain data from the store (no HTML here).

Heartbeats belong to the fleet (``server_stub.fleet``): the device table reads
`server_stub.fleet.tables.list_heartbeats(store)` (the last status per device) and shows
"—" for a device that never sent one.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from server_stub.core.store import Store
from server_stub.fleet import tables as fleet
from server_stub.verify import verify
from server_stub.verify.processes import Aspirant, Process
from server_stub.verify.thresholds import RULES, Progress, Unit, evaluate

HOUR_MS = 3600 * 1000


@dataclass(frozen=True, slots=True)
class DeviceRow:
    device_id: str
    state: str
    records: int
    last_record_ms: int | None
    heartbeat_ms: int | None
    queue_depth: int | None
    oldest_unsent_age_s: float | None
    battery_pct: float | None
    version: str | None
    online: bool | None


def _unit_sql(unit: str) -> tuple[str, str]:
    """(key expression over roll_units/verdicts columns, label) of a unit kind."""
    return {"entidad": ("entidad", "Entidad"), "distrito": ("distrito_federal", "Distrito federal"),
            "seccion": ("seccion", "Sección")}[unit]


def progress(store: Store, proc: Process, asp: Aspirant) -> Progress:
    """Valid supports of one aspirant against the rule of its process, per unit."""
    rule = RULES.get(proc.kind)
    if rule is None:
        raise ValueError(f"process kind {proc.kind!r} has no threshold rule (process_kinds.rule_for)")
    col, _ = _unit_sql(rule.unit)
    where, params = [], []
    if asp.entidad is not None:
        where.append("entidad = ?")
        params.append(asp.entidad)
    if asp.distrito_federal is not None:
        where.append("distrito_federal = ?")
        params.append(asp.distrito_federal)
    cond = (" WHERE " + " AND ".join(where)) if where else ""
    ln_rows = store.query(f"SELECT entidad, {col}, SUM(lista_nominal) FROM roll_units{cond} "
                          f"GROUP BY entidad, {col}", tuple(params))
    valid_rows = store.query(
        f"SELECT entidad, {col}, COUNT(*) FROM verdicts WHERE process_id = ? AND aspirant_id = ? "
        f"AND verdict = ?{' AND ' + ' AND '.join(where) if where else ''} GROUP BY entidad, {col}",
        (proc.process_id, asp.aspirant_id, verify.VALIDO, *params))
    valid = {(int(e), int(k)): int(n) for e, k, n in valid_rows}

    def key(e: int, k: int) -> str:
        return f"{e:02d}" if rule.unit == "entidad" else f"{e:02d}-{k:04d}" if rule.unit == "seccion" \
            else f"{e:02d}-{k:02d}"

    return evaluate(rule, [Unit(key(int(e), int(k)), int(n), valid.get((int(e), int(k)), 0))
                           for e, k, n in ln_rows])


def verdict_counts(store: Store, process_id: str, aspirant_id: str | None = None) -> dict[str, int]:
    sql = "SELECT verdict, COUNT(*) FROM verdicts WHERE process_id = ?"
    params: tuple[Any, ...] = (process_id,)
    if aspirant_id:
        sql, params = sql + " AND aspirant_id = ?", (process_id, aspirant_id)
    return {r[0]: int(r[1]) for r in store.query(sql + " GROUP BY verdict", params)}


def timeline(store: Store, process_id: str | None = None,
             bucket_ms: int = HOUR_MS) -> list[tuple[int, dict[str, int]]]:
    """[(bucket start ms, {verdict: count})] by server receive time, oldest first."""
    sql = f"SELECT received_ms / {bucket_ms}, verdict, COUNT(*) FROM verdicts"
    params: tuple[Any, ...] = ()
    if process_id:
        sql, params = sql + " WHERE process_id = ?", (process_id,)
    out: dict[int, dict[str, int]] = {}
    for b, v, n in store.query(sql + f" GROUP BY received_ms / {bucket_ms}, verdict", params):
        out.setdefault(int(b) * bucket_ms, {})[v] = int(n)
    return sorted(out.items())


def progress_by(store: Store, column: str, process_id: str, aspirant_id: str) -> list[tuple[str, int, int]]:
    """[(auxiliary or device, records, valid)] for one aspirant."""
    assert column in ("auxiliary_id", "device_id")
    rows = store.query(f"SELECT {column}, COUNT(*), SUM(CASE WHEN verdict = ? THEN 1 ELSE 0 END) "
                       f"FROM verdicts WHERE process_id = ? AND aspirant_id = ? GROUP BY {column} "
                       f"ORDER BY {column}", (verify.VALIDO, process_id, aspirant_id))
    return [(r[0], int(r[1]), int(r[2] or 0)) for r in rows]


def non_valid(store: Store, process_id: str, aspirant_id: str) -> list[verify.VerdictRow]:
    """The aspirant's records that do not count, with their reason (garantía de audiencia)."""
    return [v for v in verify.verdicts(store, process_id, aspirant_id) if v.verdict != verify.VALIDO]


def _heartbeats(store: Store) -> dict[str, Mapping[str, Any]]:
    """Last status per device (the fleet's `device_heartbeats`)."""
    return {h.device_id: {"received_ms": h.received_ms, "queue_depth": h.pending, "online": h.online,
                          "oldest_unsent_age_s": h.oldest_pending_age_s, "battery_pct": h.battery_percent,
                          "app_version": h.app_version} for h in fleet.list_heartbeats(store)}


def _num(m: Mapping[str, Any], k: str) -> float | None:
    v = m.get(k)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def devices(store: Store) -> list[DeviceRow]:
    hb = _heartbeats(store)
    stats = {r[0]: (int(r[1]), int(r[2])) for r in
             store.query("SELECT device_id, COUNT(*), MAX(received_ms) FROM records GROUP BY device_id")}
    out = []
    for d in store.list_devices():
        m = hb.get(d.device_id, {})
        n, last = stats.get(d.device_id, (0, None))
        q = _num(m, "queue_depth")
        ver = m.get("app_version")
        hb_ms = int(m["received_ms"]) if m.get("received_ms") else None
        out.append(DeviceRow(d.device_id, d.state, n, last, hb_ms,
                             None if q is None else int(q), _num(m, "oldest_unsent_age_s"),
                             _num(m, "battery_pct"), str(ver) if ver is not None else None,
                             m.get("online") if isinstance(m.get("online"), bool) else None))
    return out


def devices_holding(rows: list[DeviceRow]) -> list[DeviceRow]:
    """Devices whose last heartbeat reports unsent records."""
    return [d for d in rows if d.queue_depth]


def time_left(proc: Process, now_ms: int | None = None) -> tuple[int, int]:
    """(ms left in the collection period, ms left in the 24 h sending window); never negative."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return max(0, proc.ends_ms - now), max(0, proc.send_deadline_ms - now)


def _cell(text: str) -> str:
    """Device-supplied text cannot become a spreadsheet formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


CSV_COLUMNS = ("folio", "record_id", "process_id", "aspirant_id", "verdict", "verdict_label", "reason",
               "device_id", "auxiliary_id", "received_ms", "entidad", "distrito_federal", "seccion")


def verdicts_csv(store: Store, process_id: str | None, aspirant_id: str | None = None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for v in verify.verdicts(store, process_id, aspirant_id):
        w.writerow([_cell(v.folio), v.record_id, _cell(v.process_id), _cell(v.aspirant_id), v.verdict,
                    verify.LABELS.get(v.verdict, ""), _cell(v.reason), v.device_id, v.auxiliary_id,
                    v.received_ms,
                    "" if v.entidad is None else v.entidad,
                    "" if v.distrito_federal is None else v.distrito_federal,
                    "" if v.seccion is None else v.seccion])
    return buf.getvalue()
