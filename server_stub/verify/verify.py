"""Verification of stored records against the roll (situación registral).

Two stages, both deterministic:

1. *Per record* (`classify`): capture defects and the roll look-up, in this
   order — integrity flags (fotocopia, simulación, documento no válido),
   inconsistencias (no signature, no live photo, liveness failed or not
   performed, unreadable CIC/identificador), then by CIC + identificador del
   ciudadano: no encontrado, baja (with its cause), en padrón pero no en lista
   nominal, credencial no vigente (vigencia year before the capture year),
   fuera del ámbito geográfico (the aspirant's scope vs the roll's entidad /
   distrito / municipio). What survives is a *candidate*.
   A citizen's self-service record (records.activation_status set at ingest) whose
   activation is not "valida" never counts: `inconsistencia`, "activación no válida (...)",
   before any other check; one whose activation ingest has not checked yet waits (the
   `settle` hook, ingest's, checks those a crash left before each round).
2. *Per citizen and process* (`_regroup`): candidates ordered by server receive
   time (then record id) — the first counts (`valido`), a later one for the
   same aspirant is `duplicado`, for another aspirant `otro_aspirante`.

Verdicts live in the `verdicts` table, never in the ack. A late record (or a
re-imported roll, or a process defined after its records arrived) changes the
verdicts of its group only; `invalidate` drops verdicts so the worker
recomputes them. One verifier runs at a time per store (a PostgreSQL advisory
lock, SQLite's write lock), so several ingest workers never double count.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from server_stub.core.background import RoundThread
from server_stub.core.store import Store
from server_stub.core.store_schema import ACT_VALID, ACTIVATION_WORDS
from server_stub.verify import processes, roll
from server_stub.verify.lookup_keys import (
    PENDING_COLS,
    Pending,
    citizen_of,
    load_pending,
    record_keys,
    roll_many,
    summary,
)
from server_stub.verify.processes import Aspirant
from server_stub.verify.roll import RollEntry
from sync.common import periods
from sync.wire.record import ImageKind, Record

log = logging.getLogger("fieldkit.server.verify")

VALIDO = "valido"
DUPLICADO = "duplicado"
OTRO_ASPIRANTE = "otro_aspirante"
PADRON_SIN_LISTA = "padron_sin_lista"
BAJA = "baja"
FUERA_DE_AMBITO = "fuera_de_ambito"
NO_ENCONTRADO = "no_encontrado"
NO_VIGENTE = "credencial_no_vigente"
FOTOCOPIA = "fotocopia"
SIMULACION = "simulacion"
DOCUMENTO_NO_VALIDO = "documento_no_valido"
INCONSISTENCIA = "inconsistencia"
PENDIENTE = "pendiente"  # process or aspirant not defined on the server yet
CANDIDATE = "candidato"  # stage-1 only: passes every per-record check

LABELS: dict[str, str] = {
    VALIDO: "En lista nominal (válido)",
    DUPLICADO: "Duplicado (mismo aspirante)",
    OTRO_ASPIRANTE: "Ya apoya a otro aspirante",
    PADRON_SIN_LISTA: "En padrón, no en lista nominal",
    BAJA: "Baja del padrón",
    FUERA_DE_AMBITO: "Fuera del ámbito geográfico",
    NO_ENCONTRADO: "No encontrado",
    NO_VIGENTE: "Credencial no vigente",
    FOTOCOPIA: "Fotocopia",
    SIMULACION: "Simulación de credencial",
    DOCUMENTO_NO_VALIDO: "Documento no válido",
    INCONSISTENCIA: "Inconsistencia",
    PENDIENTE: "Pendiente (proceso no definido)",
}
VERDICTS = tuple(LABELS)
_INTEGRITY = {"photocopy": FOTOCOPIA, "screen": SIMULACION, "print": SIMULACION}

SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
    record_id         {blob} PRIMARY KEY,
    process_id        TEXT NOT NULL,
    aspirant_id       TEXT NOT NULL,
    citizen           TEXT NOT NULL,
    stage1            TEXT NOT NULL,
    verdict           TEXT NOT NULL,
    reason            TEXT NOT NULL,
    entidad           {int},
    distrito_federal  {int},
    municipio         {int},
    seccion           {int},
    received_ms       {int} NOT NULL,
    captured_ms       {int} NOT NULL,
    device_id         TEXT NOT NULL,
    auxiliary_id      TEXT NOT NULL,
    folio             TEXT NOT NULL,
    updated_ms        {int} NOT NULL
);
CREATE INDEX IF NOT EXISTS verdicts_group ON verdicts (process_id, citizen, received_ms);
CREATE INDEX IF NOT EXISTS verdicts_aspirant ON verdicts (process_id, aspirant_id, verdict)
"""
_COLS = ("record_id, process_id, aspirant_id, citizen, stage1, verdict, reason, entidad, distrito_federal, "
         "municipio, seccion, received_ms, captured_ms, device_id, auxiliary_id, folio, updated_ms")


