"""The one ingest function both transports call: envelope bytes in, signed ack out.

Order of checks, and why:
1. parse (no keys) — garbage gets a clear error and no ack (nothing to name);
2. transport binding — the TLS client CN / MQTT topic must name the envelope's
   device, else no ack (another device cannot make us ack in its name);
3. stored already? — the same bytes get the stored ack back, without
   re-verifying or re-decrypting (cheap resends, identical acks after crashes);
4. registry + signature — unknown, revoked, or bad signature: refused for good;
5. HPKE open — a failure may come from a server key change, so it is *retryable*
   and never refused for good;
6. record checks — malformed plaintext: refused for good;
7. store with the signed ack, in one statement; a concurrent or earlier winner's
   ack is what every caller gets.
Refused envelopes are kept whole in the refusals table with their ack.

The auxiliary id is the one identifier in a record the device chooses (the device id is
the certificate's CN, checked in 2 and 4; process and aspirant ids are matched against
the defined processes by the verifier). Before storing, each batch's auxiliary ids are
checked once against the auxiliaries the server assigned to the sending device
(`settle.auxiliary_status`): any other id is stored as sent but flagged `no_registrado`, and the
dashboard never shows it unmarked. A citizen's record (`captured_by` "ciudadano", empty
auxiliary id) is `autoservicio` only from a device provisioned for self-service, flagged
`sin_auxiliar` from any other; an empty id without it is `sin_auxiliar` from a self-service
device, and so is a riding coordinator's id there (no auxiliary captures on it), and
`autoservicio` only from an older device enrolled with no auxiliaries.

A citizen's record, and any record from a self-service device (whatever its `captured_by`: no
record from such a device skips the code), is stored with auxiliary_status NULL and checked
right after the commit: `server_stub.ingest.settle` (which also holds the auxiliary-status rule).
"""

from __future__ import annotations

import enum
import logging
import os
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from cryptography.hazmat.primitives.asymmetric import ed25519

from server_stub.core.config import SelfServiceSection
from server_stub.core.store import RecordRow, RefusalRow, Store, StoredAck, StoreError
from server_stub.core.store_schema import AUX_MISSING, AUX_UNKNOWN
from server_stub.fleet.registry import device_key
from server_stub.ingest.settle import Settler
from server_stub.verify.lookup_keys import record_keys
from sync.wire import envelope as env
from sync.wire.ack import Ack, sign_ack
from sync.wire.activation import CAPTURED_BY_CITIZEN
from sync.wire.envelope_open import ServerPrivateKey, open_envelope
from sync.wire.errors import (
    EnvelopeDecryptError,
    EnvelopeFormatError,
    EnvelopeSignatureError,
)
from sync.wire.record import Record

log = logging.getLogger("fieldkit.server.ingest")

VERDICT_RECEIVED = "recibido"
REFUSED_UNKNOWN_DEVICE = "rechazado:dispositivo_desconocido"
REFUSED_REVOKED = "rechazado:dispositivo_revocado"
REFUSED_BAD_SIGNATURE = "rechazado:firma_invalida"
REFUSED_MALFORMED = "rechazado:malformado"
REFUSED_CONFLICT = "rechazado:conflicto"

FAULT_CRASH_AFTER_STORE = "crash-after-store"
FAULT_EXIT_CODE = 86


class Outcome(enum.Enum):
    ACK = "ack"  # `ack` holds signed ack bytes (received, or refused for good)
    MALFORMED = "malformed_envelope"  # not an envelope: no ack possible
    DEVICE_MISMATCH = "device_mismatch"  # transport identity ≠ envelope's device
    RETRY = "retry"  # cannot decide now (key change, store down): ask again later


@dataclass(frozen=True, slots=True)
class IngestResult:
    outcome: Outcome
    ack: bytes | None = None
    device_id: str = ""  # the envelope's device (where an MQTT ack goes)
    verdict: str = ""
    detail: str = ""
    stored_new: bool = False  # this call stored the record (not a resend)


def _receipt_id() -> str:
    return "AC-" + secrets.token_hex(6).upper()


