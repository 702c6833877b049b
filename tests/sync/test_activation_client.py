"""The device's activation request (sync/device/activation.py) against a real TLS server: the
stdlib's HTTP server behind the test PKI's server certificate, asking for a client certificate
from the same CA, answering with the contract's responses (docs/self-service.md §3). It records
what the client sent: path, headers, JSON body and the certificate's CN."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kiosk.i18n import render
from server_stub.deploy import pki as pkimod
from server_stub.deploy.broker_process import free_port
from sync.common.msg import Msg
from sync.device.activation import ActivationRefused, Requested, request_activation
from sync.device.config import DeviceConfig, parse_config
from sync.wire.activation import PATH
from tests.helpers.mqtt import PKIPaths

DEVICE = "dev-0001"
CIC, EMAIL = "123456789", "persona@example.org"
EXPIRES = 1_796_000_000_000


@dataclass
class Seen:
    path: str
    content_type: str
    body: Any
    client_cn: str


@dataclass
class Canned:
    """What the server answers next, and what it was sent."""

    status: int = 201
    body: dict[str, Any] = field(default_factory=lambda: {"v": 1, "ref": "K7", "expires_ms": EXPIRES,
                                                           "sent_to": "p•••@e•••.org"})
    headers: dict[str, str] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)


def _handler(canned: Canned) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            peer = self.connection.getpeercert()
            cn = next(v for rdn in peer["subject"] for k, v in rdn if k == "commonName")
            canned.seen.append(Seen(self.path, self.headers.get("Content-Type", ""), json.loads(raw), cn))
            out = json.dumps(canned.body).encode()
            self.send_response(canned.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            for k, v in canned.headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _serve(canned: Canned, cert: Path, key: Path, ca: Path) -> tuple[ThreadingHTTPServer, threading.Thread]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    ctx.load_verify_locations(str(ca))
    ctx.verify_mode = ssl.CERT_REQUIRED  # mutual TLS, as the records listener
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(canned))
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    return httpd, t


@pytest.fixture
def server(pki: PKIPaths) -> Iterator[tuple[Canned, str]]:
    canned = Canned()
    httpd, t = _serve(canned, pki.server_cert, pki.server_key, pki.ca_cert)
    try:
        yield canned, f"https://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        t.join(10)


def _config(pki: PKIPaths, tmp_path: Path, url: str) -> DeviceConfig:
    ident = pki.devices[DEVICE]
    text = "\n".join([
        "processes = []", "auxiliaries = []",
        "[device]", f'id = "{DEVICE}"', 'folio_prefix = "7KQ2"', 'data_dir = "data"',
        "[server]", f'https_url = "{url}"', 'transport = "https"',
        "[keys]", f'ca = "{pki.ca_cert}"', f'client_cert = "{ident.cert}"', f'client_key = "{ident.key}"',
        'signing_key = "k/sign.key"', 'outbox_key = "k/outbox.key"', 'server_seal_public = "k/seal.pub"',
        'server_sign_public = "k/sign.pub"',
        "[self_service]", "enabled = true", ""])
    return parse_config(text, tmp_path / "device.toml")


def _refused(cfg: DeviceConfig, **kw: str) -> ActivationRefused:
    args = {"cic": CIC, "email": EMAIL, "seccion": "1234", "model": "G", **kw}
    with pytest.raises(ActivationRefused) as e:
        request_activation(cfg, args["cic"], args["email"], args["seccion"], args["model"], timeout_s=10)
    return e.value


def test_a_request_is_sent_over_mutual_tls_and_the_answer_read(pki: PKIPaths, tmp_path: Path,
                                                               server: tuple[Canned, str]) -> None:
    canned, url = server
    cfg = _config(pki, tmp_path, url + "/")  # a trailing slash in the config is fine
    got = request_activation(cfg, CIC, " " + EMAIL, "1234", "G", timeout_s=10)
    assert got == Requested("K7", EXPIRES, "p•••@e•••.org")
    [seen] = canned.seen
    assert seen.path == PATH == "/v1/activations"
    assert seen.content_type == "application/json"
    assert seen.client_cn == DEVICE  # the device's own certificate, as the records transport sends
    assert seen.body == {"v": 1, "cic": CIC, "email": EMAIL, "seccion": "1234", "model": "G", "lang": "es"}
    request_activation(cfg, "1234567890", EMAIL, "", "", timeout_s=10, lang="en")
    assert canned.seen[1].body == {"v": 1, "cic": "1234567890", "email": EMAIL, "seccion": "", "model": "",
                                   "lang": "en"}


def test_the_contracts_refusals_become_message_codes(pki: PKIPaths, tmp_path: Path,
                                                     server: tuple[Canned, str]) -> None:
    canned, url = server
    cfg = _config(pki, tmp_path, url)
    canned.status, canned.headers = 429, {"Retry-After": "125"}
    canned.body = {"error": "too_many", "limit": "email", "retry_after_s": 125}
    e = _refused(cfg)
    assert e.msg == Msg("activation.too_many", {"minutes": 3}, n=3) and e.retry_after_s == 125
    assert render(e.msg, lang="es") == "Se pidieron demasiados códigos. Intente de nuevo en 3 minutos."
    canned.headers = {}  # the body's retry_after_s when the header is missing
    canned.body = {"error": "too_many", "limit": "device", "retry_after_s": 30}
    e = _refused(cfg)
    assert e.msg == Msg("activation.too_many", {"minutes": 1}, n=1) and e.retry_after_s == 30
    assert render(e.msg, lang="en") == "Too many codes were asked for. Try again in 1 minute."

    for status, error, code in ((403, "not_self_service", "activation.not_self_service"),
                                (403, "device_revoked", "activation.revoked"),
                                (403, "unknown_device", "activation.revoked"),
                                (422, "not_in_roll", "activation.not_in_roll"),
                                (400, "bad_request", "activation.bad_request"),
                                (503, "no_mail", "activation.server_error"),
                                (500, "", "activation.server_error"),
                                (404, "not_found", "activation.server_error")):
        canned.status, canned.body = status, {"error": error, "message": "palabras del servidor"}
        e = _refused(cfg)
        assert e.msg == Msg(code), (status, error)
        assert f"HTTP {status}" in e.detail and (status >= 500 or "palabras del servidor" in e.detail)
        for lang in ("es", "en"):
            assert render(e.msg, lang=lang) != code  # a text in both catalogues
    # A 201 that is not the contract's is the server's fault, not a code the kiosk keeps.
    canned.status, canned.body = 201, {"v": 1, "ref": "K", "expires_ms": EXPIRES, "sent_to": "x"}
    assert _refused(cfg).msg == Msg("activation.server_error")
    assert len(canned.seen) == 11


def test_bad_input_is_refused_before_anything_is_sent(pki: PKIPaths, tmp_path: Path,
                                                      server: tuple[Canned, str]) -> None:
    canned, url = server
    cfg = _config(pki, tmp_path, url)
    assert _refused(cfg, cic="12345678").msg == Msg("activation.bad_cic")
    assert _refused(cfg, cic="12345678a").msg == Msg("activation.bad_cic")
    assert _refused(cfg, email="persona@").msg == Msg("activation.bad_email")
    assert _refused(cfg, seccion="12a").msg == Msg("activation.bad_request")
    assert _refused(cfg, model="Z").msg == Msg("activation.bad_request")
    assert canned.seen == []
    for code in ("activation.bad_cic", "activation.bad_email"):
        assert render(Msg(code), lang="es") != code and render(Msg(code), lang="en") != code


def test_no_server_is_offline_and_another_servers_certificate_too(pki: PKIPaths, tmp_path: Path) -> None:
    # Nothing listens on the port.
    cfg = _config(pki, tmp_path, f"https://127.0.0.1:{free_port()}")
    e = _refused(cfg)
    assert e.msg == Msg("activation.offline") and "ConnectionError" in e.detail
    # A name that does not resolve.
    e = _refused(_config(pki, tmp_path, "https://no-such-host.invalid"))
    assert e.msg == Msg("activation.offline")
    # A server whose certificate another CA issued: the pinned CA refuses it, nothing is sent.
    other = pkimod.make_ca("another CA")
    cert, key = pkimod.write_issued(pkimod.issue_server_cert(other), tmp_path / "o.crt", tmp_path / "o.key")
    assert key is not None
    canned = Canned()
    httpd, t = _serve(canned, cert, key, pki.ca_cert)
    try:
        e = _refused(_config(pki, tmp_path, f"https://127.0.0.1:{httpd.server_address[1]}"))
    finally:
        httpd.shutdown()
        httpd.server_close()
        t.join(10)
    assert e.msg == Msg("activation.offline") and "SSLError" in e.detail and canned.seen == []
    assert render(e.msg, lang="es") == "No hay conexión con el servidor. Intente de nuevo en un momento."
