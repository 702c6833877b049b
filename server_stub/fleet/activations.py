"""Self-service activation codes on the server (docs/self-service.md; the code: sync/wire/activation.py).

A self-service device asks for a code for a citizen (`POST /v1/activations`,
server_stub/fleet/endpoints.py): `request_activation` checks the request, its limits (per device
per hour, per e-mail and per CIC per 24 h) and, with `[self_service] check_roll`, the roll; it
picks a `ref` free among the device's live activations, makes the code, and keeps only what
finds and checks it (`code_id`, `binding_mac`). The code goes into the outgoing mail queue in
the same transaction (key: the activation id, marked as a code with its expiry), and the acuse
worker delivers it with retries until the code expires, then blanks the queued message: the
server keeps no other copy.

A citizen's record carries the code as typed; ingest asks `check_record` what it is worth
(records.activation_status, server_stub.core.store_schema.ACT_*): the first record with a good
code uses it; a wrong code counts against the device's pending activation with the same `ref`
(live when the record was captured, or when it arrived), which dies after `max_wrong` of them,
so a held tablet cannot try codes until one fits, not even offline.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

from server_stub.core.config import ServerConfig
from server_stub.core.store import Store
from server_stub.core.store_schema import (
    ACT_EXPIRED,
    ACT_INVALIDATED,
    ACT_NOT_VALID,
    ACT_OTHER_CARD,
    ACT_OTHER_DEVICE,
    ACT_USED,
    ACT_VALID,
    MAIL_ACTIVATION,
    MAIL_PENDING,
    MAIL_QUEUE_COLUMNS,
    MAIL_QUEUE_INSERT_CODE,
    MAIL_QUEUE_LOCK,
    MAIL_QUEUE_SCHEMA,
)
from server_stub.verify import roll
from sync.common import periods
from sync.wire.activation import (
    PROTOCOL_VERSION,
    ActivationCode,
    ActivationCodeError,
    mask_email,
    new_code,
    new_ref,
    parse_code,
    valid_cic,
)
from sync.wire.record import Record, valid_email

log = logging.getLogger("fieldkit.server.activations")

SCHEMA = """
CREATE TABLE IF NOT EXISTS activations (
    activation_id   TEXT PRIMARY KEY,
    code_id         TEXT NOT NULL UNIQUE,
    binding_mac     TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    ref             TEXT NOT NULL,
    cic             TEXT NOT NULL,
    email_sha256    TEXT NOT NULL,
    created_ms      {int} NOT NULL,
    expires_ms      {int} NOT NULL,
    state           TEXT NOT NULL,
    used_record_id  {blob},
    wrong           {int} NOT NULL
);
CREATE INDEX IF NOT EXISTS activations_device ON activations (device_id, created_ms);
CREATE INDEX IF NOT EXISTS activations_email ON activations (email_sha256, created_ms);
CREATE INDEX IF NOT EXISTS activations_cic ON activations (cic, created_ms);
CREATE TABLE IF NOT EXISTS activation_refusals (
    device_id   TEXT NOT NULL,
    created_ms  {int} NOT NULL
);
CREATE INDEX IF NOT EXISTS activation_refusals_device ON activation_refusals (device_id, created_ms)
"""
LOCK = 7711120
ISSUE_LOCK = 7711121  # PostgreSQL: one issuance at a time, so two requests cannot both pass a limit
ISSUED, USED, INVALIDATED = "emitida", "usada", "invalidada"
HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS
MAX_BODY_BYTES = 4096
MAIL_SUBJECT = "Su código de activación"


class ActivationError(Exception):
    """A request refused: `status` is the HTTP status, `body` the JSON answer of the contract."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(str(body.get("message") or body.get("error")))
        self.status = status
        self.body = body

    def headers(self) -> list[tuple[bytes, bytes]]:
        after = self.body.get("retry_after_s")
        return [(b"retry-after", str(after).encode())] if isinstance(after, int) else []


def _bad(message: str) -> ActivationError:
    return ActivationError(400, {"error": "bad_request", "message": message})


