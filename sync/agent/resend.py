"""No blind resends: ask the server which records it holds before sending a body again.

A record whose body went out on an earlier connection (``attempts > 0``), or whose ack has
not come within its timeout, may well be stored at the server already: its ack was lost
with the link, or is still queued at the broker. Sending ~50 KB again to learn that costs
the auxiliary's data plan. So the agent first sends a resend query (sync/wire/ack_query.py)
naming those records by id and envelope hash; the answer brings the stored acks (verified
and erased like any other) and lists the records the server does not hold, whose bodies
then go. An answer that does not come within ``query_wait_s`` sends the bodies anyway:
the query can cost a little time, never a record.
"""

from __future__ import annotations

import logging
import queue
import time
import uuid
from collections.abc import Callable, Sequence

from sync.outbox.outbox import OutboxItem
from sync.transport.base import Transport
from sync.wire.ack_query import (
    MAX_QUERY_ITEMS,
    AckQueryError,
    decode_answer,
    encode_query,
    new_query,
)

log = logging.getLogger("fieldkit.sync")

QUERY_MEMORY = 64   # outstanding query ids remembered per connection


class ResendQueries:
    """The queries of the current connection and the answers coming back (any thread)."""

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self._answers: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._open: dict[bytes, float] = {}   # query id -> when it was sent
        self.asked_total = 0                  # records asked about (a figure for benchmarks)

    def put(self, data: bytes, _source: str = "") -> None:
        """An answer's bytes, from a transport."""
        self._answers.put(data)

    def new_connection(self) -> None:
        self._open.clear()

    def ask(self, t: Transport, items: Sequence[OutboxItem]) -> None:
        """Send the queries about `items` (raises TransportDown like a send)."""
        for i in range(0, len(items), MAX_QUERY_ITEMS):
            q = new_query(self.device_id, ((it.record_id, it.envelope_sha256)
                                           for it in items[i:i + MAX_QUERY_ITEMS]))
            if len(self._open) >= QUERY_MEMORY:
                self._open.pop(next(iter(self._open)))
            self._open[q.query_id] = time.monotonic()
            self.asked_total += len(q.items)
            t.query(encode_query(q))

    def drain(self, put_ack: Callable[[bytes], None]) -> set[uuid.UUID]:
        """Hand the answers' acks to the ack tracker; the records to send now (not held).

        Acks count whichever query they answer (each is verified before any erase); a
        "missing" counts only from a query of this connection, so a stale answer queued at
        the broker since an earlier one cannot make a body go twice."""
        missing: set[uuid.UUID] = set()
        while True:
            try:
                data = self._answers.get_nowait()
            except queue.Empty:
                return missing
            try:
                a = decode_answer(data)
            except AckQueryError as e:
                log.warning("respuesta de reenvío malformada, se ignora: %s", e)
                continue
            for ack in a.acks:
                put_ack(ack)
            if self._open.pop(a.query_id, None) is not None:
                missing.update(a.missing)
