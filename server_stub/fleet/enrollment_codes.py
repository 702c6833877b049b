"""Enrollment codes: issue one for a set of auxiliaries (CLI `admin enroll-code`, dashboard).

API (stable; the dashboard calls it):

    issue_enrollment_code(store: Store, cfg: ServerConfig, auxiliaries: list[str], *,
                          ttl_s: int | None = None, server_url: str | None = None,
                          now_ms: int | None = None) -> IssuedCode
        Raises fleet.FleetError (Spanish, one line) for unknown auxiliaries or
        auxiliaries of different aspirants.
    IssuedCode.code        "7KQ2-M9XB-T4RP-3HDA-0ZCW" (what a person types)
    IssuedCode.uri         the QR content (code + CA fingerprint + server URL)
    IssuedCode.expires_ms  Unix ms
    IssuedCode.qr_png(path, scale=8) -> Path;  IssuedCode.qr_svg() -> str (inline in HTML)
    IssuedCode.qr_text() -> str  (for a terminal)
    list_codes(store) -> list[CodeRow]  (no secrets: id prefix, state, device)
    dashboard_issue(store, form: dict[str, str]) -> str
        The dashboard's hook: form["auxiliary"] = comma-separated auxiliary ids (the
        dashboard joins its multi-select); returns the Spanish text to show (the code, or
        why none was issued). Needs `configure(cfg)`, which `fieldkit-server serve` calls.
    dashboard_issue_code(store, form) -> (text, IssuedCode | None)
        The same, with the issued code itself (the dashboard shows it and its QR).

The server never stores the code: only ``code_id`` (HKDF of it, for lookup) and
``mac_key`` (HKDF of it, to authenticate the bundle). Codes are single use,
valid ``[fleet].code_ttl_s`` (24 h), and bind to the first device that redeems them.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from pathlib import Path

import segno
from cryptography.hazmat.primitives import serialization

from server_stub.core.config import ServerConfig
from server_stub.core.store import Store
from server_stub.deploy import pki
from server_stub.fleet import tables as fleet
from server_stub.fleet.command_issue import device_config
from sync.wire.enrollment import EnrollCode, new_code, qr_uri

SCHEMA = """
CREATE TABLE IF NOT EXISTS enrollment_codes (
    code_id      TEXT PRIMARY KEY,
    mac_key      {blob} NOT NULL,
    auxiliaries  TEXT NOT NULL,
    created_ms   {int} NOT NULL,
    expires_ms   {int} NOT NULL,
    state        TEXT NOT NULL,
    device_id    TEXT,
    key_binding  TEXT,
    bundle       {blob},
    redeemed_ms  {int}
)
"""


@dataclass(frozen=True)
class IssuedCode:
    code: str
    uri: str
    expires_ms: int
    auxiliaries: list[str]

    def _qr(self) -> segno.QRCode:
        return segno.make(self.uri, error="m")

    def qr_png(self, path: Path | str, scale: int = 8) -> Path:
        p = Path(path)
        self._qr().save(str(p), kind="png", scale=scale, border=4)
        return p

    def qr_png_data_url(self, scale: int = 6) -> str:
        """The QR as a data: URL (inline in the dashboard page; nothing is served or stored)."""
        buf = io.BytesIO()
        self._qr().save(buf, kind="png", scale=scale, border=4)
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()

    def qr_svg(self) -> str:
        buf = io.BytesIO()
        self._qr().save(buf, kind="svg", scale=6, border=4, xmldecl=False)
        return buf.getvalue().decode()

    def qr_text(self) -> str:
        buf = io.StringIO()
        self._qr().terminal(out=buf, compact=True)
        return buf.getvalue()


@dataclass(frozen=True)
class CodeRow:
    code_id_prefix: str
    state: str  # "issued", "redeemed", "expired"
    auxiliaries: list[str]
    created_ms: int
    expires_ms: int
    device_id: str | None


def ensure_schema(store: Store) -> None:
    fleet.ensure_schema(store)
    store.ensure_schema(SCHEMA, 7711109)


def issue_enrollment_code(store: Store, cfg: ServerConfig, auxiliaries: list[str], *,
                          ttl_s: int | None = None, server_url: str | None = None,
                          now_ms: int | None = None) -> IssuedCode:
    ensure_schema(store)
    if not auxiliaries:
        raise fleet.FleetError("indique al menos un auxiliar (--auxiliary)")
    device_config(store, auxiliaries)  # same checks as the bundle will make: fail now, not at redeem
    ca_der = pki.load_cert(cfg.tls.ca_cert).public_bytes(serialization.Encoding.DER)
    code: EnrollCode = new_code(ca_der, server_url or cfg.enroll_url())
    now = fleet.now_ms() if now_ms is None else now_ms
    expires = now + 1000 * (ttl_s or cfg.fleet.code_ttl_s)
    with store.tx() as conn:
        conn.execute(store.sql("INSERT INTO enrollment_codes (code_id, mac_key, auxiliaries, created_ms, "
                               "expires_ms, state) VALUES (?, ?, ?, ?, ?, 'issued')"),
                     (code.code_id(), code.mac_key(), json.dumps(auxiliaries), now, expires))
    return IssuedCode(code.display, qr_uri(code), expires, list(auxiliaries))


def list_codes(store: Store) -> list[CodeRow]:
    ensure_schema(store)
    now = fleet.now_ms()
    rows = store.query("SELECT code_id, state, auxiliaries, created_ms, expires_ms, device_id "
                       "FROM enrollment_codes ORDER BY created_ms")
    return [CodeRow(r[0][:8], "expired" if r[1] == "issued" and int(r[4]) <= now else r[1],
                    json.loads(r[2]), int(r[3]), int(r[4]), r[5]) for r in rows]


_CONFIG: ServerConfig | None = None


def configure(cfg: ServerConfig) -> None:
    """The server config the dashboard hook issues codes with (set by serve.build_server)."""
    global _CONFIG
    _CONFIG = cfg


def dashboard_issue(store: Store, form: dict[str, str]) -> str:
    return dashboard_issue_code(store, form)[0]


def dashboard_issue_code(store: Store, form: dict[str, str]) -> tuple[str, IssuedCode | None]:
    if _CONFIG is None:
        return "No se pueden emitir códigos: el servidor no está configurado para inscripciones.", None
    if _CONFIG.fleet.enroll_port is None and not _CONFIG.fleet.enroll_public_url:
        return ("No se pueden emitir códigos: falta [fleet].enroll_port (el servicio de inscripción "
                "no está activo)."), None
    aux = [a.strip() for a in form.get("auxiliary", "").replace(";", ",").split(",") if a.strip()]
    if not aux:
        return ("Elija los auxiliares del dispositivo (campo «auxiliary») "
                "o use «fieldkit-server admin enroll-code --auxiliary …»."), None
    try:
        c = issue_enrollment_code(store, _CONFIG, aux)
    except fleet.FleetError as e:
        return f"No se emitió el código: {e}", None
    hours = round(_CONFIG.fleet.code_ttl_s / 3600, 1)
    return (f"Código de inscripción {c.code} (un solo uso, {hours:g} h) para {', '.join(aux)}. "
            f"QR: {c.uri}"), c
