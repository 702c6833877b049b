"""HTTPS records API: a small ASGI app (``POST /v1/records``) behind mutual TLS.

The certificate's CN must be the envelope's device (``server_stub.core.asgi.client_cn``).
Enrollment (`POST /v1/enroll`) is a separate listener without client certificates
(``server_stub.fleet.enrollment``), on the same ``HttpsServer``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from server_stub.core.asgi import (
    Receive,
    Scope,
    Send,
    client_cn,
    header,
    not_http,
    read_body,
    respond,
    send_json,
)
from server_stub.core.store import StoreError
from server_stub.ingest.ingest import Ingestor, Outcome
from sync.wire.ack_query import MAX_QUERY_BYTES, AckQueryError, answer_query, decode_query, encode_answer
from sync.wire.envelope import MAX_ENVELOPE_BYTES

log = logging.getLogger("fieldkit.server.https")

# (scope, receive, send, client CN) -> True when it answered the request.
FleetHandler = Callable[[Scope, Receive, Send, str], Awaitable[bool]]

ACK_MEDIA_TYPE = "application/cbor"
ACCEPTED_MEDIA_TYPES = ("application/cbor", "application/octet-stream")
RETRY_AFTER_S = 30
QUERY_PATH = "/v1/records/query"


class RecordsApp:
    """`POST /v1/records` (envelope in, ack out), `POST /v1/records/query` (which of these
    records do you hold? sync/wire/ack_query.py) and `GET /v1/health`."""

    def __init__(self, ingestor: Ingestor, max_body: int = MAX_ENVELOPE_BYTES,
                 fleet: FleetHandler | None = None) -> None:
        self.ingestor = ingestor
        self.max_body = max_body
        # Fleet endpoints (heartbeats, command polling, revoked check): server_stub/fleet/endpoints.py.
        self.fleet = fleet

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if await not_http(scope, receive, send):
            return
        cn = client_cn(scope)
        if cn is None:  # only reachable if TLS is misconfigured: refuse, never guess
            await send_json(send, 403, {"error": "client_certificate_required"})
            return
        path, method = scope["path"], scope["method"]
        if self.fleet is not None and await self.fleet(scope, receive, send, cn):
            return
        if path == "/v1/health":
            if method != "GET":
                await send_json(send, 405, {"error": "method_not_allowed"}, [(b"allow", b"GET")])
                return
            await send_json(send, 200, {"ok": True, "time_ms": int(time.time() * 1000), "client": cn})
            return
        if path == QUERY_PATH:
            await self._query(scope, receive, send, cn)
            return
        if path != "/v1/records":
            await send_json(send, 404, {"error": "not_found"})
            return
        if method != "POST":
            await send_json(send, 405, {"error": "method_not_allowed"}, [(b"allow", b"POST")])
            return
        if not await _media_ok(scope, send):
            return
        body = await self._read_body(receive, scope)
        if body is None:
            await send_json(send, 413, {"error": "too_large", "max_bytes": self.max_body})
            return
        # Crypto and the database block: keep them off the event loop.
        result = await asyncio.to_thread(self.ingestor.ingest, body, transport="https", peer_device_id=cn)
        if result.outcome is Outcome.ACK:
            assert result.ack is not None
            await respond(send, 200, result.ack, ACK_MEDIA_TYPE)
        elif result.outcome is Outcome.MALFORMED:
            await send_json(send, 400, {"error": "malformed_envelope", "detail": result.detail})
        elif result.outcome is Outcome.DEVICE_MISMATCH:
            await send_json(send, 403, {"error": "device_mismatch", "detail": result.detail})
        else:
            await send_json(send, 503, {"error": "retry", "detail": result.detail},
                        [(b"retry-after", str(RETRY_AFTER_S).encode())])

    async def _query(self, scope: Scope, receive: Receive, send: Send, cn: str) -> None:
        """A resend query (sync/wire/ack_query.py): the stored acks of the records named that
        this server holds, and the ones it does not. Only in the certificate's own name."""
        if scope["method"] != "POST":
            await send_json(send, 405, {"error": "method_not_allowed"}, [(b"allow", b"POST")])
            return
        if not await _media_ok(scope, send):
            return
        body = await read_body(receive, MAX_QUERY_BYTES)
        if body is None:
            await send_json(send, 413, {"error": "too_large", "max_bytes": MAX_QUERY_BYTES})
            return
        try:
            q = decode_query(body)
        except AckQueryError as e:
            await send_json(send, 400, {"error": "malformed_query", "detail": str(e)})
            return
        if q.device_id != cn:
            await send_json(send, 403, {"error": "device_mismatch", "detail": q.device_id})
            return
        try:
            held = await asyncio.to_thread(self.ingestor.held_acks, cn, q.items)
        except StoreError as e:
            await send_json(send, 503, {"error": "retry", "detail": str(e)},
                            [(b"retry-after", str(RETRY_AFTER_S).encode())])
            return
        await respond(send, 200, encode_answer(answer_query(q, held)), ACK_MEDIA_TYPE)

    async def _read_body(self, receive: Receive, scope: Scope) -> bytes | None:
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return None
        return await read_body(receive, self.max_body)


async def _media_ok(scope: Scope, send: Send) -> bool:
    """The body is CBOR (or plain bytes); else a 415 is sent and False returned."""
    media = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
    if media in ACCEPTED_MEDIA_TYPES:
        return True
    await send_json(send, 415, {"error": "unsupported_media_type", "accepted": list(ACCEPTED_MEDIA_TYPES)})
    return False
