"""Enrollment codes: issue one for a set of auxiliaries, or for a self-service device
(CLI `admin enroll-code`, dashboard).

API (stable; the dashboard calls it):

    issue_enrollment_code(store: Store, cfg: ServerConfig, auxiliaries: list[str], *,
                          ttl_s: int | None = None, server_url: str | None = None,
                          now_ms: int | None = None, issued_by: str | None = None,
                          self_service: bool = False, aspirant: str | None = None,
                          processes: list[str] | None = None) -> IssuedCode
        Raises fleet.FleetError (Spanish, one line) for unknown auxiliaries or
        auxiliaries of different aspirants.
        `self_service`: a code for a device the citizen uses alone (docs/self-service.md): no
        auxiliaries (FleetError with any), the server must give devices an HTTPS address
        (activations go there), and `aspirant` names whom it captures for, in `processes`
        (default: every process the aspirant is registered in). Without `aspirant` the device
        gets no processes (the command line and the dashboard always ask for one). Redeemed,
        it makes ``fleet_devices.self_service = 1`` and a config with ``[self_service]``.
    IssuedCode.code        "7KQ2-M9XB-T4RP-3HDA-0ZCW" (what a person types)
    IssuedCode.uri         the QR content (code + CA fingerprint + server URL)
    IssuedCode.expires_ms  Unix ms
    IssuedCode.self_service, .aspirant, .processes;  IssuedCode.for_text  (whom it is for, Spanish)
    IssuedCode.qr_png(path, scale=8) -> Path;  IssuedCode.qr_svg() -> str (inline in HTML)
    IssuedCode.qr_text() -> str  (for a terminal)
    list_codes(store) -> list[CodeRow]  (no secrets: id prefix, state, device)
    cancel_code(store, prefix, by, now_ms=None) -> CodeRow
        Cancels a still-valid code named by its id prefix (what list_codes shows); raises
        fleet.FleetError (Spanish) for an unknown, ambiguous, used, expired or cancelled one.
        Redeeming a cancelled code is refused (`code_cancelled`, enrollment.py).
    dashboard_issue(store, form: dict[str, str]) -> str
        The dashboard's hook: form["auxiliary"] = comma-separated auxiliary ids (the
        dashboard joins its multi-select), or form["self_service"] (the checkbox, any
        non-empty value) with form["aspirant"] and auxiliaries ignored; returns the Spanish
        text to show (the code, or why none was issued). Needs `configure(cfg)`, which
        `fieldkit-server serve` calls.
    dashboard_issue_code(store, form) -> (text, IssuedCode | None)
        The same, with the issued code itself (the dashboard shows it and its QR).

The server never stores the code: only ``code_id`` (HKDF of it, for lookup) and
``mac_key`` (HKDF of it, to authenticate the bundle). Codes are single use,
valid ``[fleet].code_ttl_s`` (24 h), and bind to the first device that redeems them.
States in the table: ``issued``, ``redeemed``, ``cancelled``; "expired" is an issued code
past ``expires_ms`` (computed, never stored). ``issued_by``/``cancelled_by`` name the
account when known (columns added to older stores by ``ensure_schema``), as do
``self_service`` (0/1), ``aspirant`` and ``processes`` (JSON) for a self-service code
(read again for its device's config updates: ``command_issue.self_service_for``).
"""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import segno
from cryptography.hazmat.primitives import serialization

from server_stub.core.config import ServerConfig
from server_stub.core.store import Store
from server_stub.deploy import pki
from server_stub.fleet import tables as fleet
from server_stub.fleet.command_issue import SelfServiceFor, device_config
from server_stub.verify import processes as procmod
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
    self_service: bool = False
    aspirant: str = ""
    processes: list[str] = field(default_factory=list)

    @property
    def for_text(self) -> str:
        """Whom the code is for, for a person (audit log, pages, the command line)."""
        if self.self_service:
            procs = ", ".join(self.processes) or "sin procesos"
            return f"autoservicio (aspirante {self.aspirant or '-'}: {procs})"
        return ", ".join(self.auxiliaries)

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
    self_service: bool = False


def ensure_schema(store: Store) -> None:
    fleet.ensure_schema(store)
    store.ensure_schema(SCHEMA, 7711109)
    for col, typ in (("issued_by", "TEXT"), ("cancelled_ms", "BIGINT"), ("cancelled_by", "TEXT"),
                     ("self_service", "INTEGER NOT NULL DEFAULT 0"), ("aspirant", "TEXT"),
                     ("processes", "TEXT")):
        store.add_column("enrollment_codes", col, typ, 7711109)


