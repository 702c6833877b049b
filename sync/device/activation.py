"""Asking the server for a self-service activation code (docs/self-service.md).

API for the kiosk's self-service screens (blocking: call it on a worker thread):

    request_activation(config, cic, email, seccion, model, *, timeout_s=15.0, lang=None) -> Requested
        `POST <server.https_url>/v1/activations` over mutual TLS, exactly as the HTTPS transport
        talks to the server (the deployment CA pinned, the device certificate sent). The server
        e-mails the code; the device learns only its public `ref`, its expiry and where it went.
        Raises ActivationRefused(msg): `msg` is a message code `activation.<reason>` for the
        screen (bad_cic, bad_email, no_server, offline, too_many (args: minutes; a count),
        not_in_roll, not_self_service, revoked, bad_request, server_error); `detail` is for logs.

The CIC and the e-mail are checked here before anything is sent (the same rules the record and
the server apply), and never logged.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from sync.common.msg import Msg
from sync.device.config import DeviceConfig
from sync.transport.base import TLSFiles, TransportDown
from sync.transport.dns import getaddrinfo_within
from sync.transport.https import mtls_request, pinned_session, retry_after
from sync.wire import activation as proto
from sync.wire.record import valid_email

log = logging.getLogger("fieldkit.device.activation")

MODELS = ("", "E", "F", "G", "H")  # the card models the server takes ('' when unknown)
# The server's 403 refusals (docs/self-service.md, "Activation request") -> the screen's codes.
_REFUSALS_403 = {"not_self_service": "activation.not_self_service", "device_revoked": "activation.revoked",
                 "unknown_device": "activation.revoked"}


@dataclass(frozen=True)
class Requested:
    """An activation the server issued: the code went by e-mail to `sent_to` (masked)."""

    ref: str          # the code's first 2 characters: which pending activation a typed code answers
    expires_ms: int   # Unix ms
    sent_to: str      # "c•••@g•••.com"


class ActivationRefused(Exception):
    """No code was issued. `msg`: what the screen says; `detail`: the server's words or the
    network error, for logs; `retry_after_s`: with activation.too_many."""

    def __init__(self, msg: Msg, detail: str = "", retry_after_s: int | None = None) -> None:
        super().__init__(f"{msg.code}: {detail}" if detail else msg.code)
        self.msg = msg
        self.detail = detail
        self.retry_after_s = retry_after_s


def request_activation(config: DeviceConfig, cic: str, email: str, seccion: str, model: str, *,
                       timeout_s: float = 15.0, lang: str | None = None) -> Requested:
    """`seccion`: the card's sección (digits) or ''; `model`: E, F, G, H or ''; `lang`: the
    e-mail's language (default: the config's locale)."""
    if not proto.valid_cic(cic):
        raise ActivationRefused(Msg("activation.bad_cic"))
    email = email.strip()
    if not valid_email(email):
        raise ActivationRefused(Msg("activation.bad_email"))
    if (seccion and not (seccion.isascii() and seccion.isdigit())) or model not in MODELS:
        raise ActivationRefused(Msg("activation.bad_request"), "sección o modelo de credencial no válidos")
    base = config.server.https_url.rstrip("/")
    if not base:
        raise ActivationRefused(Msg("activation.no_server"), "falta server.https_url")
    body = {"v": proto.PROTOCOL_VERSION, "cic": cic, "email": email, "seccion": seccion, "model": model,
            "lang": lang or config.locale}
    tls = TLSFiles(config.keys.ca, config.keys.client_cert, config.keys.client_key)
    resp = _post(base, tls, body, timeout_s)
    return _answer(resp)


def _post(base: str, tls: TLSFiles, body: dict[str, Any], timeout_s: float) -> requests.Response:
    u = urlsplit(base)
    try:
        if u.hostname:  # bounded: getaddrinfo has no timeout of its own
            getaddrinfo_within(u.hostname, u.port or 443, timeout_s)
        with pinned_session() as s:
            return mtls_request(s, "POST", base + proto.PATH, tls, timeout_s, json=body)
    except (TransportDown, requests.RequestException, OSError) as e:
        log.warning("activation request: no answer from %s: %s", base, type(e).__name__)
        raise ActivationRefused(Msg("activation.offline"), f"{type(e).__name__}: {str(e)[:200]}") from None


def _answer(resp: requests.Response) -> Requested:
    try:
        data = resp.json()
    except ValueError:
        data = None
    data = data if isinstance(data, dict) else {}
    status, error = resp.status_code, str(data.get("error") or "")
    detail = f"HTTP {status} {error}: {str(data.get('message') or '')[:200]}".strip()
    if status == 201:
        ref, expires, sent_to = data.get("ref"), data.get("expires_ms"), data.get("sent_to")
        if (isinstance(ref, str) and len(ref) == proto.REF_CHARS and all(c in proto.ALPHABET for c in ref)
                and isinstance(expires, int) and not isinstance(expires, bool) and isinstance(sent_to, str)):
            return Requested(ref, expires, sent_to)
        raise ActivationRefused(Msg("activation.server_error"), "respuesta 201 mal formada")
    log.warning("activation request refused: %s", detail)
    if status == 429:
        wait = retry_after(resp)
        if wait is None and isinstance(data.get("retry_after_s"), int):
            wait = float(data["retry_after_s"])
        seconds = max(1, int(wait or 60))
        minutes = max(1, math.ceil(seconds / 60))
        raise ActivationRefused(Msg("activation.too_many", {"minutes": minutes}, n=minutes), detail, seconds)
    if status >= 500:
        raise ActivationRefused(Msg("activation.server_error"), detail)
    if status == 403:  # any other 403: this device may not ask
        raise ActivationRefused(Msg(_REFUSALS_403.get(error, "activation.revoked")), detail)
    if status == 422:
        raise ActivationRefused(Msg("activation.not_in_roll"), detail)
    if status == 400:
        raise ActivationRefused(Msg("activation.bad_request"), detail)
    # 404 (a server without the endpoint) or anything else unexpected: the server's side.
    raise ActivationRefused(Msg("activation.server_error"), detail)