@dataclass(frozen=True, slots=True)
class Stage1:
    verdict: str  # CANDIDATE or a final verdict
    reason: str
    citizen: str  # "CIC:identificador" ("" if unreadable)
    entry: RollEntry | None


def ensure_schema(store: Store) -> None:
    roll.ensure_schema(store)
    processes.ensure_schema(store)
    store.ensure_schema(SCHEMA, 7711103)


def citizen_key(rec: Record) -> tuple[str, str] | None:
    """(CIC, identificador del ciudadano) as read on the device, or None."""
    k = record_keys(rec)
    return citizen_of(k.cic, k.ident)


def defects(facts: dict[str, Any], readable: bool) -> tuple[str, str] | None:
    """(verdict, reason) for the first capture defect in a `lookup_keys.summary`, or None."""
    if "integrity_failed" in facts:
        detail = str(facts["integrity_failed"])
        kind = detail.split(":", 1)[0].strip()
        return _INTEGRITY.get(kind, DOCUMENTO_NO_VALIDO), f"integridad: {detail or 'marcada'}"
    reasons = []
    if not facts.get("signed"):
        reasons.append("sin firma")
    kinds = set(facts.get("images", ()))
    if ImageKind.SELFIE.value not in kinds:
        reasons.append("sin fotografía viva del rostro")
    if not {ImageKind.CARD_FRONT.value, ImageKind.CARD_BACK.value} <= kinds:
        reasons.append("falta el anverso o el reverso de la credencial")
    live = facts.get("liveness", "none")
    if live == "none":
        reasons.append("prueba de vida no realizada")
    elif live != "passed":
        reasons.append("prueba de vida fallida")
    if not readable:
        reasons.append("CIC o identificador del ciudadano ilegibles")
    return (INCONSISTENCIA, "; ".join(reasons)) if reasons else None


def back_read_note(facts: dict[str, Any]) -> str:
    """A note for the reason of a record whose back was read without the card's outline (its
    image is the crop the MRZ band implied) or on an outline segmentation did not confirm: whoever
    reviews it knows why it may look cut."""
    notes = {"banda_mrz": "; reverso leído sin contorno (banda MRZ)",
             "contorno_sin_confirmar": "; reverso con contorno sin confirmar"}
    return notes.get(facts.get("lectura_reverso", ""), "")


def capture_defects(rec: Record) -> tuple[str, str] | None:
    """(verdict, reason) for the first capture defect, or None."""
    return defects(summary(rec), citizen_key(rec) is not None)


def classify(rec: Record, entry: RollEntry | None, aspirant: Aspirant | None) -> Stage1:
    """Stage 1 for one record (pure)."""
    return classify_pending(Pending.of(rec), entry, aspirant)


def activation_reason(status: str) -> str:
    return f"activación no válida ({ACTIVATION_WORDS.get(status, status)})"


def classify_pending(p: Pending, entry: RollEntry | None, aspirant: Aspirant | None,
                     tz: ZoneInfo | None = None, activation: str | None = None) -> Stage1:
    """Stage 1 from a record's keys (pure). The reason of a record that does not count says
    when its back was read without the card's outline (`back_read_note`). `tz`: the process's
    zone, whose calendar year the capture falls in (default America/Mexico_City).
    `activation`: records.activation_status (None: an auxiliary's record)."""
    if activation is not None and activation != ACT_VALID:
        key = p.citizen
        return Stage1(INCONSISTENCIA, activation_reason(activation), f"{key[0]}:{key[1]}" if key else "",
                      entry)
    st = _stage1(p, entry, aspirant, tz or periods.zone(None))
    note = back_read_note(p.facts)
    if note and st.verdict not in (CANDIDATE, PENDIENTE):
        return Stage1(st.verdict, st.reason + note, st.citizen, st.entry)
    return st