def issue_enrollment_code(store: Store, cfg: ServerConfig, auxiliaries: list[str], *,
                          ttl_s: int | None = None, server_url: str | None = None,
                          now_ms: int | None = None, issued_by: str | None = None,
                          self_service: bool = False, aspirant: str | None = None,
                          processes: list[str] | None = None) -> IssuedCode:
    ensure_schema(store)
    serves: SelfServiceFor | None = None
    if self_service:
        serves = self_service_target(store, cfg, auxiliaries, aspirant, processes)
    elif not auxiliaries:
        raise fleet.FleetError("indique al menos un auxiliar (--auxiliary)")
    elif aspirant or processes:
        raise fleet.FleetError("el aspirante y los procesos se indican sólo con un código de autoservicio; "
                               "los de un dispositivo con auxiliares son los de sus auxiliares")
    # Same checks as the bundle will make: fail now, not at redeem.
    device_config(store, auxiliaries, serves)
    ca_der = pki.load_cert(cfg.tls.ca_cert).public_bytes(serialization.Encoding.DER)
    code: EnrollCode = new_code(ca_der, server_url or cfg.enroll_url())
    now = fleet.now_ms() if now_ms is None else now_ms
    expires = now + 1000 * (ttl_s or cfg.fleet.code_ttl_s)
    procs = list(serves.processes) if serves else []
    with store.tx() as conn:
        conn.execute(store.sql("INSERT INTO enrollment_codes (code_id, mac_key, auxiliaries, created_ms, "
                               "expires_ms, state, issued_by, self_service, aspirant, processes) "
                               "VALUES (?, ?, ?, ?, ?, 'issued', ?, ?, ?, ?)"),
                     (code.code_id(), code.mac_key(), json.dumps(auxiliaries), now, expires,
                      issued_by, 1 if serves else 0, (serves.aspirant_id or None) if serves else None,
                      json.dumps(procs) if serves else None))
    return IssuedCode(code.display, qr_uri(code), expires, list(auxiliaries),
                      serves is not None, serves.aspirant_id if serves else "", procs)


def self_service_target(store: Store, cfg: ServerConfig, auxiliaries: list[str], aspirant: str | None,
                        processes: list[str] | None) -> SelfServiceFor:
    """What a self-service code captures for, checked; FleetError (Spanish) when it cannot be issued."""
    # Only coordinators may ride along: their PIN opens the device's coordinator menu.
    if others := [a.aux_id for a in fleet.list_auxiliaries(store, auxiliaries) if a.role != "coordinador"]:
        raise fleet.FleetError("un código de autoservicio sólo lleva coordinadores, no auxiliares "
                               f"({', '.join(others)})")
    if not cfg.device_https_url():
        raise fleet.FleetError("un dispositivo de autoservicio pide sus códigos de activación por HTTPS: "
                               "active [https] o indique [fleet].device_https_url")
    if not aspirant:
        if processes:
            raise fleet.FleetError("indique el aspirante de esos procesos (--aspirant)")
        return SelfServiceFor()
    registered = sorted(a.process_id for a in procmod.list_aspirants(store) if a.aspirant_id == aspirant)
    if not registered:
        raise fleet.FleetError(f"el aspirante {aspirant!r} no está registrado en ningún proceso")
    wanted = sorted(set(processes)) if processes else registered
    if other := [p for p in wanted if p not in registered]:
        raise fleet.FleetError(f"el aspirante {aspirant!r} no está registrado en {', '.join(other)}")
    return SelfServiceFor(aspirant, tuple(wanted))


_COLS = ("code_id, state, auxiliaries, created_ms, expires_ms, device_id, redeemed_ms, issued_by, "
         "cancelled_ms, cancelled_by, self_service")
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
                   num(r[8]), text(r[9]), bool(r[10]))


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
    return _row((*rows[0][:1], "cancelled", *rows[0][2:8], now, by, *rows[0][10:]), now)


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
    if form.get("self_service", "").strip():
        aspirant = form.get("aspirant", "").strip()
        if not aspirant:
            return "Elija el aspirante para el que capta el dispositivo de autoservicio.", None
        try:  # coordinators chosen alongside ride along (their PIN opens the coordinator menu)
            c = issue_enrollment_code(store, _CONFIG, aux, issued_by=by, self_service=True, aspirant=aspirant)
        except fleet.FleetError as e:
            return f"No se emitió el código: {e}", None
    else:
        if not aux:
            return ("Elija los auxiliares del dispositivo (campo «auxiliary»), marque «Autoservicio» "
                    "o use «fieldkit-server admin enroll-code --auxiliary …»."), None
        try:
            c = issue_enrollment_code(store, _CONFIG, aux, issued_by=by)
        except fleet.FleetError as e:
            return f"No se emitió el código: {e}", None
    hours = round(_CONFIG.fleet.code_ttl_s / 3600, 1)
    return (f"Código de inscripción {c.code} (un solo uso, {hours:g} h) para {c.for_text}. "
            f"QR: {c.uri}"), c
