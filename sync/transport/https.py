"""HTTPS transport: requests over mutual TLS with the deployment CA pinned.

`POST /v1/records` answers with the signed ack in the body (docs/server.md).
Every answer carries the server's time, which is how a device without a
real-time clock learns the offset of its own clock.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests

from sync.outbox.outbox import OutboxItem
from sync.transport.base import AckSink, ClockSink, RecordHeld, TLSFiles, TransportDown, Unauthorized
from sync.transport.dns import DNS_TIMEOUT_S, getaddrinfo_within

CONTENT_TYPE = "application/cbor"
QUERY_PATH = "/v1/records/query"


def server_time_ms(resp: requests.Response) -> int | None:
    """X-Fieldkit-Server-Time-Ms (ms), else the Date header (s)."""
    ms = resp.headers.get("X-Fieldkit-Server-Time-Ms")
    if ms and ms.isdigit():
        return int(ms)
    date = resp.headers.get("Date")
    if date:
        try:
            return int(email.utils.parsedate_to_datetime(date).timestamp() * 1000)
        except (TypeError, ValueError):
            return None
    return None


def retry_after(resp: requests.Response) -> float | None:
    """The Retry-After header in seconds (the delta form; a date is not understood), or None."""
    v = resp.headers.get("Retry-After", "")
    return float(v) if v.isdigit() else None


def pinned_session() -> requests.Session:
    """A session for `mtls_request`: no proxies or CA bundles from the environment (the CA is
    pinned). Shared with the activation request (sync/device/activation.py)."""
    s = requests.Session()
    s.trust_env = False
    return s


def mtls_request(session: requests.Session, method: str, url: str, tls: TLSFiles,
                 timeout: float | tuple[float, float], **kw: Any) -> requests.Response:
    """One request over mutual TLS: only the deployment CA trusted, the device certificate sent.
    Raises what requests raises."""
    # verify/cert per request: a Session-level verify loses to $REQUESTS_CA_BUNDLE
    # (requests issue #3829), which would silently unpin the CA.
    return session.request(method, url, timeout=timeout, verify=str(tls.ca),
                           cert=(str(tls.cert), str(tls.key)), **kw)


class DeviceRevoked(TransportDown):
    """The server refused this device's certificate for good (HTTP 403 device_revoked)."""


class HttpsTransport:
    name = "https"
    acks_async = False
    reports_revocation = True

    def __init__(self, device_id: str, url: str, tls: TLSFiles, on_ack: AckSink,
                 on_clock: ClockSink, wake: Callable[[], None] | None = None, *,
                 window: int = 16, connect_timeout_s: float = 5.0,
                 read_timeout_s: float = 30.0, on_command: AckSink | None = None,
                 on_answer: AckSink | None = None, dns_timeout_s: float = DNS_TIMEOUT_S) -> None:
        self.device_id = device_id
        self.base = url.rstrip("/")
        self.tls = tls
        self.window = window
        self._on_ack = on_ack
        self._on_clock = on_clock
        self._on_command = on_command  # set: heartbeats go to /v1/status and commands are polled
        self._on_answer = on_answer
        self.queries_ok = True
        # Each request: TCP connect + TLS handshake <= connect_timeout_s, then each wait for
        # the answer <= read_timeout_s (docs/sync.md, "Watchdog").
        self._timeout = (connect_timeout_s, read_timeout_s)
        self._dns_timeout = dns_timeout_s
        self._session: requests.Session | None = None

    def _request(self, method: str, path: str, **kw: Any) -> requests.Response:
        s = self._session
        if s is None:
            raise TransportDown("sin sesión HTTPS")
        t0 = time.time()
        try:
            resp = mtls_request(s, method, self.base + path, self.tls, self._timeout, **kw)
        except requests.RequestException as e:
            raise TransportDown(f"sin conexión con {self.base}: {_short(e)}") from None
        t1 = time.time()
        if resp.status_code == 403 and b"device_revoked" in resp.content[:200]:
            raise DeviceRevoked("dispositivo revocado")
        server_ms = server_time_ms(resp)
        if server_ms is not None:
            # The server stamped its answer somewhere within the round trip: take the middle.
            self._on_clock(server_ms, int((t0 + t1) * 500), "https-header")
        return resp

    def open(self) -> None:
        u = urlsplit(self.base)
        if u.hostname:  # a bounded lookup first: getaddrinfo itself has no timeout
            getaddrinfo_within(u.hostname, u.port or 443, self._dns_timeout)
        self._session = pinned_session()
        try:
            self._health()
        except TransportDown:
            self.close()
            raise

    def _health(self) -> None:
        resp = self._request("GET", "/v1/health")
        if resp.status_code != 200:
            raise TransportDown(f"el servidor respondió {resp.status_code} a /v1/health",
                                retry_after(resp))

    def send(self, item: OutboxItem) -> None:
        resp = self._request("POST", "/v1/records", data=item.envelope,
                             headers={"Content-Type": CONTENT_TYPE})
        code = resp.status_code
        if code == 200:
            self._on_ack(resp.content, self.name)
        elif code in (400, 413, 415):
            raise RecordHeld(f"HTTP {code}: {resp.text[:200]}")
        elif code == 403:
            raise Unauthorized(f"HTTP 403: el certificado no corresponde al dispositivo ({resp.text[:200]})")
        else:
            raise TransportDown(f"HTTP {code} del servidor", retry_after(resp))

    def query(self, data: bytes) -> None:
        resp = self._request("POST", QUERY_PATH, data=data, headers={"Content-Type": CONTENT_TYPE})
        if resp.status_code == 200:
            if self._on_answer is not None:
                self._on_answer(resp.content, self.name)
        elif resp.status_code == 403:
            raise Unauthorized(f"HTTP 403 a {QUERY_PATH} ({resp.text[:200]})")
        elif resp.status_code >= 500:
            raise TransportDown(f"HTTP {resp.status_code} a {QUERY_PATH}", retry_after(resp))
        else:  # an older server (404), or one that will not take it: the bodies go, as before
            self.queries_ok = False

    def check(self) -> None:
        if self._session is None:
            raise TransportDown("sin sesión HTTPS")

    def heartbeat(self, status: dict[str, object]) -> None:
        if self._on_command is None:
            # A health check keeps "online" and the clock honest.
            self._health()
            return
        # Fleet: the status goes to the server, and pending commands come back (HTTPS-only devices).
        resp = self._request("POST", "/v1/status", json=status)
        if resp.status_code >= 500:
            raise TransportDown(f"HTTP {resp.status_code} a /v1/status", retry_after(resp))
        after = status.get("last_command_seq") or 0
        resp = self._request("GET", f"/v1/commands?after={after}")
        if resp.status_code == 200:
            import cbor2

            try:
                items = cbor2.loads(resp.content)
            except Exception:
                items = []
            for data in items if isinstance(items, list) else []:
                if isinstance(data, bytes):
                    self._on_command(data, self.name)

    def close(self, status: dict[str, object] | None = None) -> None:
        s, self._session = self._session, None
        if s is not None:
            s.close()


def _short(e: Exception) -> str:
    """One stable line per kind of failure (the log compares it to the last one)."""
    text = str(e)
    for needle in ("CERTIFICATE_VERIFY_FAILED", "Connection refused", "timed out", "certificate",
                   "Name or service not known", "Connection reset", "EOF occurred"):
        if needle in text:
            return f"{type(e).__name__} ({needle})"
    return f"{type(e).__name__}: {text[:160]}"
