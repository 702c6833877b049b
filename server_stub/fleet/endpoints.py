"""Fleet endpoints on the mutual-TLS records listener (HTTPS-only devices use these).

- Any request from a revoked device's certificate (except `POST /v1/records`,
  which keeps its signed refusal ack): 403 `{"error": "device_revoked"}`.
- `POST /v1/status`: JSON heartbeat (same object as the MQTT retained status);
  204. Stored in `device_heartbeats` with via = "https".
- `GET /v1/commands?after=<seq>`: 200, `application/cbor`, a CBOR array of
  signed command byte strings (sync/wire/command.py), oldest first.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

import cbor2

from server_stub.core.asgi import Receive, Scope, Send, json_object, read_body, respond, send_json
from server_stub.core.store import Store
from server_stub.fleet import command_issue as commands
from server_stub.fleet import tables as fleet

REVOKED = {"error": "device_revoked", "message": "dispositivo revocado"}


class FleetEndpoints:
    def __init__(self, store: Store) -> None:
        self.store = store
        fleet.ensure_schema(store)

    async def __call__(self, scope: Scope, receive: Receive, send: Send, cn: str) -> bool:
        path, method = scope["path"], scope["method"]
        if path == "/v1/records":
            return False
        dev = await asyncio.to_thread(self.store.get_device, cn)
        if dev is not None and dev.state == "revoked":
            await send_json(send, 403, REVOKED)
            return True
        if path == "/v1/status" and method == "POST":
            body = await read_body(receive, fleet.MAX_STATUS_BYTES)
            if body is None:
                await send_json(send, 413, {"error": "too_large"})
                return True
            status = json_object(body)
            if status is None:
                await send_json(send, 400, {"error": "bad_status"})
                return True
            if dev is None:
                await send_json(send, 403, {"error": "unknown_device"})
                return True
            await asyncio.to_thread(fleet.record_heartbeat, self.store, cn, status, "https")
            await respond(send, 204, b"", "application/json")
            return True
        if path == "/v1/commands" and method == "GET":
            q = parse_qs((scope.get("query_string") or b"").decode("latin-1"))
            after = q.get("after", ["0"])[0]
            pending = await asyncio.to_thread(commands.pending_commands, self.store, cn,
                                              int(after) if after.isdigit() else 0)
            await respond(send, 200, cbor2.dumps([c.command for c in pending]), "application/cbor")
            return True
        return False
