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

import datetime as dt
import logging
import threading
import time
import uuid
from dataclasses import dataclass

from server_stub import processes, roll
from server_stub.processes import Aspirant
from server_stub.roll import RollEntry
from server_stub.store import Store, StoreError
from sync.errors import RecordFormatError
from sync.record import ImageKind, Record, decode_record

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
    c = rec.credential
    ident = c.id_ciudadano or (c.ocr[4:] if len(c.ocr) == 13 else "")
    if len(c.cic) == 9 and c.cic.isdigit() and len(ident) == 9 and ident.isdigit():
        return c.cic, ident
    return None


def capture_defects(rec: Record) -> tuple[str, str] | None:
    """(verdict, reason) for the first capture defect, or None."""
    for chk in rec.checks:
        if chk.name == "integrity" and not chk.passed:
            kind = chk.detail.split(":", 1)[0].strip()
            return _INTEGRITY.get(kind, DOCUMENTO_NO_VALIDO), f"integridad: {chk.detail or 'marcada'}"
    reasons = []
    if not any(len(s) for s in rec.signature.strokes):
        reasons.append("sin firma")
    kinds = {i.kind for i in rec.images}
    if ImageKind.SELFIE not in kinds:
        reasons.append("sin fotografía viva del rostro")
    if not {ImageKind.CARD_FRONT, ImageKind.CARD_BACK} <= kinds:
        reasons.append("falta el anverso o el reverso de la credencial")
    live = [c for c in rec.checks if c.name == "liveness"]
    if not live:
        reasons.append("prueba de vida no realizada")
    elif not all(c.passed for c in live):
        reasons.append("prueba de vida fallida")
    if citizen_key(rec) is None:
        reasons.append("CIC o identificador del ciudadano ilegibles")
    return (INCONSISTENCIA, "; ".join(reasons)) if reasons else None


def classify(rec: Record, entry: RollEntry | None, aspirant: Aspirant | None) -> Stage1:
    """Stage 1 for one record (pure)."""
    key = citizen_key(rec)
    citizen = f"{key[0]}:{key[1]}" if key else ""
    if aspirant is None:
        return Stage1(PENDIENTE, f"proceso {rec.process_id!r} o aspirante {rec.aspirant_id!r} no definido",
                      citizen, entry)
    defect = capture_defects(rec)
    if defect is not None:
        return Stage1(defect[0], defect[1], citizen, entry)
    if entry is None:
        return Stage1(NO_ENCONTRADO, "CIC + identificador no están en el padrón", citizen, None)
    if entry.estatus.startswith("baja_"):
        cause = entry.estatus.removeprefix("baja_").replace("_", " ")
        return Stage1(BAJA, f"baja por {cause}", citizen, entry)
    if not entry.in_lista_nominal:
        return Stage1(PADRON_SIN_LISTA, "en padrón electoral pero no en lista nominal", citizen, entry)
    year = dt.datetime.fromtimestamp(rec.captured_at_ms / 1000, dt.UTC).year
    if entry.vigencia < year:
        return Stage1(NO_VIGENTE, f"vigencia {entry.vigencia} anterior a la captura ({year})", citizen, entry)
    if not aspirant.in_scope(entry.entidad, entry.distrito_federal, entry.municipio):
        where = f"entidad {entry.entidad}, distrito {entry.distrito_federal}, municipio {entry.municipio}"
        return Stage1(FUERA_DE_AMBITO, f"{where} fuera de {aspirant.scope_label}", citizen, entry)
    return Stage1(CANDIDATE, "", citizen, entry)


