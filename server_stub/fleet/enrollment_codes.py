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
    cancel_code(store, prefix, by, now_ms=None) -> CodeRow
        Cancels a still-valid code named by its id prefix (what list_codes shows); raises
        fleet.FleetError (Spanish) for an unknown, ambiguous, used, expired or cancelled one.
        Redeeming a cancelled code is refused (`code_cancelled`, enrollment.py).
    dashboard_issue(store, form: dict[str, str]) -> str
        The dashboard's hook: form["auxiliary"] = comma-separated auxiliary ids (the
        dashboard joins its multi-select); returns the Spanish text to show (the code, or
        why none was issued). Needs `configure(cfg)`, which `fieldkit-server serve` calls.
    dashboard_issue_code(store, form) -> (text, IssuedCode | None)
        The same, with the issued code itself (the dashboard shows it and its QR).

The server never stores the code: only ``code_id`` (HKDF of it, for lookup) and
``mac_key`` (HKDF of it, to authenticate the bundle). Codes are single use,
valid ``[fleet].code_ttl_s`` (24 h), and bind to the first device that redeems them.
States in the table: ``issued``, ``redeemed``, ``cancelled``; "expired" is an issued code
past ``expires_ms`` (computed, never stored). ``issued_by``/``cancelled_by`` name the
account when known (columns added to older stores by ``ensure_schema``).
"""

from __future__ import annotations

import base64
import io
import json
import re
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
    state: str  # "issued", "redeemed", "expired", "cancelled"
    auxiliaries: list[str]
    created_ms: int
    expires_ms: int
    device_id: str | None
    redeemed_ms: int | None = None
    issued_by: str | None = None
    cancelled_ms: int | None = None
    cancelled_by: str | None = None


def ensure_schema(store: Store) -> None:
    fleet.ensure_schema(store)
    store.ensure_schema(SCHEMA, 7711109)
    for col, typ in (("issued_by", "TEXT"), ("cancelled_ms", "BIGINT"), ("cancelled_by", "TEXT")):
        store.add_column("enrollment_codes", col, typ, 7711109)


def issue_enrollment_code(store: Store, cfg: ServerConfig, auxiliaries: list[str], *,
                          ttl_s: int | None = None, server_url: str | None = None,
                          now_ms: int | None = None, issued_by: str | None = None) -> IssuedCode:
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
                               "expires_ms, state, issued_by) VALUES (?, ?, ?, ?, ?, 'issued', ?)"),
                     (code.code_id(), code.mac_key(), json.dumps(auxiliaries), now, expires, issued_by))
    return IssuedCode(code.display, qr_uri(code), expires, list(auxiliaries))


_COLS = ("code_id, state, auxiliaries, created_ms, expires_ms, device_id, redeemed_ms, issued_by, "
         "cancelled_ms, cancelled_by")
PREFIX = 8  # hex digits of code_id shown and accepted to name a code (never the code itself)
_PREFIX_RE = re.compile(f"[0-9a-f]{{{PREFIX}}}")


def _row(r: tuple[object, ...], now: int) -> CodeRow:
    def num(v: object) -> int | None:
        return None if v is None else int(str(v))

    def text(v: object) -> str | None:
        return None if v is None else str(v)

    state, expires = str(r[1]), int(str(r[4]))
    return CodeRow(str(r[0])[:PREFIX], "expired" if state == "issued" and expires <= now else state,
                   json.loads(str(r[2])), int(str(r[3])), expires, text(r[5]), num(r[6]), text(r[7]),
                   num(r[8]), text(r[9]))


def list_codes(store: Store, now_ms: int | None = None) -> list[CodeRow]:
    ensure_schema(store)
    now = fleet.now_ms() if now_ms is None else now_ms
    rows = store.query(f"SELECT {_COLS} FROM enrollment_codes ORDER BY created_ms")
    return [_row(r, now) for r in rows]


def cancel_code(store: Store, prefix: str, by: str, now_ms: int | None = None) -> CodeRow:
    """Cancel the still-valid code whose id starts with `prefix`; the row as it is now."""
    ensure_schema(store)
    prefix = prefix.strip().lower()
    if not _PREFIX_RE.fullmatch(prefix):
        raise fleet.FleetError(f"identificador de código no válido (se esperan {PREFIX} dígitos hex)")
    now = fleet.now_ms() if now_ms is None else now_ms
    with store.tx() as conn:
        rows = conn.execute(store.sql(f"SELECT {_COLS} FROM enrollment_codes WHERE code_id LIKE ?"),
                            (prefix + "%",)).fetchall()
        if len(rows) != 1:
            raise fleet.FleetError(f"código {prefix} desconocido" if not rows
                                   else f"{prefix} nombra {len(rows)} códigos; no se canceló ninguno")
        row = _row(rows[0], now)
        if row.state != "issued":
            raise fleet.FleetError(f"el código {prefix} ya no está vigente ({STATE_WORDS[row.state]})")
        # The condition again in the UPDATE: a redeem that claimed it meanwhile wins.
        done = conn.execute(store.sql("UPDATE enrollment_codes SET state = 'cancelled', cancelled_ms = ?, "
                                      "cancelled_by = ? WHERE code_id = ? AND state = 'issued'"),
                            (now, by, rows[0][0])).rowcount
        if done != 1:
            raise fleet.FleetError(f"el código {prefix} se acaba de canjear; no se canceló")
    return _row((*rows[0][:1], "cancelled", *rows[0][2:8], now, by), now)


# The states as the dashboard says them.
STATE_WORDS = {"issued": "vigente", "redeemed": "canjeado", "expired": "vencido", "cancelled": "cancelado"}


_CONFIG: ServerConfig | None = None


def configure(cfg: ServerConfig) -> None:
    """The server config the dashboard hook issues codes with (set by serve.build_server)."""
    global _CONFIG
    _CONFIG = cfg


def dashboard_issue(store: Store, form: dict[str, str]) -> str:
    return dashboard_issue_code(store, form)[0]


def dashboard_issue_code(store: Store, form: dict[str, str],
                         by: str | None = None) -> tuple[str, IssuedCode | None]:
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
        c = issue_enrollment_code(store, _CONFIG, aux, issued_by=by)
    except fleet.FleetError as e:
        return f"No se emitió el código: {e}", None
    hours = round(_CONFIG.fleet.code_ttl_s / 3600, 1)
    return (f"Código de inscripción {c.code} (un solo uso, {hours:g} h) para {', '.join(aux)}. "
            f"QR: {c.uri}"), c