@dataclass(frozen=True, slots=True)
class ActivationRequest:
    cic: str
    email: str
    seccion: str
    model: str


def parse_request(body: dict[str, Any]) -> ActivationRequest:
    """The request body checked (ActivationError 400 with a Spanish message otherwise)."""
    v = body.get("v")
    if not isinstance(v, int) or isinstance(v, bool) or v != PROTOCOL_VERSION:
        raise _bad(f"versión de la solicitud no admitida (se espera {PROTOCOL_VERSION})")
    fields = {k: body.get(k, "") for k in ("cic", "email", "seccion", "model", "lang")}
    if not all(isinstance(x, str) for x in fields.values()):
        raise _bad("los campos de la solicitud deben ser texto")
    cic, email = fields["cic"].strip(), fields["email"].strip()
    if not valid_cic(cic):
        raise _bad("el CIC de la credencial tiene 9 o 10 dígitos")
    if not valid_email(email) or len(email) > 254:
        raise _bad("el correo electrónico no es válido")
    seccion = fields["seccion"].strip()
    if seccion and not (seccion.isdigit() and seccion.isascii() and len(seccion) <= 4):
        raise _bad("la sección son hasta 4 dígitos")
    if fields["model"] not in ("", "E", "F", "G", "H"):
        raise _bad("modelo de credencial desconocido")
    return ActivationRequest(cic, email, seccion, fields["model"])


def email_hash(address: str) -> str:
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


def ensure_schema(store: Store) -> None:
    store.ensure_schema(SCHEMA, LOCK)
    store.ensure_schema(MAIL_QUEUE_SCHEMA, MAIL_QUEUE_LOCK)
    for column, sql_type in MAIL_QUEUE_COLUMNS:
        store.add_column("mail_queue", column, sql_type, MAIL_QUEUE_LOCK)


def _retry_after(created: list[int], limit: int, window_ms: int, now_ms: int) -> int | None:
    """Seconds until fewer than `limit` of `created` (times in the window, oldest first) are left
    in the window; None while there is room."""
    if len(created) < limit:
        return None
    oldest_to_go = created[len(created) - limit]
    return max(1, math.ceil((oldest_to_go + window_ms - now_ms) / 1000))


def _times(store: Store, conn: Any, table: str, column: str, value: str, since_ms: int) -> list[int]:
    rows = conn.execute(store.sql(f"SELECT created_ms FROM {table} WHERE {column} = ? AND created_ms > ?"),
                        (value, since_ms)).fetchall()
    return sorted(int(r[0]) for r in rows)


def _check_limits(store: Store, conn: Any, cfg: ServerConfig, device_id: str, req: ActivationRequest,
                  now_ms: int) -> None:
    ss = cfg.self_service
    # The device's requests include those the roll refused: the roll is not a free oracle.
    device = sorted(_times(store, conn, "activations", "device_id", device_id, now_ms - HOUR_MS)
                    + _times(store, conn, "activation_refusals", "device_id", device_id, now_ms - HOUR_MS))
    checks = (("device", device, ss.max_per_device_hour, HOUR_MS),
              ("email", _times(store, conn, "activations", "email_sha256", email_hash(req.email),
                               now_ms - DAY_MS), ss.max_per_email_day, DAY_MS),
              ("cic", _times(store, conn, "activations", "cic", req.cic, now_ms - DAY_MS),
               ss.max_per_cic_day, DAY_MS))
    for name, created, limit, window in checks:
        after = _retry_after(created, limit, window, now_ms)
        if after is not None:
            raise ActivationError(429, {"error": "too_many", "limit": name, "retry_after_s": after})


def _in_roll(store: Store, cic: str) -> bool | None:
    """Whether `cic` is in the loaded roll (any status); None when no roll is loaded."""
    roll.ensure_schema(store)
    if roll.roll_info(store) is None:
        return None
    return bool(store.query("SELECT 1 FROM roll WHERE cic = ? LIMIT 1", (cic,)))


