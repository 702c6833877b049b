"""Fleet endpoints on the mutual-TLS records listener (HTTPS-only devices use these).

- Any request from a revoked device's certificate (except `POST /v1/records`,
  which keeps its signed refusal ack): 403 `{"error": "device_revoked"}`.
- `POST /v1/status`: JSON heartbeat (same object as the MQTT retained status);
  204. Stored in `device_heartbeats` with via = "https".
- `GET /v1/commands?after=<seq>`: 200, `application/cbor`, a CBOR array of
  signed command byte strings (sync/wire/command.py), oldest first.
- `POST /v1/activations`: a self-service device asks for a citizen's activation code
  (server_stub/fleet/activations.py; docs/self-service.md): 201 with the ref, or the
  contract's JSON refusal (403 `unknown_device` / `not_self_service`, 400, 422, 429, 503).
"""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import parse_qs

import cbor2

from server_stub.core.asgi import Receive, Scope, Send, json_object, read_body, respond, send_json
from server_stub.core.config import ServerConfig
from server_stub.core.store import Store, StoreError
from server_stub.fleet import activations
from server_stub.fleet import command_issue as commands
from server_stub.fleet import tables as fleet
from sync.wire.activation import PATH as ACTIVATIONS_PATH

log = logging.getLogger("fieldkit.server.fleet")

REVOKED = {"error": "device_revoked", "message": "dispositivo revocado"}
UNKNOWN_DEVICE = {"error": "unknown_device", "message": "dispositivo no registrado"}
NOT_SELF_SERVICE = {"error": "not_self_service",
                    "message": "este dispositivo no está dado de alta para autoservicio"}


class FleetEndpoints:
    """`cfg`: the server config (`[self_service]`, the mail settings); without it activation
    codes cannot be sent (503 `no_mail`)."""

    def __init__(self, store: Store, cfg: ServerConfig | None = None) -> None:
        self.store = store
        self.cfg = cfg
        fleet.ensure_schema(store)
        activations.ensure_schema(store)

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
        if path == ACTIVATIONS_PATH:
            await self._activation(receive, send, cn, method, dev is not None)
            return True
        if path == "/v1/commands" and method == "GET":
            q = parse_qs((scope.get("query_string") or b"").decode("latin-1"))
            after = q.get("after", ["0"])[0]
            pending = await asyncio.to_thread(commands.pending_commands, self.store, cn,
                                              int(after) if after.isdigit() else 0)
            await respond(send, 200, cbor2.dumps([c.command for c in pending]), "application/cbor")
            return True
        return False

    async def _activation(self, receive: Receive, send: Send, cn: str, method: str, known: bool) -> None:
        if method != "POST":
            await send_json(send, 405, {"error": "method_not_allowed"}, [(b"allow", b"POST")])
            return
        body = await read_body(receive, activations.MAX_BODY_BYTES)
        if body is None:
            await send_json(send, 413, {"error": "too_large"})
            return
        if not known:
            await send_json(send, 403, UNKNOWN_DEVICE)
            return
        try:
            if not await asyncio.to_thread(fleet.is_self_service, self.store, cn):
                await send_json(send, 403, NOT_SELF_SERVICE)
                return
            req = json_object(body)
            if req is None:
                await send_json(send, 400, {"error": "bad_request", "message": "la solicitud no es JSON"})
                return
            if self.cfg is None:
                raise activations.ActivationError(503, {"error": "no_mail", "message": "el servidor no "
                                                        "tiene correo configurado para enviar códigos"})
            answer = await asyncio.to_thread(activations.request_activation, self.store, self.cfg, cn, req,
                                             int(time.time() * 1000))
        except activations.ActivationError as e:
            await send_json(send, e.status, e.body, e.headers())
            return
        except StoreError as e:
            log.error("activation for %s not issued: %s", cn, e)
            await send_json(send, 503, {"error": "retry", "message": "inténtelo de nuevo en un momento"},
                            [(b"retry-after", b"30")])
            return
        await send_json(send, 201, answer)