def validate_record(record: Record) -> None:
    """Server-side checks beyond the decoder's: fields the later stages rely on.
    An empty auxiliary id is allowed (self-service); a citizen's record (captured_by) must have it empty."""
    for name in ("process_id", "aspirant_id"):
        if not getattr(record, name):
            raise EnvelopeFormatError(f"record has an empty {name}")
    if record.captured_at_ms <= 0:
        raise EnvelopeFormatError("record has no capture time")
    if record.captured_by not in ("", CAPTURED_BY_CITIZEN):
        raise EnvelopeFormatError(f"record has an unknown captured_by {record.captured_by[:20]!r}")
    if record.captured_by and record.auxiliary_id:
        raise EnvelopeFormatError("a record the citizen captured has no auxiliary id")


_INT64 = 2**63


def unstorable(row: RecordRow) -> str | None:
    """What a signed, well-formed record may still carry that a store column cannot hold:
    PostgreSQL text refuses NUL, BIGINT stops at 2^63. Refused for good, never retried."""
    texts = (row.device_id, row.folio, row.process_id, row.aspirant_id, row.auxiliary_id, *(row.keys or ()))
    if any("\x00" in t for t in texts if t):
        return "record has a NUL character in a text field"
    if not all(-_INT64 <= n < _INT64 for n in (row.created_ms, row.received_ms, row.captured_ms)):
        return "record has a time out of range"
    return None


