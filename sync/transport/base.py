"""What the sync agent needs from a transport, and the errors transports raise.

A transport moves envelopes out and hands the server's ack bytes back through
``on_ack``; it never erases anything itself. The agent verifies each ack with
the outbox (signature, device, record, envelope hash) before any erase.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sync.outbox.outbox import OutboxItem

AckSink = Callable[[bytes, str], None]          # (ack bytes, transport name)
ClockSink = Callable[[int, int, str], None]     # (server ms, device ms at that moment, source)


class TransportDown(Exception):
    """The connection is gone or could not be made; back off and retry later."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RecordHeld(Exception):
    """The server could not take this one record (malformed, too large); keep it, report it."""


@dataclass(frozen=True)
class TLSFiles:
    ca: Path
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """Only the deployment CA is trusted (pinned); hostnames are checked; our cert is sent."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca))
        ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx


class Transport(Protocol):
    name: str
    window: int  # how many envelopes may await their ack at once

    def open(self) -> None:
        """Connect (blocking, bounded by a timeout); raise TransportDown on failure."""

    def send(self, item: OutboxItem) -> None:
        """Hand one envelope to the server; raise TransportDown or RecordHeld."""

    def check(self) -> None:
        """Raise TransportDown if the connection was lost since the last call."""

    def heartbeat(self, status: dict[str, object]) -> None:
        """Tell the server how the device is (MQTT: retained status); may do nothing."""

    def close(self, status: dict[str, object] | None = None) -> None:
        """Disconnect; with ``status``, publish it first as the last word (clean stop)."""
