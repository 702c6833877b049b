"""Acuse de recibo: an e-mail to the citizen for every stored record that carries one.

The ack path never waits for mail: a worker thread scans stored records that
have no `mail_queue` row yet, writes the message (folio, process, aspirant,
date — never images or card data) into the queue in the store, and delivers
due messages with retry and exponential backoff. A relay that is down only
delays delivery; the queue is in the database, so a restart loses nothing.
Delivery is at-least-once: a crash between the relay's "250 OK" and the
`enviado` mark sends the message again, with the same Message-ID (derived
from the record id) so mail clients can fold it.

The same queue carries self-service activation codes (server_stub/fleet/activations.py puts
them there, keyed by the activation id, `kind` = "activacion", `expires_ms` its expiry); this
worker delivers them like acuses, then blanks the stored message (the store keeps no copy of
a code), and drops one not delivered by its expiry (`caducado`) instead of retrying it.

Transports: `outbox` (default for the demo: one `.eml` file per message in a
folder, written atomically) and `smtp` (a configured relay; STARTTLS and
login optional). Several workers may run: a message is claimed for a minute
before it is sent, so two workers never send it at once.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from server_stub.core.background import RoundThread
from server_stub.core.store import Store
from server_stub.core.store_schema import (
    ACT_VALID,
    ACTIVATION_WORDS,
    MAIL_ACTIVATION,
    MAIL_EXPIRED,
    MAIL_PENDING,
    MAIL_QUEUE_COLUMNS,
    MAIL_QUEUE_INSERT,
    MAIL_QUEUE_LOCK,
    MAIL_QUEUE_SCHEMA,
    MAIL_SENT,
)
from server_stub.verify import processes
from sync.common import periods
from sync.wire.errors import RecordFormatError
from sync.wire.record import Record, decode_record

log = logging.getLogger("fieldkit.server.acuse")

# An SMTP refusal quotes the recipient (SMTPRecipientsRefused: {address: (code, text)}); the
# address is the citizen's and must not reach the log or the queue's last_error.
_ADDRESS = re.compile(r"[^\s'\"<>(),;:]+@[^\s'\"<>(),;:]+")


def redact_addresses(text: str) -> str:
    return _ADDRESS.sub("<correo>", text)

PENDING, SENT, NO_EMAIL, EXPIRED = MAIL_PENDING, MAIL_SENT, "sin_correo", MAIL_EXPIRED
CLAIM_MS = 60_000

SCHEMA = MAIL_QUEUE_SCHEMA  # the table lives with the store's (activation codes use it too)


class Transport(Protocol):
    def deliver(self, to_addr: str, message: bytes, name: str) -> None: ...


@dataclass(frozen=True)
class OutboxTransport:
    """Writes `<name>.eml` into a folder (demo default)."""

    folder: Path

    def deliver(self, to_addr: str, message: bytes, name: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / f"{name}.eml"
        tmp = final.with_suffix(".eml.tmp")
        with tmp.open("wb") as fh:
            fh.write(message)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)


@dataclass(frozen=True)
class SmtpTransport:
    host: str
    port: int
    sender: str
    starttls: bool = False
    username: str = ""
    password: str = ""
    timeout_s: float = 10.0

    def deliver(self, to_addr: str, message: bytes, name: str) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password)
            smtp.sendmail(self.sender, [to_addr], message)


def ensure_schema(store: Store) -> None:
    processes.ensure_schema(store)
    store.ensure_schema(SCHEMA, MAIL_QUEUE_LOCK)
    for column, sql_type in MAIL_QUEUE_COLUMNS:
        store.add_column("mail_queue", column, sql_type, MAIL_QUEUE_LOCK)


def build_message(rec: Record, received_ms: int, sender: str, process_name: str,
                  aspirant_name: str, tz: ZoneInfo | None = None,
                  activation_status: str | None = None) -> EmailMessage:
    """`tz`: the process's zone (default: the deployment default, America/Mexico_City).
    `activation_status`: a citizen's record's (records.activation_status); when it is not
    "valida" the acuse says the support arrived but will not count, and why."""
    tz = tz or periods.zone(None)
    when = periods.local(rec.captured_at_ms, tz)
    refused = activation_status is not None and activation_status != ACT_VALID
    msg = EmailMessage()
    msg["From"] = formataddr(("Apoyo ciudadano", sender))
    msg["To"] = rec.email or ""
    msg["Subject"] = (f"Acuse de recibo: su apoyo ciudadano no se podrá contar, folio {rec.folio}" if refused
                      else f"Acuse de recibo de su apoyo ciudadano, folio {rec.folio}")
    msg["Date"] = format_datetime(periods.local(received_ms, tz))
    msg["Message-ID"] = f"<{rec.record_id}@acuse.fieldkit>"
    facts = (f"Folio: {rec.folio}\n"
             f"Proceso: {process_name}\n"
             f"Aspirante: {aspirant_name}\n"
             f"Fecha de captura: {when:%Y-%m-%d %H:%M} ({when.tzname()})\n\n")
    if refused:
        why = ACTIVATION_WORDS.get(activation_status or "", activation_status or "")
        msg.set_content(
            "Recibimos su apoyo ciudadano, pero el código de activación no es válido\n"
            f"({why}), así que este apoyo no se contará.\n\n" + facts +
            "Si quiere dar su apoyo, pida un código nuevo en el dispositivo de autoservicio y\n"
            "escríbalo en ese mismo dispositivo. Conserve el folio para cualquier aclaración.\n")
        return msg
    msg.set_content(
        "Recibimos su apoyo ciudadano.\n\n" + facts +
        "Este acuse confirma que el registro llegó al servidor; la verificación contra la lista\n"
        "nominal se hace después. Conserve el folio para cualquier aclaración.\n")
    return msg


class AcuseWorker(RoundThread):
    _thread_name, _join_s, _log = "acuse", 15.0, log
    _paused, _failed = "acuse worker paused", "acuse round failed"

    def __init__(self, store: Store, transport: Transport, sender: str, *, interval_s: float = 1.0,
                 retry_min_s: float = 30.0, retry_max_s: float = 3600.0,
                 default_tz: str = periods.DEFAULT_TZ, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.default_tz = default_tz
        self.transport = transport
        self.sender = sender
        super().__init__(interval_s)
        self.retry_min_ms = int(retry_min_s * 1000)
        self.retry_max_ms = int(retry_max_s * 1000)
        ensure_schema(store)

    # --- queueing -------------------------------------------------------------------------

    def enqueue_new(self, limit: int = 200) -> int:
        """Queue an acuse for each stored record not looked at yet; returns rows added."""
        s = self.store
        # A citizen's record waits until ingest has checked its activation (auxiliary_status set).
        rows = s.query("SELECT r.record_id, r.received_ms, r.record, r.activation_status FROM records r "
                       "LEFT JOIN mail_queue m ON m.record_id = r.record_id WHERE m.record_id IS NULL "
                       "AND r.auxiliary_status IS NOT NULL ORDER BY r.received_ms LIMIT ?", (limit,))
        if not rows:
            return 0
        procs = {p.process_id: p for p in processes.list_processes(s)}
        asp = {(a.process_id, a.aspirant_id): a.name for a in processes.list_aspirants(s)}
        now = self._now_ms()
        ins = s.sql(MAIL_QUEUE_INSERT)
        with s.tx() as conn:
            for rid, received, blob, activation in rows:
                try:
                    rec = decode_record(bytes(blob))
                except RecordFormatError as e:
                    log.error("record %s does not decode: %s", uuid.UUID(bytes=bytes(rid)), e)
                    conn.execute(ins, (bytes(rid), "", b"", NO_EMAIL, now, now))
                    continue
                if not rec.email or "@" not in rec.email:
                    conn.execute(ins, (bytes(rid), "", b"", NO_EMAIL, now, now))
                    continue
                proc = procs.get(rec.process_id)
                msg = build_message(rec, int(received), self.sender,
                                    proc.name if proc else rec.process_id,
                                    asp.get((rec.process_id, rec.aspirant_id), rec.aspirant_id),
                                    proc.zone(self.default_tz) if proc else periods.zone(self.default_tz),
                                    activation)
                conn.execute(ins, (bytes(rid), rec.email, msg.as_bytes(), PENDING, now, now))
        return len(rows)

    # --- delivery -------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _claim(self, rid: bytes, now: int) -> bool:
        with self.store.tx() as conn:
            cur = conn.execute(self.store.sql(
                "UPDATE mail_queue SET claimed_until_ms = ? WHERE record_id = ? AND state = ? "
                "AND claimed_until_ms < ? AND (expires_ms IS NULL OR expires_ms > ?)"),
                (now + CLAIM_MS, rid, PENDING, now, now))
            return bool(cur.rowcount)

    def drop_expired(self) -> int:
        """Drop the messages not delivered by their `expires_ms` (activation codes past their
        expiry: the code is useless, and its text must not stay); returns how many."""
        s = self.store
        now = self._now_ms()
        with s.tx() as conn:
            n = int(conn.execute(s.sql(
                "UPDATE mail_queue SET state = ?, message = ?, claimed_until_ms = 0 WHERE state = ? "
                "AND expires_ms IS NOT NULL AND expires_ms <= ? AND claimed_until_ms < ?"),
                (EXPIRED, b"", PENDING, now, now)).rowcount)
        if n:
            log.warning("%d activation e-mails not delivered before their code expired: dropped", n)
        return n

    def deliver_due(self, limit: int = 50) -> int:
        """Try each due message once; returns how many were delivered."""
        s = self.store
        self.drop_expired()
        now = self._now_ms()
        due = s.query("SELECT record_id, to_addr, message, attempts FROM mail_queue WHERE state = ? "
                      "AND next_try_ms <= ? AND claimed_until_ms < ? ORDER BY next_try_ms LIMIT ?",
                      (PENDING, now, now, limit))
        sent = 0
        for rid, to_addr, message, attempts in due:
            rid = bytes(rid)
            if not self._claim(rid, now):
                continue
            name = str(uuid.UUID(bytes=rid))
            try:
                self.transport.deliver(to_addr, bytes(message), name)
            except (OSError, smtplib.SMTPException) as e:
                delay = min(self.retry_max_ms, self.retry_min_ms * 2 ** min(int(attempts), 20))
                why = redact_addresses(f"{type(e).__name__}: {e}".replace(to_addr, "<correo>"))[:500]
                with s.tx() as conn:
                    conn.execute(s.sql("UPDATE mail_queue SET attempts = attempts + 1, next_try_ms = ?, "
                                       "claimed_until_ms = 0, last_error = ? WHERE record_id = ?"),
                                 (self._now_ms() + delay, why, rid))
                log.warning("acuse %s not delivered (attempt %d), retry in %.0f s: %s", name,
                            int(attempts) + 1, delay / 1000, why)
                continue
            with s.tx() as conn:
                # An activation code's text is blanked once delivered: the store keeps no copy.
                conn.execute(s.sql("UPDATE mail_queue SET state = ?, sent_ms = ?, attempts = attempts + 1, "
                                   "last_error = '', message = CASE WHEN kind = ? THEN ? ELSE message END "
                                   "WHERE record_id = ?"),
                             (SENT, self._now_ms(), MAIL_ACTIVATION, b"", rid))
            sent += 1
        return sent

    def run_once(self) -> tuple[int, int]:
        return self.enqueue_new(), self.deliver_due()

    def _round(self) -> bool:
        queued, _ = self.run_once()
        return bool(queued)


def queue_counts(store: Store) -> dict[str, int]:
    ensure_schema(store)
    return {r[0]: int(r[1]) for r in store.query("SELECT state, COUNT(*) FROM mail_queue GROUP BY state")}


def make_transport(mode: str, *, folder: Path, host: str, port: int, sender: str, starttls: bool,
                   username: str, password: str) -> Transport | None:
    if mode == "off":
        return None
    if mode == "outbox":
        return OutboxTransport(folder)
    return SmtpTransport(host, port, sender, starttls, username, password)
