"""What the dashboard shows, as plain data from the store (no HTML here).

Heartbeats belong to the fleet (``server_stub.fleet``): the device table reads
`server_stub.fleet.tables.list_heartbeats(store)` (the last status per device) and shows
"—" for a device that never sent one.

Names, not ids: a device is shown by `display_name` (the coordinator's label, else its
auxiliaries' names, else its id) and an auxiliary the server issued by its name; the page
keeps the id in a `title=` and the CSV keeps ids.

Auxiliary ids are chosen by the device; ingest stores each with its status
(`server_stub.ingest.settle.auxiliary_status`). Only an id the server issued is shown as
it is: `auxiliary_label` marks the others ("(no registrado) …", "(autoservicio)").
The CSV export writes every cell through `csv_line` (docs/server.md, "CSV export").

Self-service supports (auxiliary_status `autoservicio`: a citizen's record from a self-service
device) are counted apart (`self_service_counts`), and each self-service device's activation
codes of the last 24 h feed the alerts banner (`activation_counts`).
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from server_stub.core.store import Store
from server_stub.core.store_schema import AUX_MISSING, AUX_REGISTERED, AUX_SELF_SERVICE, AUX_UNKNOWN
from server_stub.fleet import activations as activationsmod
from server_stub.fleet import tables as fleet
from server_stub.verify import verify
from server_stub.verify.processes import Aspirant, Process, list_processes
from server_stub.verify.thresholds import RULES, Progress, Unit, evaluate
from sync.common import periods
from sync.wire.activation import CAPTURED_BY_CITIZEN

HOUR_MS = 3600 * 1000
# The registry's device states (server_stub.core.store.DEVICE_STATES) as the page says them.
STATE_WORDS = {"active": "activo", "revoked": "revocado"}


@dataclass(frozen=True, slots=True)
class DeviceRow:
    device_id: str
    state: str
    name: str  # display_name: what the page shows; the id goes in title=
    added_ms: int
    records: int
    last_record_ms: int | None
    heartbeat_ms: int | None
    queue_depth: int | None
    oldest_unsent_age_s: float | None
    battery_pct: float | None
    version: str | None
    online: bool | None

    @property
    def state_word(self) -> str:
        return STATE_WORDS.get(self.state, self.state)


def display_name(device_id: str, label: str | None, aux_names: Sequence[str]) -> str:
    """The coordinator's label, else the auxiliaries on board (names joined), else the id."""
    return label or ", ".join(aux_names) or device_id


def device_names(store: Store) -> dict[str, str]:
    """{device_id: display_name} of every registered device."""
    labels = fleet.device_labels(store)
    ids = {d.device_id for d in store.list_devices()}
    aux = {a.aux_id: a.name for a in fleet.list_auxiliaries(store)}
    on_board = fleet.assigned_auxiliaries(store, ids)
    return {d: display_name(d, labels.get(d), [aux.get(a, a) for a in on_board.get(d, [])]) for d in ids}


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


def self_service_counts(store: Store, process_id: str) -> dict[str, tuple[int, int]]:
    """{aspirant_id: (self-service records with a verdict, of them valid)} of one process."""
    rows = store.query("SELECT v.aspirant_id, COUNT(*), SUM(CASE WHEN v.verdict = ? THEN 1 ELSE 0 END) "
                       "FROM verdicts v JOIN records r ON r.record_id = v.record_id "
                       "WHERE v.process_id = ? AND r.auxiliary_status = ? GROUP BY v.aspirant_id",
                       (verify.VALIDO, process_id, AUX_SELF_SERVICE))
    return {str(a): (int(n), int(ok or 0)) for a, n, ok in rows}