class Verifier:
    """Classifies records that have no verdict yet; call `run_once` or run it as a thread."""

    def __init__(self, store: Store, *, batch: int = 200, interval_s: float = 0.5) -> None:
        self.store = store
        self.batch = batch
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        ensure_schema(store)

    def run_once(self) -> int:
        """Verify up to `batch` pending records; returns how many (0: nothing to do or busy)."""
        s = self.store
        asp = {(a.process_id, a.aspirant_id): a for a in processes.list_aspirants(s)}
        with s.tx() as conn:
            if s.kind == "postgresql":
                got = conn.execute("SELECT pg_try_advisory_xact_lock(7711199)").fetchone()[0]
                if not got:
                    return 0
            rows = conn.execute(s.sql(
                "SELECT r.record_id, r.received_ms, r.record FROM records r LEFT JOIN verdicts v "
                "ON v.record_id = r.record_id WHERE v.record_id IS NULL "
                "ORDER BY r.received_ms, r.record_id LIMIT ?"), (self.batch,)).fetchall()
            if not rows:
                return 0
            recs: list[tuple[bytes, int, Record]] = []
            for rid, received, blob in rows:
                try:
                    recs.append((bytes(rid), int(received), decode_record(bytes(blob))))
                except RecordFormatError as e:  # stored records were validated at ingest
                    log.error("stored record %s does not decode: %s", uuid.UUID(bytes=bytes(rid)), e)
            q = s.sql("SELECT " + ", ".join(roll.ROLL_COLUMNS)
                      + " FROM roll WHERE cic = ? AND identificador = ?")
            ins = s.sql(f"INSERT INTO verdicts ({_COLS}) VALUES ({', '.join('?' * 17)}) "
                        "ON CONFLICT (record_id) DO NOTHING")
            groups: set[tuple[str, str]] = set()
            now = int(time.time() * 1000)
            for rid, received, rec in recs:
                key = citizen_key(rec)
                r = conn.execute(q, key).fetchone() if key else None
                entry = RollEntry(*r) if r else None
                st = classify(rec, entry, asp.get((rec.process_id, rec.aspirant_id)))
                e = st.entry
                conn.execute(ins, (rid, rec.process_id, rec.aspirant_id, st.citizen, st.verdict,
                                   VALIDO if st.verdict == CANDIDATE else st.verdict, st.reason,
                                   e.entidad if e else None, e.distrito_federal if e else None,
                                   e.municipio if e else None, e.seccion if e else None, received,
                                   rec.captured_at_ms, rec.device_id, rec.auxiliary_id, rec.folio, now))
                if st.verdict == CANDIDATE:
                    groups.add((rec.process_id, st.citizen))
            for g in sorted(groups):
                _regroup(s, conn, g, now)
        return len(rows)

    def run_until_idle(self, max_rounds: int = 100_000) -> int:
        total = 0
        for _ in range(max_rounds):
            n = self.run_once()
            if n == 0:
                break
            total += n
        return total

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once() >= self.batch
            except StoreError as e:
                log.error("verification paused: %s", e)
                busy = False
            except Exception:
                log.exception("verification round failed")
                busy = False
            if not busy:
                self._stop.wait(self.interval_s)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="verifier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None


def _regroup(s: Store, conn: object, group: tuple[str, str], now: int) -> None:
    """First candidate of (process, citizen) counts; later ones are duplicates."""
    rows = conn.execute(s.sql(  # type: ignore[attr-defined]
        "SELECT record_id, aspirant_id, folio, verdict, reason FROM verdicts WHERE process_id = ? "
        "AND citizen = ? AND stage1 = ? ORDER BY received_ms, record_id"), (*group, CANDIDATE)).fetchall()
    first_by_asp: dict[str, str] = {}
    winner: tuple[str, str] | None = None
    upd = s.sql("UPDATE verdicts SET verdict = ?, reason = ?, updated_ms = ? WHERE record_id = ?")
    for rid, asp, folio, old_v, old_r in rows:
        if winner is None:
            winner = (asp, folio)
            v, reason = VALIDO, "en lista nominal"
        elif asp == winner[0]:
            v, reason = DUPLICADO, f"cuenta el folio {first_by_asp.get(asp, winner[1])}, recibido antes"
        else:
            v, reason = OTRO_ASPIRANTE, f"ya apoya a {winner[0]} (folio {winner[1]})"
        first_by_asp.setdefault(asp, folio)
        if (v, reason) != (old_v, old_r):
            conn.execute(upd, (v, reason, now, rid))  # type: ignore[attr-defined]


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


def verdicts(store: Store, process_id: str | None = None, aspirant_id: str | None = None) -> list[VerdictRow]:
    where, params = [], []
    if process_id:
        where.append("process_id = ?")
        params.append(process_id)
    if aspirant_id:
        where.append("aspirant_id = ?")
        params.append(aspirant_id)
    sql = ("SELECT record_id, process_id, aspirant_id, verdict, reason, folio, device_id, auxiliary_id, "
           "received_ms, entidad, distrito_federal, seccion FROM verdicts"
           + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY received_ms, record_id")
    return [VerdictRow(uuid.UUID(bytes=bytes(r[0])), *r[1:]) for r in store.query(sql, tuple(params))]  # type: ignore[arg-type]


def counts(store: Store) -> dict[str, int]:
    return {r[0]: int(r[1]) for r in store.query("SELECT verdict, COUNT(*) FROM verdicts GROUP BY verdict")}