def _stage1(p: Pending, entry: RollEntry | None, aspirant: Aspirant | None, tz: ZoneInfo) -> Stage1:
    key = p.citizen
    citizen = f"{key[0]}:{key[1]}" if key else ""
    if aspirant is None:
        return Stage1(PENDIENTE, f"proceso {p.process_id!r} o aspirante {p.aspirant_id!r} no definido",
                      citizen, entry)
    defect = defects(p.facts, key is not None)
    if defect is not None:
        return Stage1(defect[0], defect[1], citizen, entry)
    if entry is None:
        return Stage1(NO_ENCONTRADO, "CIC + identificador no están en el padrón", citizen, None)
    if entry.estatus.startswith("baja_"):
        cause = entry.estatus.removeprefix("baja_").replace("_", " ")
        return Stage1(BAJA, f"baja por {cause}", citizen, entry)
    if not entry.in_lista_nominal:
        return Stage1(PADRON_SIN_LISTA, "en padrón electoral pero no en lista nominal", citizen, entry)
    # The year where the support was given: 31 December 20:00 in Mexico City is already
    # 1 January in UTC, and a card valid through that year is still valid that evening.
    year = periods.local_date(p.captured_ms, tz).year
    if entry.vigencia < year:
        return Stage1(NO_VIGENTE, f"vigencia {entry.vigencia} anterior a la captura ({year})", citizen, entry)
    if not aspirant.in_scope(entry.entidad, entry.distrito_federal, entry.municipio):
        where = f"entidad {entry.entidad}, distrito {entry.distrito_federal}, municipio {entry.municipio}"
        return Stage1(FUERA_DE_AMBITO, f"{where} fuera de {aspirant.scope_label}", citizen, entry)
    return Stage1(CANDIDATE, "", citizen, entry)


class Verifier(RoundThread):
    """Classifies records that have no verdict yet; call `run_once` or run it as a thread."""

    _thread_name, _join_s, _log = "verifier", 10.0, log
    _paused, _failed = "verification paused", "verification round failed"

    def __init__(self, store: Store, *, batch: int = 200, interval_s: float = 0.5,
                 default_tz: str = periods.DEFAULT_TZ, settle: Callable[[], object] | None = None) -> None:
        self.store = store
        self.default_tz = default_tz
        # Called before each round: ingest's `settle_unsettled` in `serve`, so records a crash
        # or a failed check left without their activation check do not wait for new traffic.
        self.settle = settle
        super().__init__(interval_s)
        self.batch = batch
        ensure_schema(store)

    def run_once(self) -> int:
        """Verify up to `batch` pending records; returns how many (0: nothing to do or busy)."""
        if self.settle is not None:
            self.settle()
        s = self.store
        asp = {(a.process_id, a.aspirant_id): a for a in processes.list_aspirants(s)}
        zones = {p.process_id: p.zone(self.default_tz) for p in processes.list_processes(s)}
        with s.tx() as conn:
            if s.kind == "postgresql":
                got = conn.execute("SELECT pg_try_advisory_xact_lock(7711199)").fetchone()[0]
                if not got:
                    return 0
            # A row with no auxiliary status is a citizen's whose activation is not checked yet.
            rows = conn.execute(s.sql(
                f"SELECT {PENDING_COLS} FROM records r LEFT JOIN verdicts v "
                "ON v.record_id = r.record_id WHERE v.record_id IS NULL AND r.auxiliary_status IS NOT NULL "
                "ORDER BY r.received_ms, r.record_id LIMIT ?"), (self.batch,)).fetchall()
            if not rows:
                return 0
            pend = load_pending(s, conn, rows)
            acts = _activation_statuses(s, conn, [p.record_id for p in pend])
            entries = roll_many(s, conn, {p.citizen for p in pend if p.citizen})
            ins = s.sql(f"INSERT INTO verdicts ({_COLS}) VALUES ({', '.join('?' * 17)}) "
                        "ON CONFLICT (record_id) DO NOTHING")
            groups: set[tuple[str, str]] = set()
            now = int(time.time() * 1000)
            out = []
            for p in pend:
                entry = entries.get(p.citizen) if p.citizen else None
                st = classify_pending(p, entry, asp.get((p.process_id, p.aspirant_id)),
                                      zones.get(p.process_id), acts.get(p.record_id))
                e = st.entry
                out.append((p.record_id, p.process_id, p.aspirant_id, st.citizen, st.verdict,
                            VALIDO if st.verdict == CANDIDATE else st.verdict,
                            "en lista nominal" if st.verdict == CANDIDATE else st.reason,
                            e.entidad if e else None, e.distrito_federal if e else None,
                            e.municipio if e else None, e.seccion if e else None, p.received_ms,
                            p.captured_ms, p.device_id, p.auxiliary_id, p.folio, now))
                if st.verdict == CANDIDATE:
                    groups.add((p.process_id, st.citizen))
            conn.cursor().executemany(ins, out)
            _regroup(s, conn, groups, now)
        return len(rows)

    def run_until_idle(self, max_rounds: int = 100_000) -> int:
        total = 0
        for _ in range(max_rounds):
            n = self.run_once()
            if n == 0:
                break
            total += n
        return total

    def _round(self) -> bool:
        return self.run_once() >= self.batch


