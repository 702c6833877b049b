"""The sync agent's ack side: what is in flight, and erasing only on a verified ack.

Erase happens only in ``AckTracker.drain``, through ``Outbox.acknowledge_many``, which
verifies the server's signature, the device, the record and the envelope hash first. A
PUBACK or an HTTP 200 by itself erases nothing. See docs/sync.md.
"""

from __future__ import annotations

import logging
import queue
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sync.agent.state import now_ms
from sync.outbox.outbox import OutboxItem
from sync.wire.ack import parse_ack
from sync.wire.errors import AckReason, AckRejected

if TYPE_CHECKING:
    from sync.agent.settings import AgentOptions
    from sync.agent.status import StatusKeeper
    from sync.outbox.outbox import Outbox
    from sync.wire.ack import Ack, AckVerifier

log = logging.getLogger("fieldkit.sync")


@dataclass
class Sent:
    """A record of the current connection not yet acknowledged: its body sent, or a resend
    query out about it (``asking``: the server may hold it already; no body sent since)."""

    item: OutboxItem
    sent_mono: float           # when its body was last sent, or the query about it
    sent_ms: int
    tries: int = 0             # bodies sent in this connection
    asking: bool = False
    asked: bool = False        # ever asked about: its ack's time says nothing of now

    def due(self, o: AgentOptions) -> float:
        if self.asking:
            return self.sent_mono + o.query_wait_s
        # Doubling per unanswered resend (cap 32x): a record the server never acks (damaged on
        # disk, say) costs a resend every ~10 min, not every ack timeout, and blocks no other.
        return self.sent_mono + o.ack_timeout_s * 2 ** min(max(self.tries, 1) - 1, 5)


class InFlight:
    """The records of this connection awaiting their ack, and the body bytes among them."""

    def __init__(self) -> None:
        self.entries: dict[uuid.UUID, Sent] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def body_bytes(self) -> int:
        """Envelope bytes sent and not yet acknowledged: what a cut can make go again."""
        return sum(len(s.item.envelope) for s in self.entries.values() if not s.asking)

    def bodies(self) -> int:
        return sum(1 for s in self.entries.values() if not s.asking)

    def sent(self, item: OutboxItem) -> Sent:
        prev = self.entries.get(item.record_id)
        s = Sent(item, time.monotonic(), now_ms(), (prev.tries if prev else 0) + 1,
                 asked=prev is not None and prev.asked)
        self.entries[item.record_id] = s
        return s

    def asked(self, item: OutboxItem) -> None:
        prev = self.entries.get(item.record_id)
        self.entries[item.record_id] = Sent(item, time.monotonic(), now_ms(),
                                            prev.tries if prev else 0, asking=True, asked=True)

    def fit(self, items: list[OutboxItem], window_bytes: int) -> list[OutboxItem]:
        """The first of `items` whose bodies fit beside those in flight within `window_bytes`:
        a cut can only make that much go again. One always goes when no body is in flight,
        however large."""
        budget, empty = window_bytes - self.body_bytes(), self.bodies() == 0
        out: list[OutboxItem] = []
        used = 0
        for i in items:
            if used + len(i.envelope) > budget and not (empty and not out):
                break
            out.append(i)
            used += len(i.envelope)
        return out

    def asking(self) -> list[Sent]:
        return [s for s in self.entries.values() if s.asking]

    def due(self, o: AgentOptions, now: float, *, acks_async: bool) -> list[Sent]:
        """Entries past their wait: every unanswered query; bodies only where acks come
        apart from the send (a synchronous transport has its answer or an error already)."""
        return [s for s in self.entries.values() if now >= s.due(o) and (acks_async or s.asking)]

    def first_due(self, o: AgentOptions, *, acks_async: bool) -> float | None:
        dues = [s.due(o) for s in self.entries.values() if acks_async or s.asking]
        return min(dues) if dues else None


class AckTracker:
    """Ack bytes in from the transports (any thread), verified and erased on the agent thread."""

    def __init__(self, verifier: AckVerifier, keeper: StatusKeeper, revoked: Callable[[str], None],
                 on_acked: Callable[[Ack, float | None], None] | None = None) -> None:
        self._verifier = verifier
        self._keeper = keeper
        self._revoked = revoked
        self._on_acked = on_acked
        self._queue: queue.SimpleQueue[tuple[bytes, str, bool]] = queue.SimpleQueue()
        self._rejected_logged: dict[AckReason, float] = {}
        self.window = InFlight()

    def put(self, data: bytes, source: str, *, fresh: bool = False) -> None:
        """``fresh``: the ack answers a send of this connection just now (its time sets the
        clock); a stored ack handed back by a resend query is not."""
        self._queue.put((data, source, fresh))

    def drain(self, outbox: Outbox | None) -> list[Ack]:
        """Verify the acks waiting and erase their records; the acks that erased something."""
        batch: list[tuple[bytes, str, bool]] = []
        while True:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if not batch or outbox is None:
            for b in batch:  # outbox not open yet: keep them for later
                self._queue.put(b)
            return []
        done, refused = outbox.acknowledge_many([b for b, _, _ in batch], self._verifier)
        wall = now_ms()
        n_refused = 0
        fresh = _fresh_sources(batch)
        for ack in done:
            sent = self.window.entries.pop(ack.record_id, None)
            if self._on_acked is not None:
                self._on_acked(ack, None if sent is None else time.monotonic() - sent.sent_mono)
            if ack.verdict == "rechazado:dispositivo_revocado":
                self._revoked(ack.verdict)
            if ack.verdict.startswith("rechazado"):
                n_refused += 1
                log.warning("el servidor rechazó %s en definitiva (%s); borrado del dispositivo",
                            ack.folio, ack.verdict)
            src = fresh.get(ack.record_id)
            if sent is not None and sent.item.attempts == 0 and sent.tries == 1 and not sent.asked and src:
                # First send ever, never asked about, the ack pushed to us for it: received_ms
                # is fresh, server time within our round trip.
                self._keeper.clock(ack.received_ms, (sent.sent_ms + wall) // 2, f"{src}-ack")
        bad = [e for e in refused if e.reason is not AckReason.UNKNOWN_RECORD]
        for e in bad:
            last = self._rejected_logged.get(e.reason, 0.0)
            if time.monotonic() - last > 60:  # an attacker must not flood the log either
                log.warning("ack rechazado, no se borra nada: %s", e)
                self._rejected_logged[e.reason] = time.monotonic()
        s = self._keeper.state
        if done:
            self._keeper.update(
                acked_total=s.acked_total + len(done), refused_total=s.refused_total + n_refused,
                last_success_ms=wall, last_success_server_ms=wall + (s.clock_offset_ms or 0)
                if s.clock_offset_ms is not None else None)
        if bad:
            self._keeper.update(rejected_acks=s.rejected_acks + len(bad))
        return done


def _fresh_sources(batch: list[tuple[bytes, str, bool]]) -> dict[uuid.UUID, str]:
    """Record id -> transport, for the acks of `batch` pushed as the answer to a send (not
    handed back by a resend query): only their times may set the clock."""
    out: dict[uuid.UUID, str] = {}
    for data, src, fresh in batch:
        if fresh:
            try:
                out[parse_ack(data)[0].record_id] = src
            except AckRejected:
                continue  # verification refuses it too
    return out