class Ingestor:
    def __init__(
        self,
        store: Store,
        seal_keys: Sequence[ServerPrivateKey],
        sign_key: ed25519.Ed25519PrivateKey,
        *,
        fault: str | None = None,
        clock: Callable[[], float] = time.time,
        max_wrong: int = SelfServiceSection().max_wrong,
    ) -> None:
        if not seal_keys:
            raise ValueError("at least one sealing key is needed")
        self.store = store
        self.seal_keys = list(seal_keys)
        self.sign_key = sign_key
        self.fault = fault
        self.clock = clock
        self.max_wrong = max_wrong  # [self_service] max_wrong: wrong codes before an activation dies
        self.settler = Settler(store, max_wrong, self._now_ms)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _sign(self, h: env.EnvelopeHeader, sha: bytes, verdict: str, now_ms: int) -> bytes:
        return sign_ack(Ack(h.record_id, h.device_id, h.folio, now_ms, verdict, _receipt_id(), sha),
                        self.sign_key)

    def _refuse(self, data: bytes, h: env.EnvelopeHeader, sha: bytes, verdict: str, detail: str,
                transport: str) -> IngestResult:
        now = self._now_ms()
        ack = self.store.insert_refusal(RefusalRow(
            sha, h.record_id, h.device_id, verdict, detail, now, transport, data,
            self._sign(h, sha, verdict, now)))
        log.warning("refused %s from %s via %s: %s (%s)", h.record_id, h.device_id, transport,
                    verdict, detail)
        return IngestResult(Outcome.ACK, ack, h.device_id, verdict, detail)

    def ingest(self, data: bytes, *, transport: str, peer_device_id: str) -> IngestResult:
        """Never raises for bad input; StoreError becomes RETRY."""
        return self.ingest_many([(data, peer_device_id)], transport=transport)[0]

    def ingest_many(self, items: Sequence[tuple[bytes, str]], *, transport: str) -> list[IngestResult]:
        """Ingest (envelope, peer device) pairs, storing the new records in one transaction.

        One commit (one fsync) per batch instead of per record; each ack is only returned
        after the commit that holds its record. Results are in the order of ``items``."""
        results: list[IngestResult | RecordRow] = []
        opened: dict[bytes, Record] = {}  # envelope SHA-256 -> the opened record of a row to store
        for data, peer in items:
            try:
                results.append(self._prepare(data, transport, peer, opened))
            except StoreError as e:
                results.append(self._store_down(e))
            except Exception as e:  # a bug must cost this envelope, not its batch
                log.exception("ingest of a %d-byte envelope from %s failed", len(data), peer)
                results.append(IngestResult(Outcome.RETRY, detail=f"internal error: {type(e).__name__}"))
        results, checked = self._check_auxiliaries(results, opened)
        # A row whose activation is checked is stored unsettled (NULL); the check sets its status.
        final = {r.envelope_sha256: r.auxiliary_status for r in results
                 if isinstance(r, RecordRow) and r.envelope_sha256 in checked}
        results = [replace(r, auxiliary_status=None)
                   if isinstance(r, RecordRow) and r.envelope_sha256 in final else r for r in results]
        rows = [r for r in results if isinstance(r, RecordRow)]
        stored = self._insert(rows)
        try:  # the batch is committed: whatever fails now must not cost its acks
            new = [(r.record_id, final[r.envelope_sha256] or AUX_MISSING, opened[r.envelope_sha256])
                   for r in rows if r.envelope_sha256 in final
                   and isinstance(w := stored.get(id(r)), StoredAck) and w.ack == r.ack]
            self.settler.after_batch(new, any(isinstance(w, StoredAck) for w in stored.values()))
        except Exception:
            log.exception("settling stored records failed; left for the sweep")
            self.settler.sweep_due = True
        out: list[IngestResult] = []
        for r in results:
            if not isinstance(r, RecordRow):
                out.append(r)
                continue
            winner = stored.get(id(r))
            try:
                out.append(self._finish(r, winner, transport) if isinstance(winner, StoredAck)
                           else self._store_down(winner or StoreError("not stored")))
            except StoreError as e:
                out.append(self._store_down(e))
        return out

    def settle_unsettled(self, min_age_ms: int = 10_000, every_ms: int = 5_000) -> int:
        """Rows left unsettled, settled with no new batch (the verifier's round; `Settler`)."""
        return self.settler.settle_unsettled(min_age_ms, every_ms)

    def held_acks(self, device_id: str, items: Sequence[tuple[uuid.UUID, bytes]]) -> list[bytes | None]:
        """For a device's resend query (sync/wire/ack_query.py): the stored ack of each record
        it names that this server holds from those very envelope bytes (stored, or refused for
        good), else None. Only the device's own records answer: another device's record or
        refusal, or the same id from other bytes, is "not held" (the device's send then meets
        the usual checks). Two statements for the whole query. Raises StoreError: the caller
        answers nothing and the device sends the bodies after its wait."""
        stored = self.store.find_records([rid for rid, _ in items])
        refused = self.store.find_refusals([sha for _, sha in items])
        out: list[bytes | None] = []
        for rid, sha in items:
            s = stored.get(rid)
            r = refused.get(sha)
            if s is not None and s.device_id == device_id and s.envelope_sha256 == sha:
                out.append(s.ack)
            elif r is not None and r[0] == rid and r[1] == device_id:
                out.append(r[2])
            else:
                out.append(None)
        return out

    def _check_auxiliaries(self, results: list[IngestResult | RecordRow], opened: dict[bytes, Record],
                           ) -> tuple[list[IngestResult | RecordRow], set[bytes]]:
        """Set each row's auxiliary status (one look-up for the batch's ids); and the envelope
        hashes of the rows whose activation is to be checked."""
        rows = [r for r in results if isinstance(r, RecordRow)]
        if not rows:
            return results, set()
        try:
            statuses = iter(self.settler.statuses([
                (r.device_id, r.auxiliary_id, opened[r.envelope_sha256].captured_by == CAPTURED_BY_CITIZEN)
                for r in rows]))
        except StoreError as e:
            return [self._store_down(e) if isinstance(r, RecordRow) else r for r in results], set()
        out: list[IngestResult | RecordRow] = []
        checked: set[bytes] = set()
        for r in results:
            if isinstance(r, RecordRow):
                status, check = next(statuses)
                if status in (AUX_UNKNOWN, AUX_MISSING):
                    log.warning("record %s from %s: auxiliary id not assigned to the device (%d chars), "
                                "flagged %s", r.record_id, r.device_id, len(r.auxiliary_id), status)
                r = replace(r, auxiliary_status=status)
                if check:
                    checked.add(r.envelope_sha256)
            out.append(r)
        return out, checked

    def _insert(self, rows: list[RecordRow]) -> dict[int, StoredAck | StoreError]:
        """One transaction for all; if it fails, each row on its own, so that one row the
        store refuses (or a store that comes back meanwhile) does not cost the others."""
        if not rows:
            return {}
        try:
            return {id(r): w for r, w in zip(rows, self.store.insert_records(rows), strict=True)}
        except StoreError as e:
            if len(rows) == 1:
                return {id(rows[0]): e}
        out: dict[int, StoredAck | StoreError] = {}
        for r in rows:
            try:
                out[id(r)] = self.store.insert_record(r)
            except StoreError as e:
                out[id(r)] = e
        return out

    @staticmethod
    def _store_down(e: StoreError) -> IngestResult:
        log.error("store unavailable: %s", e)
        return IngestResult(Outcome.RETRY, detail=f"store unavailable: {e}")

    def _prepare(self, data: bytes, transport: str, peer: str,
                 records: dict[bytes, Record]) -> IngestResult | RecordRow:
        """Every check up to the insert: a final result, or the row to store (its record also
        goes into `records`, by envelope hash, for the activation check)."""
        try:
            h, _body, _sig = env.parse(data)
        except EnvelopeFormatError as e:
            log.warning("malformed envelope (%d bytes) via %s from %s: %s", len(data), transport, peer, e)
            return IngestResult(Outcome.MALFORMED, detail=str(e))
        if h.device_id != peer:
            log.warning("%s %r sent an envelope of device %r", transport, peer, h.device_id)
            return IngestResult(Outcome.DEVICE_MISMATCH, device_id=h.device_id,
                                detail=f"connection is {peer!r}, envelope names {h.device_id!r}")
        sha = env.envelope_hash(data)
        stored = self.store.find_record(h.record_id)
        if stored is not None and stored.envelope_sha256 == sha:
            return IngestResult(Outcome.ACK, stored.ack, h.device_id, VERDICT_RECEIVED, "resend")
        refused = self.store.find_refusal(sha)
        if refused is not None:
            return IngestResult(Outcome.ACK, refused, h.device_id, "", "resend of a refused envelope")

        reg = device_key(self.store, h.device_id)
        if reg is None:
            return self._refuse(data, h, sha, REFUSED_UNKNOWN_DEVICE, "device not in the registry", transport)
        pub, state = reg
        if state != "active":
            return self._refuse(data, h, sha, REFUSED_REVOKED, f"device state {state}", transport)
        try:
            opened = open_envelope(data, self.seal_keys, lambda d: pub if d == h.device_id else None)
            validate_record(opened.record)
        except EnvelopeSignatureError as e:
            return self._refuse(data, h, sha, REFUSED_BAD_SIGNATURE, str(e), transport)
        except EnvelopeDecryptError as e:
            # Could be a server key change: never final.
            log.error("cannot open %s from %s: %s", h.record_id, h.device_id, e)
            return IngestResult(Outcome.RETRY, device_id=h.device_id, detail=str(e))
        except EnvelopeFormatError as e:
            return self._refuse(data, h, sha, REFUSED_MALFORMED, str(e), transport)
        if stored is not None:
            return self._refuse(data, h, sha, REFUSED_CONFLICT,
                                f"record id already stored from device {stored.device_id}", transport)

        now = self._now_ms()
        rec = opened.record
        ack = self._sign(h, sha, VERDICT_RECEIVED, now)
        row = RecordRow(h.record_id, h.device_id, h.folio, h.created_ms, now, transport, rec.process_id,
                        rec.aspirant_id, rec.auxiliary_id, rec.captured_at_ms, sha, data,
                        opened.plaintext, ack, record_keys(rec).as_row())
        if (why := unstorable(row)) is not None:
            return self._refuse(data, h, sha, REFUSED_MALFORMED, why, transport)
        records[sha] = rec
        return row

    def _finish(self, row: RecordRow, winner: StoredAck, transport: str) -> IngestResult:
        if winner.envelope_sha256 != row.envelope_sha256:
            h, _body, _sig = env.parse(row.envelope)
            return self._refuse(row.envelope, h, row.envelope_sha256, REFUSED_CONFLICT,
                                f"record id already stored from device {winner.device_id}", transport)
        new = winner.ack == row.ack
        if new and self.fault == FAULT_CRASH_AFTER_STORE:
            # Test hook: the record is committed, the ack never leaves.
            log.error("fault injection: exiting after storing %s", row.record_id)
            os._exit(FAULT_EXIT_CODE)
        if new:
            log.info("stored %s from %s via %s", row.record_id, row.device_id, transport)
        return IngestResult(Outcome.ACK, winner.ack, row.device_id, VERDICT_RECEIVED, stored_new=new)
