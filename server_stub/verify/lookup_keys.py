"""What verification needs from a record, extracted once at ingest and kept in the records table
(columns `key_cic`, `key_ident`, `key_seccion`, `key_model`, `key_checks`), so the verifier never
decodes whole records (images included) and can look the roll up for a batch in one query.

`key_checks` is a small JSON summary of the capture facts — no verdicts: what counts as a defect
stays in verify.py (`defects`), so changing that rule needs no re-ingest. Rows stored before these
columns existed have NULLs; the verifier decodes those and backfills the columns.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from server_stub.core.store import Store
from server_stub.core.store_schema import KEY_COLUMNS
from server_stub.verify import roll
from server_stub.verify.roll import RollEntry
from sync.wire.errors import RecordFormatError
from sync.wire.record import BACK_READS, Record, decode_record

log = logging.getLogger("fieldkit.server.verify")

# The integrity checks a record may carry: one for the card (older writers), one per side.
INTEGRITY_CHECKS = ("integrity", "integrity_front", "integrity_back")


@dataclass(frozen=True, slots=True)
class RecordKeys:
    cic: str  # as read on the device ("" if not read)
    ident: str  # identificador del ciudadano (from the QR, or the OCR line's last 9 digits)
    seccion: str
    model: str
    checks: str  # JSON summary, see `summary`

    def citizen(self) -> tuple[str, str] | None:
        """(CIC, identificador) when both are readable, else None."""
        return citizen_of(self.cic, self.ident)

    def as_row(self) -> tuple[str, str, str, str, str]:
        return self.cic, self.ident, self.seccion, self.model, self.checks


def citizen_of(cic: str | None, ident: str | None) -> tuple[str, str] | None:
    if cic and ident and len(cic) == 9 and cic.isdigit() and len(ident) == 9 and ident.isdigit():
        return cic, ident
    return None


LIVENESS_NOT_PERFORMED = "no_realizada"


def summary(rec: Record) -> dict[str, Any]:
    """Capture facts: the first failed integrity check's detail (`integrity`, or the device's
    per side `integrity_front` / `integrity_back`), signature, image kinds, liveness, how
    the back's image was obtained when the record says (`lectura_reverso`), and whether the
    name may be cut to the MRZ's 30 characters (`nombre_truncado`, present only when so)."""
    out: dict[str, Any] = {}
    for chk in rec.checks:
        if chk.name in INTEGRITY_CHECKS and not chk.passed:
            out["integrity_failed"] = chk.detail
            break
    if rec.credential.nombre_truncado:
        out["nombre_truncado"] = True
    if rec.credential.lectura_reverso:
        # A value no device writes (a newer path, a bad record) is kept as "otra", not echoed.
        r = rec.credential.lectura_reverso
        out["lectura_reverso"] = r if r in BACK_READS else "otra"
    # The device writes a challenge it never ran as a failed check marked `no_realizada`
    # (docs/protocol.md, "Checks"): that is "not performed", not "failed".
    live = [c.passed for c in rec.checks if c.name == "liveness" and c.detail != LIVENESS_NOT_PERFORMED]
    out["signed"] = any(len(s) for s in rec.signature.strokes)
    out["images"] = sorted({str(i.kind) for i in rec.images})
    out["liveness"] = "none" if not live else "passed" if all(live) else "failed"
    return out


def record_keys(rec: Record) -> RecordKeys:
    c = rec.credential
    ident = c.id_ciudadano or (c.ocr[4:] if len(c.ocr) == 13 else "")
    return RecordKeys(c.cic, ident, c.seccion, c.model, json.dumps(summary(rec), sort_keys=True,
                                                                   separators=(",", ":")))


@dataclass(frozen=True, slots=True)
class Pending:
    """What stage 1 reads of one stored record (from its key columns, never its images)."""

    record_id: bytes
    received_ms: int
    process_id: str
    aspirant_id: str
    captured_ms: int
    device_id: str
    auxiliary_id: str
    folio: str
    citizen: tuple[str, str] | None
    facts: dict[str, Any]

    @classmethod
    def of(cls, rec: Record, received_ms: int = 0) -> Pending:
        k = record_keys(rec)
        return cls(rec.record_id.bytes, received_ms, rec.process_id, rec.aspirant_id, rec.captured_at_ms,
                   rec.device_id, rec.auxiliary_id, rec.folio, k.citizen(), json.loads(k.checks))


PENDING_COLS = ("r.record_id, r.received_ms, r.process_id, r.aspirant_id, r.captured_ms, r.device_id, "
                 "r.auxiliary_id, r.folio, r.key_cic, r.key_ident, r.key_checks")


def load_pending(s: Store, conn: Any, rows: list[Any]) -> list[Pending]:
    """Pending records from their key columns; rows stored before those existed (NULL keys) are
    decoded once here and their keys written back."""
    out: list[Pending] = []
    legacy = [bytes(r[0]) for r in rows if r[10] is None]
    decoded: dict[bytes, Record] = {}
    if legacy:
        marks = ", ".join("?" * len(legacy))
        q = s.sql(f"SELECT record_id, record FROM records WHERE record_id IN ({marks})")
        for rid, blob in conn.execute(q, tuple(legacy)).fetchall():
            try:
                decoded[bytes(rid)] = rec = decode_record(bytes(blob))
            except RecordFormatError as e:  # stored records were validated at ingest
                log.error("stored record %s does not decode: %s", uuid.UUID(bytes=bytes(rid)), e)
                continue
            conn.execute(s.sql(f"UPDATE records SET {', '.join(c + ' = ?' for c in KEY_COLUMNS)} "
                               "WHERE record_id = ?"), (*record_keys(rec).as_row(), bytes(rid)))
    for rid, received, proc, asp, captured, dev, aux, folio, cic, ident, checks in rows:
        rid = bytes(rid)
        if checks is None:
            if rid in decoded:
                out.append(Pending.of(decoded[rid], int(received)))
            continue
        out.append(Pending(rid, int(received), proc, asp, int(captured), dev, aux, folio,
                           citizen_of(cic, ident), json.loads(checks)))
    return out


def roll_many(s: Store, conn: Any, keys: set[tuple[str, str]]) -> dict[tuple[str, str], RollEntry]:
    """One roll query for a whole batch (uses the unique (cic, identificador) index)."""
    if not keys:
        return {}
    ks = sorted(keys)
    cond = " OR ".join(["(cic = ? AND identificador = ?)"] * len(ks))
    rows = conn.execute(s.sql(f"SELECT {', '.join(roll.ROLL_COLUMNS)} FROM roll WHERE {cond}"),
                        tuple(v for k in ks for v in k)).fetchall()
    out = {}
    for r in rows:
        e = RollEntry(*r)
        out[(e.cic, e.identificador)] = e
    return out
