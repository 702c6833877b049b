"""ASGI and TLS plumbing every HTTPS listener of the server shares.

uvicorn verifies the client certificate (CERT_REQUIRED against the deployment
CA) but does not hand it to the application. ``TLSH11Protocol`` adds the ASGI
TLS extension (``scope["extensions"]["tls"]["client_cert_chain"]``, leaf
first, PEM) per connection, so an app can check that the certificate's CN is
the envelope's device. ``HttpsServer`` runs one app on uvicorn in a thread:
the records listener, the enrollment listener (no client certificate) and the
dashboard. The helpers answer requests (``respond``, ``send_json``), read
bodies with a limit and headers by name.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import uvicorn
from cryptography import x509
from uvicorn.protocols.http.h11_impl import H11Protocol

from server_stub.deploy import pki

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class TLSH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus the ASGI TLS extension (client certificate only)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_obj = transport.get_extra_info("ssl_object")
        if ssl_obj is None:
            return
        der = ssl_obj.getpeercert(binary_form=True)
        version = ssl_obj.version()
        ext = {
            "server_cert": None,
            "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
            "client_cert_name": None,
            "client_cert_error": None,
            "tls_version": None,
            "cipher_suite": None,
            "fieldkit_tls_version": version,
        }
        inner = self.app

        async def with_tls(scope: Scope, receive: Receive, send: Send) -> None:
            scope["extensions"] = {**(scope.get("extensions") or {}), "tls": ext}
            await inner(scope, receive, send)

        self.app = with_tls


@functools.lru_cache(maxsize=1024)
def _cn_of_pem(pem: str) -> str | None:
    try:
        return pki.cert_common_name(x509.load_pem_x509_certificate(pem.encode()))
    except (ValueError, pki.PKIError):
        return None


def client_cn(scope: Scope) -> str | None:
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    return _cn_of_pem(chain[0]) if chain else None


def header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers") or []:
        if k.lower() == name:
            return bytes(v).decode("latin-1")
    return None


async def respond(send: Send, status: int, body: bytes, media: str,
                   extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode()),
               (b"x-fieldkit-server-time-ms", str(int(time.time() * 1000)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


async def not_http(scope: Scope, receive: Receive, send: Send) -> bool:
    """True when `scope` is not an HTTP request (nothing more for the app to do); a lifespan
    scope is answered here, startup and shutdown alike, until the server shuts down."""
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return True
    return scope["type"] != "http"


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None once it grows past `limit` bytes (a disconnect ends it early)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not msg.get("more_body", False):
            return b"".join(chunks)


def json_object(body: bytes) -> dict[str, Any] | None:
    """`body` parsed as a JSON object; None if it is not JSON or not an object."""
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


async def send_json(send: Send, status: int, obj: dict[str, Any],
                extra: list[tuple[bytes, bytes]] | None = None) -> None:
    await respond(send, status, json.dumps(obj).encode(), "application/json", extra)


class HttpsServer:
    """uvicorn in a background thread (in-process: tests, `fieldkit-server serve`)."""

    def __init__(self, app: ASGIApp, *, host: str, port: int, certfile: Path, keyfile: Path,
                 ca_cert: Path, require_client_cert: bool = True) -> None:
        self.host = host
        config = uvicorn.Config(
            app, host=host, port=port, http=TLSH11Protocol, lifespan="on",
            ssl_certfile=str(certfile), ssl_keyfile=str(keyfile), ssl_ca_certs=str(ca_cert),
            ssl_cert_reqs=ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_NONE,
            # scope["client"] stays the TCP peer: uvicorn would otherwise take X-Forwarded-For
            # from 127.0.0.1 (or $FORWARDED_ALLOW_IPS) as the client. An app that trusts a proxy
            # says which (the dashboard: [dashboard] trusted_proxies).
            proxy_headers=False,
            log_config=None, access_log=False, server_header=False, date_header=True,
            timeout_graceful_shutdown=2,  # a stop waits this long for open keep-alives
        )
        self.config = config
        self.server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        for s in self.server.servers:
            for sock in s.sockets:
                return int(sock.getsockname()[1])
        return int(self.server.config.port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        self.server = uvicorn.Server(self.config)  # a uvicorn.Server runs once
        self.thread = threading.Thread(target=self.server.run, name="https", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError(f"HTTPS server on {self.host}:{self.server.config.port} did not start")
            if time.monotonic() > deadline:
                raise RuntimeError("HTTPS server start timed out")
            time.sleep(0.01)

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout)
            self.thread = None