def activation_counts(store: Store, now_ms: int) -> dict[str, int]:
    """{device_id: activation codes issued in the last 24 h} of every active self-service
    device (0 for one that issued none: the median is over all of them)."""
    active = {d.device_id for d in store.list_devices() if d.state == "active"}
    issued = activationsmod.activations_since(store, now_ms - 24 * HOUR_MS)
    return {d: issued.get(d, 0) for d in sorted(fleet.self_service_devices(store) & active)}


def progress_by(store: Store, column: str, process_id: str,
                aspirant_id: str) -> list[tuple[str, str, int, int]]:
    """[(shown name, id, records, valid)] by auxiliary or device for one aspirant: an auxiliary
    the server issued by its name, any other as `auxiliary_label`; a device by `display_name`."""
    assert column in ("auxiliary_id", "device_id")
    status = "r.auxiliary_status" if column == "auxiliary_id" else "NULL"
    rows = store.query(f"SELECT v.{column}, {status}, COUNT(*), "
                       "SUM(CASE WHEN v.verdict = ? THEN 1 ELSE 0 END) FROM verdicts v "
                       "LEFT JOIN records r ON r.record_id = v.record_id "
                       f"WHERE v.process_id = ? AND v.aspirant_id = ? GROUP BY v.{column}, {status} "
                       f"ORDER BY v.{column}", (verify.VALIDO, process_id, aspirant_id))
    if column == "auxiliary_id":
        aux = {a.aux_id: a.name for a in fleet.list_auxiliaries(store)}
        return [(aux[r[0]] if r[1] == AUX_REGISTERED and r[0] in aux else auxiliary_label(r[0], r[1]),
                 _shown(r[0]), int(r[2]), int(r[3] or 0)) for r in rows]
    names = device_names(store)
    return [(names.get(r[0], r[0]), r[0], int(r[2]), int(r[3] or 0)) for r in rows]


SHOWN_MAX = 64  # characters of an unregistered auxiliary id shown (the store keeps all of it)


def _shown(text: str) -> str:
    """Device text for display: control and format characters (tab, CR, bidi overrides...)
    written as escapes, cut to SHOWN_MAX characters."""
    safe = "".join(ascii(c)[1:-1] if unicodedata.category(c)[0] == "C" else c for c in text)
    return safe if len(safe) <= SHOWN_MAX else safe[:SHOWN_MAX - 1] + "…"


def auxiliary_label(auxiliary_id: str, status: str | None) -> str:
    """How the dashboard and the CSV name a record's auxiliary: an id the server issued as it
    is, anything else marked (never trusted for display)."""
    if status == AUX_REGISTERED:
        return auxiliary_id
    if status == AUX_SELF_SERVICE:
        return "(autoservicio)"
    if status == AUX_MISSING:
        return "(sin auxiliar)"
    mark = "(no registrado) " if status == AUX_UNKNOWN else "(sin validar) "  # None: stored unchecked
    return mark + _shown(auxiliary_id)


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
    names = device_names(store)
    stats = {r[0]: (int(r[1]), int(r[2])) for r in
             store.query("SELECT device_id, COUNT(*), MAX(received_ms) FROM records GROUP BY device_id")}
    out = []
    for d in store.list_devices():
        m = hb.get(d.device_id, {})
        n, last = stats.get(d.device_id, (0, None))
        q = _num(m, "queue_depth")
        ver = m.get("app_version")
        hb_ms = int(m["received_ms"]) if m.get("received_ms") else None
        out.append(DeviceRow(d.device_id, d.state, names.get(d.device_id, d.device_id), d.added_ms,
                             n, last, hb_ms,
                             None if q is None else int(q), _num(m, "oldest_unsent_age_s"),
                             _num(m, "battery_pct"), str(ver) if ver is not None else None,
                             m.get("online") if isinstance(m.get("online"), bool) else None))
    return out


@dataclass(frozen=True, slots=True)
class Window:
    """A process's sending window, and the devices working for it (by their auxiliaries)."""

    process_id: str
    name: str
    deadline_ms: int  # end of the period + 24 h
    device_ids: frozenset[str]


