"""The activation check of stored records: which rows get it, and settling them.

A citizen's record, and any record from a self-service device, is stored with
auxiliary_status NULL; right after its batch commits, `Settler.after_batch` checks its
activation and sets both statuses in one transaction (server_stub.fleet.activations.
settle_records). A crash or a failed check leaves the NULL, which verification and the acuse
wait on; the next stored batch, or the verifier's round (`settle_unsettled`, wired by
`serve`), settles such rows. The one rule for a record's auxiliary status lives here too.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence

from server_stub.core.store import Store, StoreError
from server_stub.core.store_schema import AUX_MISSING, AUX_REGISTERED, AUX_SELF_SERVICE, AUX_UNKNOWN
from server_stub.fleet import activations
from server_stub.fleet import tables as fleet
from sync.wire.activation import CAPTURED_BY_CITIZEN
from sync.wire.errors import RecordFormatError
from sync.wire.record import Record, decode_record

log = logging.getLogger("fieldkit.server.ingest")

_INT64 = 2**63


def auxiliary_status(auxiliary_id: str, own: list[str] | None, known: set[str], *,
                     citizen: bool = False, self_service: bool = False) -> str:
    """The one rule. `own`: the auxiliaries the server assigned to the sending device (None for
    a device registered by hand, outside enrollment: then any id the server issued, `known`);
    `citizen`: captured_by is "ciudadano"; `self_service`: fleet_devices.self_service.
    A citizen's record is `autoservicio` only from a self-service device. An empty id without
    `citizen` is flagged, so an auxiliary cannot pass off a support as self-service, nor a
    self-service device skip the activation code; only an older device enrolled with no
    auxiliaries (and no self-service flag) keeps that marker. A coordinator riding on a
    self-service device captures no supports there: flagged as without auxiliary. A colleague's
    id from another device is flagged too."""
    if citizen:
        return AUX_SELF_SERVICE if self_service else AUX_MISSING
    if self_service and (auxiliary_id == "" or auxiliary_id in (own or ())):
        return AUX_MISSING
    if auxiliary_id == "":
        return AUX_SELF_SERVICE if own == [] and not self_service else AUX_MISSING
    if own is not None:
        return AUX_REGISTERED if auxiliary_id in own else AUX_UNKNOWN
    return AUX_REGISTERED if auxiliary_id in known else AUX_UNKNOWN


class Settler:
    """The ingest's collaborator for statuses and activation checks (one per `Ingestor`)."""

    def __init__(self, store: Store, max_wrong: int, now_ms: Callable[[], int]) -> None:
        self.store = store
        self.max_wrong = max_wrong
        self.now_ms = now_ms
        self._fleet_schema = False  # fleet and activation tables made sure of (on first use)
        # Records stored but not checked may exist: after a start (a crash may have left some)
        # and after a failed check. Looked for after the next stored batch, and by
        # `settle_unsettled` (the verifier's round) without one.
        self.sweep_due = True
        self._next_settle_ms = 0  # `settle_unsettled`'s next time

    def after_batch(self, new: Sequence[tuple[uuid.UUID, str, Record | None]], stored_any: bool) -> None:
        """A batch committed: check its new rows, and sweep older ones when due."""
        if new:
            self.settle(new)
        if self.sweep_due and stored_any:
            self.sweep()

    def settle(self, items: Sequence[tuple[uuid.UUID, str, Record | None]]) -> None:
        """`activations.settle_records`; any failure (the batch is committed) leaves the rows to `_sweep`."""
        try:
            activations.settle_records(self.store, items, self.max_wrong, self.now_ms())
        except Exception as e:
            log.error("activation check of %d records failed, retried later: %s", len(items), e,
                      exc_info=not isinstance(e, StoreError))
            self.sweep_due = True

    def settle_unsettled(self, min_age_ms: int = 10_000, every_ms: int = 5_000) -> int:
        """Settle rows left unsettled for `min_age_ms` (younger ones are a batch's own, about to
        be settled) with no new batch: the verifier's round calls this (`serve`), at most once
        per `every_ms` (a row that keeps failing logs that often). Returns how many rows were
        looked at; never raises (a failure waits for the next call)."""
        now = self.now_ms()
        if now < self._next_settle_ms:
            return 0
        self._next_settle_ms = now + every_ms
        return self.sweep(received_before_ms=now - min_age_ms)

    def sweep(self, limit: int = 200, received_before_ms: int = _INT64 - 1) -> int:
        """Settle rows stored unsettled and left so (a crash, a failed check); the rows looked at."""
        self.sweep_due = False
        try:
            rows = self.store.query("SELECT record_id, device_id, auxiliary_id, record FROM records "
                                    "WHERE auxiliary_status IS NULL AND received_ms <= ? "
                                    "ORDER BY received_ms LIMIT ?", (received_before_ms, limit))
            if not rows:
                return 0
            recs: list[Record | None] = []
            for rid, dev, _aux, blob in rows:
                try:
                    recs.append(decode_record(bytes(blob)))
                except RecordFormatError:
                    log.error("stored record %s from %s does not decode", uuid.UUID(bytes=bytes(rid)), dev)
                    recs.append(None)
            statuses = self.statuses([
                (str(d), str(a), rec is not None and rec.captured_by == CAPTURED_BY_CITIZEN)
                for (_r, d, a, _b), rec in zip(rows, recs, strict=True)])
        except Exception as e:
            log.error("unsettled records not looked up: %s", e, exc_info=not isinstance(e, StoreError))
            self.sweep_due = True
            return 0
        log.warning("settling %d records stored without their activation check", len(rows))
        self.settle([(uuid.UUID(bytes=bytes(r[0])), st, rec if checked else None)
                      for r, (st, checked), rec in zip(rows, statuses, recs, strict=True)])
        if len(rows) == limit:
            self.sweep_due = True
        return len(rows)

    def statuses(self, items: list[tuple[str, str, bool]]) -> list[tuple[str, bool]]:
        """(`auxiliary_status`, activation to check) of each (device id, auxiliary id, citizen's
        record): one look-up of the devices' assignments for all, one of the ids issued, one of
        the self-service devices when a device was enrolled. Checked: a citizen's record, and any
        record from a self-service device. Raises StoreError."""
        if not self._fleet_schema:
            fleet.ensure_schema(self.store)
            activations.ensure_schema(self.store)
            self._fleet_schema = True
        own = fleet.assigned_auxiliaries(self.store, {d for d, _a, _c in items})
        # Only devices registered by hand (no assignment) are checked fleet-wide.
        known = fleet.known_auxiliaries(self.store, {a for d, a, _c in items if d not in own})
        # A self-service device always has a fleet row, so an `own` entry.
        selfserv = fleet.self_service_devices(self.store) if own else set()
        return [(auxiliary_status(a, own.get(d), known, citizen=c, self_service=d in selfserv),
                 c or d in selfserv) for d, a, c in items]

