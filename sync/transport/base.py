"""What the sync agent needs from a transport, and the errors transports raise.

A transport moves envelopes out and hands the server's ack bytes back through
``on_ack`` (and resend-query answers through ``on_answer``); it never erases anything
itself. The agent verifies each ack with the outbox (signature, device, record, envelope
hash) before any erase. What differs between transports is said here, as attributes and
error types, so the agent never branches on a transport's name or on an error's text.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sync.outbox.outbox import OutboxItem

AckSink = Callable[[bytes, str], None]          # (ack / answer / command bytes, transport name)
ClockSink = Callable[[int, int, str], None]     # (server ms, device ms at that moment, source)


class TransportDown(Exception):
    """The connection is gone or could not be made; back off and retry later."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Unauthorized(TransportDown):
    """The server or broker refused this device's credentials or what it may publish: a
    revoked device looks like this to a transport that cannot say "revoked" itself."""


class RecordHeld(Exception):
    """The server could not take this one record (malformed, too large); keep it, report it."""


@dataclass(frozen=True)
class TLSFiles:
    ca: Path
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """Only the deployment CA is trusted (pinned); hostnames are checked; our cert is sent.

        Made once per set of file contents: offline, the agent reconnects for days, and a
        fresh context costs 20-30 ms of CPU each time (OpenSSL 3 loading its providers and
        the files with cold caches). A renewed certificate changes the files, so a new one."""
        key = (self, tuple(_stamp(p) for p in (self.ca, self.cert, self.key)))
        ctx = _CONTEXTS.get(key)
        if ctx is None:
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca))
            ctx.load_cert_chain(str(self.cert), str(self.key))
            if len(_CONTEXTS) >= 8:  # a device has one set of files; tests run a few
                del _CONTEXTS[next(iter(_CONTEXTS))]
            _CONTEXTS[key] = ctx
        return ctx


def _stamp(p: Path) -> tuple[int, int, int]:
    try:
        st = p.stat()
    except OSError:
        return (0, 0, 0)  # loading then fails with the real error
    return (st.st_ino, st.st_size, st.st_mtime_ns)


_CONTEXTS: dict[tuple[TLSFiles, tuple[tuple[int, int, int], ...]], ssl.SSLContext] = {}


class Transport(Protocol):
    name: str
    window: int  # how many envelopes may await their ack at once
    # True: acks come apart from the send (MQTT), so the agent times them out and asks again;
    # False: when send() returns its ack has been handed over (or it raised).
    acks_async: bool
    # True: this transport tells a revoked device so (DeviceRevoked); False: it only says
    # Unauthorized, and the agent asks a transport that can.
    reports_revocation: bool
    # False once the server or broker refused a resend query (an older server or broker ACL):
    # the agent then sends the bodies, as it did before queries existed.
    queries_ok: bool

    def open(self) -> None:
        """Connect (blocking, bounded by a timeout); raise TransportDown on failure."""

    def send(self, item: OutboxItem) -> None:
        """Hand one envelope to the server; raise TransportDown or RecordHeld."""

    def query(self, data: bytes) -> None:
        """Send a resend query (sync/wire/ack_query.py); its answer comes through
        ``on_answer``, now or later. Raises TransportDown."""

    def check(self) -> None:
        """Raise TransportDown if the connection was lost since the last call."""

    def heartbeat(self, status: dict[str, object]) -> None:
        """Tell the server how the device is (MQTT: retained status); may do nothing."""

    def close(self, status: dict[str, object] | None = None) -> None:
        """Disconnect; with ``status``, publish it first as the last word (clean stop)."""
