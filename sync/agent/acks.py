"""The sync agent's ack side: what is in flight, and erasing only on a verified ack.

A mixin of ``SyncAgent`` (sync/agent/agent.py); ``_drain_acks`` runs on the agent thread,
called from the loop. Erase happens only here, through ``Outbox.acknowledge_many``,
which verifies the server's signature, the device, the record and the envelope hash
first. A PUBACK or an HTTP 200 by itself erases nothing. See docs/sync.md.
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
from sync.wire.errors import AckReason

if TYPE_CHECKING:
    from sync.agent.state import AgentState
    from sync.outbox.outbox import Outbox
    from sync.wire.ack import Ack, AckVerifier

log = logging.getLogger("fieldkit.sync")


@dataclass
class Sent:
    """A record sent on the current connection and not yet acknowledged."""

    item: OutboxItem
    sent_mono: float
    sent_ms: int
    tries: int = 1  # sends in this connection

    def due(self, ack_timeout_s: float) -> float:
        # Doubling per unanswered resend (cap 32x): a record the server never acks (damaged on
        # disk, say) costs a resend every ~10 min, not every ack timeout, and blocks no other.
        return self.sent_mono + ack_timeout_s * 2 ** min(self.tries - 1, 5)


class AgentAcks:
    # Provided by SyncAgent (and its other mixins).
    state: AgentState
    _acks: queue.SimpleQueue[tuple[bytes, str]]
    _outbox: Outbox | None
    _verifier: AckVerifier
    _on_acked: Callable[[Ack, float | None], None] | None
    _rejected_logged: dict[AckReason, float]
    _drain_commands: Callable[[], None]
    _revoked: Callable[..., None]
    _clock: Callable[[int, int, str], None]
    _update: Callable[..., None]

    def _drain_acks(self, window: dict[uuid.UUID, Sent]) -> bool:
        self._drain_commands()
        batch: list[tuple[bytes, str]] = []
        while True:
            try:
                batch.append(self._acks.get_nowait())
            except queue.Empty:
                break
        if not batch or self._outbox is None:
            for b in batch:  # outbox not open yet: keep them for later
                self._acks.put(b)
            return False
        done, refused = self._outbox.acknowledge_many([b for b, _ in batch], self._verifier)
        wall = now_ms()
        n_refused = 0
        via_mqtt = any(src == "mqtt" for _, src in batch)
        for ack in done:
            sent = window.pop(ack.record_id, None)
            if self._on_acked is not None:
                self._on_acked(ack, None if sent is None else time.monotonic() - sent.sent_mono)
            if ack.verdict == "rechazado:dispositivo_revocado":
                self._revoked(ack.verdict)
            if ack.verdict.startswith("rechazado"):
                n_refused += 1
                log.warning("el servidor rechazó %s en definitiva (%s); borrado del dispositivo",
                            ack.folio, ack.verdict)
            if sent is not None and sent.item.attempts == 0 and sent.tries == 1 and via_mqtt:
                # First send ever, so received_ms is fresh: server time within our round trip.
                self._clock(ack.received_ms, (sent.sent_ms + wall) // 2, "mqtt-ack")
        bad = [e for e in refused if e.reason is not AckReason.UNKNOWN_RECORD]
        for e in bad:
            last = self._rejected_logged.get(e.reason, 0.0)
            if time.monotonic() - last > 60:  # an attacker must not flood the log either
                log.warning("ack rechazado, no se borra nada: %s", e)
                self._rejected_logged[e.reason] = time.monotonic()
        if done:
            s = self.state
            self._update(acked_total=s.acked_total + len(done), refused_total=s.refused_total + n_refused,
                         last_success_ms=wall, last_success_server_ms=wall + (s.clock_offset_ms or 0)
                         if s.clock_offset_ms is not None else None)
        if bad:
            self._update(rejected_acks=self.state.rejected_acks + len(bad))
        return bool(done)
