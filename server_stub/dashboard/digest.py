"""The alerts digest: the overview's alerts e-mailed to coordinators, at most once per
`[alerts] digest_every_hours`, only when there is something to say.

It looks every `interval_s` (a minute): the first alert goes out at once, later ones wait
for the period to pass since the last digest (the time is kept in the store, so a restart
neither repeats nor forgets it). The slot is claimed in the store before delivery, so two
`serve` processes never both send. Delivery uses the acuse transport (`[acuse]`: outbox
folder or SMTP relay), one recipient at a time: a refused address is logged and the others
still get theirs, once. When every recipient failed (the relay is down) the claim is
withdrawn and the next try waits, doubling from a minute up to an hour. The clock is a
parameter so tests move time at will.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from zoneinfo import ZoneInfo

from server_stub.core.background import RoundThread
from server_stub.core.store import Store
from server_stub.dashboard import alerts as alertmod
from server_stub.dashboard import data
from server_stub.fleet import tables as fleet
from server_stub.ingest.acuse import Transport, redact_addresses
from sync.common import periods

log = logging.getLogger("fieldkit.server.digest")

SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_digests (
    sent_ms     {int} PRIMARY KEY,
    alerts      {int} NOT NULL,
    recipients  {int} NOT NULL
)
"""


def ensure_schema(store: Store) -> None:
    store.ensure_schema(SCHEMA, 7711121)


def last_sent_ms(store: Store) -> int | None:
    rows = store.query("SELECT MAX(sent_ms) FROM alert_digests")
    return int(rows[0][0]) if rows and rows[0][0] is not None else None


def build_digest(found: Sequence[alertmod.Alert], now_ms: int, sender: str, tz: ZoneInfo) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = formataddr(("Tablero de apoyo ciudadano", sender))
    msg["Subject"] = f"Avisos del tablero: {len(found)}"
    msg["Date"] = format_datetime(periods.local(now_ms, tz))
    lines = [f"Avisos al {periods.show(now_ms, tz)}:", ""]
    for a in found:
        seen = f" Último latido: {periods.show(a.heartbeat_ms, tz)}." if a.heartbeat_ms else ""
        who = a.name if a.kind == alertmod.WINDOW else f"{a.name} ({a.device_id})"
        lines.append(f"- {who}: {a.text}{seen}")
    lines += ["", "El tablero muestra los mismos avisos; desaparecen solos cuando la causa se resuelve."]
    msg.set_content("\n".join(lines) + "\n")
    return msg


class DigestWorker(RoundThread):
    _thread_name, _join_s, _log = "alert-digest", 10.0, log
    _paused, _failed = "alert digest paused", "alert digest round failed"

    RETRY_MIN_MS, RETRY_MAX_MS = 60_000, 3_600_000

    def __init__(self, store: Store, transport: Transport, sender: str, recipients: Sequence[str], *,
                 every_s: float = 24 * 3600, thresholds: alertmod.Thresholds | None = None,
                 tz_name: str = periods.DEFAULT_TZ, clock: Callable[[], int] | None = None,
                 interval_s: float = 60.0) -> None:
        self.store, self.transport, self.sender = store, transport, sender
        self.recipients = list(recipients)
        self.every_ms = int(every_s * 1000)
        self.thresholds = thresholds or alertmod.Thresholds()
        self.tz = periods.zone(tz_name)
        self.clock: Callable[[], int] = clock or (lambda: int(time.time() * 1000))
        super().__init__(interval_s)
        self._retry_ms = 0  # after a delivery that reached nobody: wait this long
        self._next_try_ms = 0
        ensure_schema(store)
        fleet.ensure_label_column(store)  # device names, as the dashboard shows them

    def _round(self) -> bool:
        self.send_if_due()
        return False

    def send_if_due(self) -> int:
        """Send the digest if it is due and there are alerts; returns how many were sent."""
        now = self.clock()
        if now < self._next_try_ms or not self.recipients:
            return 0
        last = last_sent_ms(self.store)
        if last is not None and now - last < self.every_ms:
            return 0
        found = alertmod.alerts(data.devices(self.store), now, self.thresholds,
                                data.sending_windows(self.store), data.activation_counts(self.store, now))
        if not found or not self._claim(now, len(found)):
            return 0
        msg = build_digest(found, now, self.sender, self.tz)
        sent = 0
        for i, to in enumerate(self.recipients):
            del msg["To"]
            msg["To"] = to
            try:
                self.transport.deliver(to, msg.as_bytes(), f"avisos-{now}-{i}")
                sent += 1
            except Exception as e:  # one refused address must not hold back the others
                log.error("alert digest to recipient %d of %d not delivered: %s", i + 1,
                          len(self.recipients), redact_addresses(str(e)))
        if sent == 0:  # nobody got it: withdraw the claim, try again later
            with self.store.tx() as conn:
                conn.execute(self.store.sql("DELETE FROM alert_digests WHERE sent_ms = ?"), (now,))
            self._retry_ms = min(max(self.RETRY_MIN_MS, 2 * self._retry_ms), self.RETRY_MAX_MS)
            self._next_try_ms = now + self._retry_ms
            return 0
        self._retry_ms = 0
        log.info("alert digest sent: %d alerts to %d of %d coordinators", len(found), sent,
                 len(self.recipients))
        return sent

    def _claim(self, now: int, n_alerts: int) -> bool:
        """Take the slot in the store: only if no other process took one within the period."""
        s = self.store
        with s.tx() as conn:
            if s.kind == "postgresql":
                conn.execute("SELECT pg_advisory_xact_lock(7711121)")
            row = conn.execute("SELECT MAX(sent_ms) FROM alert_digests").fetchone()
            if row and row[0] is not None and now - int(row[0]) < self.every_ms:
                return False
            conn.execute(s.sql("INSERT INTO alert_digests (sent_ms, alerts, recipients) VALUES (?, ?, ?) "
                               "ON CONFLICT (sent_ms) DO NOTHING"), (now, n_alerts, len(self.recipients)))
        return True