def build_code_message(code: ActivationCode, activation_id: str, to_addr: str, expires_ms: int,
                       cfg: ServerConfig, now_ms: int) -> EmailMessage:
    """The e-mail that carries the code: the only place it is ever written."""
    tz = cfg.deployment.zone()
    until = periods.local(expires_ms, tz)
    msg = EmailMessage()
    msg["From"] = formataddr(("Apoyo ciudadano", cfg.acuse.sender))
    msg["To"] = to_addr
    msg["Subject"] = MAIL_SUBJECT
    msg["Date"] = format_datetime(periods.local(now_ms, tz))
    msg["Message-ID"] = f"<{activation_id}@activacion.fieldkit>"
    msg.set_content(
        "Su código de activación para dar su apoyo ciudadano es:\n\n"
        f"    {code.display}\n\n"
        f"Vence el {until:%Y-%m-%d} a las {until:%H:%M} ({until.tzname()}).\n"
        "Es válido sólo en el dispositivo donde lo pidió, y para la credencial que mostró ahí:\n"
        "escríbalo en ese dispositivo para terminar de dar su apoyo.\n\n"
        "Si usted no lo pidió, ignore este mensaje.\n")
    return msg


def request_activation(store: Store, cfg: ServerConfig, device_id: str, body: dict[str, Any],
                       now_ms: int) -> dict[str, Any]:
    """Issue a code for `device_id` (already known to be an active self-service device) and
    queue its e-mail; the 201 answer of the contract, or ActivationError."""
    req = parse_request(body)
    if cfg.acuse.mode == "off":
        raise ActivationError(503, {"error": "no_mail",
                                    "message": "el servidor no tiene correo configurado para enviar códigos"})
    ensure_schema(store)
    in_roll = _in_roll(store, req.cic) if cfg.self_service.check_roll else None
    expires = now_ms + cfg.self_service.code_ttl_hours * HOUR_MS
    activation_id = secrets.token_bytes(16).hex()
    refused = False
    with store.tx() as conn:
        if store.kind == "postgresql":
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (ISSUE_LOCK,))
        _check_limits(store, conn, cfg, device_id, req, now_ms)
        if in_roll is False:
            conn.execute(store.sql("INSERT INTO activation_refusals (device_id, created_ms) VALUES (?, ?)"),
                         (device_id, now_ms))
            refused = True
        else:
            taken = {str(r[0]) for r in conn.execute(store.sql(
                "SELECT ref FROM activations WHERE device_id = ? AND state = ? AND expires_ms > ?"),
                (device_id, ISSUED, now_ms)).fetchall()}
            try:
                ref = new_ref(taken)
            except ValueError:
                raise ActivationError(429, {"error": "too_many", "limit": "device",
                                            "retry_after_s": 3600}) from None
            code = new_code(ref)
            conn.execute(store.sql(
                "INSERT INTO activations (activation_id, code_id, binding_mac, device_id, ref, cic, "
                "email_sha256, created_ms, expires_ms, state, used_record_id, wrong) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0)"),
                (activation_id, code.code_id(), code.binding_mac(device_id, req.cic), device_id, ref,
                 req.cic, email_hash(req.email), now_ms, expires, ISSUED))
            msg = build_code_message(code, activation_id, req.email, expires, cfg, now_ms)
            conn.execute(store.sql(MAIL_QUEUE_INSERT_CODE), (bytes.fromhex(activation_id), req.email,
                                                             msg.as_bytes(), MAIL_PENDING, now_ms, now_ms,
                                                             MAIL_ACTIVATION, expires))
    if refused:
        raise ActivationError(422, {"error": "not_in_roll",
                                    "message": "la credencial no está en la lista nominal cargada"})
    log.info("activation %s issued to %s (ref %s)", activation_id, device_id, ref)
    return {"v": PROTOCOL_VERSION, "ref": ref, "expires_ms": expires, "sent_to": mask_email(req.email)}


# --- checking a citizen's record ---------------------------------------------------------------