def _activation_statuses(s: Store, conn: Any, record_ids: list[bytes]) -> dict[bytes, str]:
    """{record id: activation_status} of the citizens' records among `record_ids`."""
    out: dict[bytes, str] = {}
    for i in range(0, len(record_ids), 500):
        part = record_ids[i:i + 500]
        for rid, status in conn.execute(s.sql(
                "SELECT record_id, activation_status FROM records WHERE activation_status IS NOT NULL "
                f"AND record_id IN ({', '.join('?' * len(part))})"), tuple(part)).fetchall():
            out[bytes(rid)] = str(status)
    return out


def _regroup(s: Store, conn: Any, groups: set[tuple[str, str]], now: int, chunk: int = 500) -> None:
    """First candidate of (process, citizen) counts; later ones are duplicates. One query per
    process and chunk of citizens (not one per group), one batched update for what changed."""
    by_proc: dict[str, list[str]] = {}
    for proc, citizen in sorted(groups):
        by_proc.setdefault(proc, []).append(citizen)
    changes: list[tuple[str, str, int, Any]] = []
    for proc, citizens in by_proc.items():
        for i in range(0, len(citizens), chunk):
            part = citizens[i:i + chunk]
            rows = conn.execute(s.sql(
                "SELECT citizen, record_id, aspirant_id, folio, verdict, reason FROM verdicts "
                f"WHERE process_id = ? AND stage1 = ? AND citizen IN ({', '.join('?' * len(part))}) "
                "ORDER BY citizen, received_ms, record_id"), (proc, CANDIDATE, *part)).fetchall()
            first_by_asp: dict[str, str] = {}
            winner: tuple[str, str] | None = None
            current = None
            for citizen, rid, asp, folio, old_v, old_r in rows:
                if citizen != current:
                    current, winner, first_by_asp = citizen, None, {}
                if winner is None:
                    winner = (asp, folio)
                    v, reason = VALIDO, "en lista nominal"
                elif asp == winner[0]:
                    first = first_by_asp.get(asp, winner[1])
                    v, reason = DUPLICADO, f"cuenta el folio {first}, recibido antes"
                else:
                    v, reason = OTRO_ASPIRANTE, f"ya apoya a {winner[0]} (folio {winner[1]})"
                first_by_asp.setdefault(asp, folio)
                if (v, reason) != (old_v, old_r):
                    changes.append((v, reason, now, rid))
    if changes:
        conn.cursor().executemany(
            s.sql("UPDATE verdicts SET verdict = ?, reason = ?, updated_ms = ? WHERE record_id = ?"), changes)


def invalidate(store: Store, process_id: str | None = None) -> int:
    """Drop verdicts (all, or of one process) so the verifier recomputes them."""
    ensure_schema(store)
    with store.tx() as conn:
        cur = (conn.execute(store.sql("DELETE FROM verdicts WHERE process_id = ?"), (process_id,))
               if process_id else conn.execute("DELETE FROM verdicts"))
        return int(cur.rowcount)


@dataclass(frozen=True, slots=True)
class VerdictRow:
    record_id: uuid.UUID
    process_id: str
    aspirant_id: str
    verdict: str
    reason: str
    folio: str
    device_id: str
    auxiliary_id: str
    received_ms: int
    entidad: int | None
    distrito_federal: int | None
    seccion: int | None
    # The records row's auxiliary status from ingest (store_schema.AUX_STATUSES); None = not checked.
    auxiliary_status: str | None = None
    # The records row's activation status (store_schema.ACT_*); None for an auxiliary's record.
    activation_status: str | None = None


def verdicts(store: Store, process_id: str | None = None, aspirant_id: str | None = None) -> list[VerdictRow]:
    where, params = [], []
    if process_id:
        where.append("v.process_id = ?")
        params.append(process_id)
    if aspirant_id:
        where.append("v.aspirant_id = ?")
        params.append(aspirant_id)
    sql = ("SELECT v.record_id, v.process_id, v.aspirant_id, v.verdict, v.reason, v.folio, v.device_id, "
           "v.auxiliary_id, v.received_ms, v.entidad, v.distrito_federal, v.seccion, r.auxiliary_status, "
           "r.activation_status "
           "FROM verdicts v LEFT JOIN records r ON r.record_id = v.record_id"
           + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY v.received_ms, v.record_id")
    return [VerdictRow(uuid.UUID(bytes=bytes(r[0])), *r[1:]) for r in store.query(sql, tuple(params))]


def counts(store: Store) -> dict[str, int]:
    return {r[0]: int(r[1]) for r in store.query("SELECT verdict, COUNT(*) FROM verdicts GROUP BY verdict")}