def sending_windows(store: Store) -> list[Window]:
    """Each process's sending deadline and the devices working for it: those whose
    auxiliaries (as enrolled) are assigned to the process."""
    aux_procs = {a.aux_id: set(a.processes) for a in fleet.list_auxiliaries(store)}
    assigned = fleet.assigned_auxiliaries(store, {d.device_id for d in store.list_devices()})
    out = []
    for p in list_processes(store):
        devs = frozenset(dev for dev, auxes in assigned.items()
                         if any(p.process_id in aux_procs.get(a, ()) for a in auxes))
        out.append(Window(p.process_id, p.name, p.send_deadline_ms, devs))
    return out


def devices_holding(rows: list[DeviceRow]) -> list[DeviceRow]:
    """Devices whose last heartbeat reports unsent records."""
    return [d for d in rows if d.queue_depth]


def time_left(proc: Process, now_ms: int | None = None) -> tuple[int, int]:
    """(ms left in the collection period, ms left in the 24 h sending window); never negative."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return max(0, proc.ends_ms - now), max(0, proc.send_deadline_ms - now)


# --- CSV export (OWASP "CSV Injection") -------------------------------------------------------

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _formula_like(text: str) -> bool:
    """Starts with a character a spreadsheet reads as a formula, also after leading blanks
    (an import that trims spaces would otherwise expose it)."""
    return text[:1] in FORMULA_START or text.lstrip()[:1] in FORMULA_START


def csv_field(value: object) -> str:
    """One cell, inert in a spreadsheet. Text is never trusted: if it could start a formula it
    gets a leading single quote and is quoted (OWASP); other text is quoted only when it holds
    a comma, a double quote or a line break (RFC 4180). An int is written as the number it is,
    also when negative: it comes from a server column, never from device text, and a spreadsheet
    reads `-5` as a number, not a formula. None is an empty cell."""
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    if _formula_like(text):
        return '"' + ("'" + text).replace('"', '""') + '"'
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_line(cells: Sequence[object]) -> str:
    return ",".join(csv_field(c) for c in cells) + "\n"


CSV_COLUMNS = ("folio", "record_id", "process_id", "aspirant_id", "verdict", "verdict_label", "reason",
               "device_id", "auxiliary_id", "received_ms", "entidad", "distrito_federal", "seccion",
               "auxiliary_status", "received_local", "captured_by", "activation_status")


def verdicts_csv(store: Store, process_id: str | None, aspirant_id: str | None = None,
                 default_tz: str = periods.DEFAULT_TZ) -> str:
    """Every cell through `csv_field`; `auxiliary_id` is the `auxiliary_label`, `auxiliary_status`
    what ingest found (registrado, no_registrado, autoservicio; sin_validar if never checked);
    `received_local` the receive time in the process's zone with its offset (ISO 8601);
    `captured_by` "ciudadano" for a self-service support (else empty) and `activation_status`
    its activation code's status (store_schema.ACT_*; empty for an auxiliary's record)."""
    zones = {p.process_id: p.zone(default_tz) for p in list_processes(store)}
    fallback = periods.zone(default_tz)
    lines = [csv_line(CSV_COLUMNS)]
    for v in verify.verdicts(store, process_id, aspirant_id):
        lines.append(csv_line([
            v.folio, str(v.record_id), v.process_id, v.aspirant_id, v.verdict,
            verify.LABELS.get(v.verdict, ""), v.reason, v.device_id,
            auxiliary_label(v.auxiliary_id, v.auxiliary_status), v.received_ms,
            v.entidad, v.distrito_federal, v.seccion, v.auxiliary_status or "sin_validar",
            periods.show_iso(v.received_ms, zones.get(v.process_id, fallback)),
            CAPTURED_BY_CITIZEN if v.auxiliary_status == AUX_SELF_SERVICE else "", v.activation_status]))
    return "".join(lines)