def _count_wrong(store: Store, conn: Any, record: Record, ref: str, max_wrong: int, now_ms: int) -> None:
    """A wrong code typed on the record's device answering `ref`: its pending activation counts
    it and dies at `max_wrong`. Pending when the record was captured (an offline tablet sends
    its guesses after the expiry) or when it arrives (a capture time set past the expiry must
    not make guesses free)."""
    conn.execute(store.sql(
        "UPDATE activations SET wrong = wrong + 1, "
        "state = CASE WHEN wrong + 1 >= ? THEN ? ELSE state END "
        "WHERE device_id = ? AND ref = ? AND state = ? AND (expires_ms >= ? OR expires_ms > ?)"),
        (max_wrong, INVALIDATED, record.device_id, ref, ISSUED, record.captured_at_ms, now_ms))


def check_record(store: Store, conn: Any, record: Record, max_wrong: int, now_ms: int) -> str:
    """What the activation code of a citizen's record, or of any record from a self-service
    device, is worth (store_schema.ACT_*), inside the caller's transaction `conn`. A good code is
    marked used by this record; the same record checked again is still "valida". A wrong code
    is counted each call: call it once per stored record (ingest does)."""
    try:
        code = parse_code(record.activation)
    except ActivationCodeError:
        return ACT_NOT_VALID
    row = conn.execute(store.sql(
        "SELECT activation_id, device_id, binding_mac, expires_ms, state, used_record_id "
        "FROM activations WHERE code_id = ?"), (code.code_id(),)).fetchone()
    if row is None:
        _count_wrong(store, conn, record, code.ref, max_wrong, now_ms)
        return ACT_NOT_VALID
    activation_id, device_id, mac, expires_ms, state, used_by = row
    if device_id != record.device_id:
        return ACT_OTHER_DEVICE
    if state == INVALIDATED:
        return ACT_INVALIDATED
    if not hmac.compare_digest(str(mac), code.binding_mac(record.device_id, record.credential.cic)):
        return ACT_OTHER_CARD
    if record.captured_at_ms > int(expires_ms):
        return ACT_EXPIRED
    rid = record.record_id.bytes
    if state == USED:
        return ACT_VALID if used_by is not None and bytes(used_by) == rid else ACT_USED
    done = conn.execute(store.sql("UPDATE activations SET state = ?, used_record_id = ? "
                                  "WHERE activation_id = ? AND state = ?"),
                        (USED, rid, activation_id, ISSUED)).rowcount
    return ACT_VALID if done == 1 else ACT_USED


def settle_records(store: Store, items: Sequence[tuple[uuid.UUID, str, Record | None]], max_wrong: int,
                   now_ms: int) -> None:
    """Settle stored records in one transaction: each item is (record id, its auxiliary status,
    the record if its activation is checked: a citizen's, or any from a self-service device).
    A row is claimed by its NULL auxiliary_status, so a row another worker settled is skipped
    and an activation is used or counted once per record; a checked record gets
    `check_record`'s answer in records.activation_status. Raises StoreError (nothing settled)."""
    claim = store.sql("UPDATE records SET auxiliary_status = ? WHERE record_id = ? "
                      "AND auxiliary_status IS NULL")
    put = store.sql("UPDATE records SET activation_status = ? WHERE record_id = ?")
    with store.tx() as conn:
        for rid, aux, rec in sorted(items, key=lambda i: i[0].bytes):  # one lock order for all workers
            if conn.execute(claim, (aux, rid.bytes)).rowcount != 1 or rec is None:
                continue
            status = check_record(store, conn, rec, max_wrong, now_ms)
            conn.execute(put, (status, rid.bytes))
            log.info("record %s from %s: activation %s", rid, rec.device_id, status)


def activations_since(store: Store, since_ms: int) -> dict[str, int]:
    """{device_id: activations issued since `since_ms`} (devices with none are absent)."""
    ensure_schema(store)
    return {str(d): int(n) for d, n in store.query(
        "SELECT device_id, COUNT(*) FROM activations WHERE created_ms > ? GROUP BY device_id", (since_ms,))}
