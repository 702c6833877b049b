"""The sync agent: sends pending envelopes whenever the server is reachable.

One loop on one thread owns every decision (connect, send, resend, erase);
transports only move bytes and hand ack bytes back through a queue. States:

    connecting -> online -> (lost) -> offline --(backoff / network change / send_now)--> connecting

Erase happens only in ``AckTracker.drain`` (sync/agent/acks.py) through
``Outbox.acknowledge_many``, which verifies the server's signature, the device,
the record and the envelope hash first. A PUBACK or an HTTP 200 by itself erases
nothing. A body already sent once is not sent again before the server is asked
whether it holds it (sync/agent/resend.py). What the agent publishes and how it
keeps its state: sync/agent/status.py; server commands and revocation:
sync/agent/fleet_link.py. See docs/sync.md.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable

from sync.agent.acks import AckTracker
from sync.agent.backoff import Backoff
from sync.agent.fleet_link import FleetHandler
from sync.agent.netwatch import link_fingerprint
from sync.agent.resend import ResendQueries
from sync.agent.settings import AgentOptions, AgentSettings
from sync.agent.state import AgentState, now_ms
from sync.agent.status import AgentStatus, StatusKeeper
from sync.device.command_exec import REVOKED_TEXT
from sync.device.config import DeviceConfig
from sync.outbox.outbox import Outbox, OutboxItem
from sync.transport.base import RecordHeld, Transport, TransportDown, Unauthorized
from sync.transport.https import DeviceRevoked, HttpsTransport
from sync.transport.mqtt import MqttTransport
from sync.wire.ack import Ack

__all__ = ["AgentStatus", "SyncAgent"]

log = logging.getLogger("fieldkit.sync")


class SyncAgent:
    """Owns the loop; its collaborators each keep one concern: the state and what is
    published of it (``StatusKeeper``), acks and what is in flight (``AckTracker``), resend
    queries (``ResendQueries``), server commands and revocation (``FleetHandler``)."""

    def __init__(self, settings: AgentSettings, options: AgentOptions | None = None,
                 on_tick: Callable[[], None] | None = None,
                 on_acked: Callable[[Ack, float | None], None] | None = None,
                 config: DeviceConfig | None = None) -> None:
        """``on_tick``: called every loop turn (watchdog). ``on_acked(ack, seconds since it was
        sent, or None)``: after each verified erase, on the agent thread (UI, benchmarks).
        ``config``: with it the agent also takes server commands (wipe, config update)."""
        self.settings = settings
        self.config = config
        self.options = options or AgentOptions()
        self.wiped = False  # a verified wipe ran: nothing of this device is left
        self.status = StatusKeeper(settings, self.options)
        self.fleet = FleetHandler(settings, config, self.status, lambda: self._make("https"))
        self.acks = AckTracker(settings.verifier(), self.status, self.fleet.revoked, on_acked)
        self.queries = ResendQueries(settings.device_id)
        self._on_tick = on_tick
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._kick = False
        self._outbox: Outbox | None = None
        self._thread: threading.Thread | None = None
        self._backoff = Backoff(self.options.backoff_initial_s, 2.0, self.options.backoff_cap_s)
        self._logged_error: str | None = None

    @property
    def state(self) -> AgentState:
        return self.status.state

    # --- public API (any thread) ----------------------------------------------------------

    def start(self) -> None:
        """Run the agent on a daemon thread (desktop / demo mode)."""
        self._thread = threading.Thread(target=self.run, name="fieldkit-sync", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the loop to finish (safe from a signal handler); it closes cleanly."""
        self._stopping.set()
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)

    def send_now(self) -> None:
        """Try at once (a record was just saved, or the user asked): skips the backoff wait."""
        self._kick = True
        self._wake.set()

    def snapshot(self) -> AgentStatus:
        return self.status.snapshot(self._outbox)

    def _heartbeat(self, online: bool) -> dict[str, object]:
        return self.status.heartbeat(self.snapshot(), online, self.config)

    def handle_ack(self, data: bytes, source: str = "mqtt", *, fresh: bool = False) -> None:
        """Queue ack bytes for verification; transports call this, so can a test. ``fresh``:
        the ack answers a send just made, so its time may set the clock (AckTracker.put)."""
        self.acks.put(data, source, fresh=fresh)
        self._wake.set()

    def handle_answer(self, data: bytes, source: str = "mqtt") -> None:
        """Queue a resend-query answer (transports call this)."""
        self.queries.put(data, source)
        self._wake.set()

    def handle_command(self, data: bytes, source: str = "mqtt") -> None:
        """Queue a server command for verification on the agent thread (transports call this)."""
        self.fleet.put(data, source)
        self._wake.set()

    # --- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        """Run until stop(); the daemon calls this on its main thread."""
        self.status.update(pid=os.getpid(), connection="connecting", since_ms=now_ms(), save=True)
        try:
            if not self._open_outbox():
                return
            retry_after: float | None = None
            while not self._stopping.is_set():
                self._drain()
                t = self._connect()
                if t is None:
                    self._sleep_offline(retry_after or self._backoff.next_delay())
                    retry_after = None
                    continue
                self._backoff.reset()
                if self.state.last_error == REVOKED_TEXT:
                    self.status.update(last_error=None)  # the server took us back (re-registered)
                try:
                    self._online(t)
                    t.close(self._heartbeat(False) if self._stopping.is_set() else None)
                except TransportDown as e:
                    t.close()
                    retry_after = e.retry_after_s
                    if isinstance(e, DeviceRevoked):
                        self.fleet.revoked()
                    elif isinstance(e, Unauthorized) and not t.reports_revocation:
                        self.fleet.probe_revoked()
                    if self.wiped:
                        break
                    self._went_offline(REVOKED_TEXT if self.state.last_error == REVOKED_TEXT else str(e))
                    if retry_after is None:
                        self._sleep_offline(self._backoff.next_delay())
        finally:
            self.status.update(connection="stopped", since_ms=now_ms(), save=True)
            if self._outbox is not None:
                self._outbox.close()
            log.info("agente detenido")

    def _open_outbox(self) -> bool:
        s = self.settings
        waited = False
        while not self._stopping.is_set():
            if s.outbox_path.exists():
                self._outbox = Outbox.open_with_key_file(s.outbox_path, s.outbox_key)
                # Whatever a previous run had in flight goes again (asked about first).
                self._outbox.requeue_in_flight()
                return True
            if not waited:
                log.info("esperando la bandeja de salida %s", s.outbox_path)
                waited = True
            self._tick()
            self._wait(self.options.netwatch_s)
        return False

    def _make(self, name: str) -> Transport:
        s, o = self.settings, self.options
        on_command = self.handle_command if self.config else None
        on_answer = self.handle_answer if o.resend_query else None
        if name == "mqtt":
            return MqttTransport(s.device_id, s.mqtt_url, s.tls,
                                 lambda data, src: self.handle_ack(data, src, fresh=True), self._wake.set,
                                 window=o.mqtt_window, timeout_s=o.connect_timeout_s,
                                 on_command=on_command, on_answer=on_answer)
        # HTTPS answers carry the server's time in a header (the clock comes from there), so
        # its acks do not set the clock; MQTT acks pushed for a send do.
        return HttpsTransport(s.device_id, s.https_url, s.tls, self.handle_ack, self.status.clock,
                              window=o.https_window, connect_timeout_s=o.connect_timeout_s,
                              read_timeout_s=o.http_read_timeout_s, on_command=on_command,
                              on_answer=on_answer)

    def _connect(self) -> Transport | None:
        errors = []
        for name in self.settings.transport_order():
            if self._stopping.is_set():
                return None
            # One transport's open() is one bounded step (docs/sync.md, "Watchdog"): the
            # watchdog hears from the loop before each, never during one.
            self._tick()
            self.status.update(connection="connecting")
            t = self._make(name)
            try:
                t.open()
            except DeviceRevoked:
                self.fleet.revoked()
                errors.append(f"{name}: {REVOKED_TEXT}")
                continue
            except TransportDown as e:
                errors.append(f"{name}: {e}")
                continue
            self.status.update(connection="online", transport=name, since_ms=now_ms(), last_error=None,
                               save=True)
            log.info("conectado por %s", name)
            self._logged_error = None
            return t
        self._went_offline("; ".join(errors) or "sin transporte configurado")
        return None

    def _went_offline(self, why: str) -> None:
        was = self.state.connection
        self.status.update(connection="offline", last_error=why, save=was != "offline",
                           **({"since_ms": now_ms()} if was != "offline" else {}))
        # Log changes, not every retry: days offline must not fill the disk.
        if why != self._logged_error:
            log.warning("sin conexión: %s", why)
            self._logged_error = why
        else:
            log.debug("sin conexión (igual que antes): %s", why)

    def _sleep_offline(self, delay: float) -> None:
        """Wait ``delay`` s, or less if asked to send now or if the network changes."""
        deadline = time.monotonic() + delay
        fp = link_fingerprint()
        while not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._tick()
            self._wait(min(left, self.options.netwatch_s))
            self._drain()
            if self._kick:
                self._kick = False
                self._backoff.reset()
                return
            if link_fingerprint() != fp:
                log.info("cambió la red: reintentando ya")
                self._backoff.reset()
                return
            self._offline_summary()

    def _offline_summary(self) -> None:
        since = self.state.since_ms or now_ms()
        last = getattr(self, "_summary_ms", since)
        if now_ms() - last >= self.options.offline_summary_s * 1000:
            self._summary_ms = now_ms()
            log.info("sigue sin conexión desde hace %.0f min (%d intentos seguidos)",
                     (now_ms() - since) / 60000, self._backoff.failures)

    def _drain(self) -> tuple[list[Ack], set[uuid.UUID]]:
        """Commands, then answers (their acks join the others), then acks: verified and
        erased. Returns the acks that erased something and the records to send now."""
        if self.fleet.drain(self._close_outbox_for_wipe):
            self.wiped = True
            self.request_stop()
            return [], set()
        missing = self.queries.drain(lambda a: self.acks.put(a, "answer"))
        return self.acks.drain(self._outbox), missing

    def _close_outbox_for_wipe(self) -> None:
        if self._outbox is not None:
            self._outbox.close()  # verified: its file is about to go
            self._outbox = None

    def _online(self, t: Transport) -> None:
        o = self.options
        assert self._outbox is not None
        ob = self._outbox
        ob.requeue_in_flight()  # a new connection: everything unacked goes again (asked first)
        window = self.acks.window
        window.entries.clear()
        self.queries.new_connection()
        cleared: set[uuid.UUID] = set()  # asked about, to be sent (the server lacks them)
        full = False                     # the next envelope did not fit: wait for an ack
        started = time.monotonic()
        next_hb = started
        last_poll = -1e9
        more = True
        while not self._stopping.is_set():
            self._tick()
            acked, missing = self._drain()
            if self.wiped:
                return  # a verified wipe: the outbox is gone
            t.check()
            now = time.monotonic()
            if now >= next_hb or self.status.changed(now, self._outbox, self.config):
                t.heartbeat(self._heartbeat(True))
                next_hb = now + o.heartbeat_s
            # Bodies to send: the server does not hold them, did not answer in time, or takes
            # no queries; within the byte budget, the rest on later turns.
            cleared |= missing
            cleared |= {s.item.record_id for s in window.due(o, now, acks_async=t.acks_async) if s.asking}
            if not t.queries_ok:
                cleared |= {s.item.record_id for s in window.asking()}
            cleared &= {s.item.record_id for s in window.asking()}
            if cleared:
                go = window.fit(sorted((window.entries[r].item for r in cleared), key=lambda i: i.seq),
                                o.window_bytes)
                cleared -= {i.record_id for i in go}
                if go:
                    self._send(t, go)
                    continue
                full = True  # the cleared bodies go first, as acks free the budget
            # Bodies sent and not acked in time (MQTT): ask about them first, or resend.
            late = [s.item for s in window.due(o, now, acks_async=t.acks_async) if not s.asking]
            if late:
                ob.mark_in_flight([i.record_id for i in late])
                self._ask_or_send(t, late)
            full = full and not acked and window.bodies() > 0
            free = t.window - len(window)
            if free > 0 and not full and (more or acked or self._kick or now - last_poll >= o.poll_s):
                self._kick = False
                last_poll = now
                fetched = ob.next_batch(free, retry_after_s=None)
                items = window.fit(fetched, o.window_bytes)
                full = len(items) < len(fetched)
                more = len(fetched) == free and not full  # a full batch that fit: maybe more now
                if items:
                    ob.mark_in_flight([i.record_id for i in items])
                    self._ask_or_send(t, items)
                    continue  # HTTPS acks are already queued; MQTT ones come soon
            if (t.name != self.settings.transport_order()[0] and not window
                    and now - started >= o.prefer_retry_s):
                return  # on the fallback for a while: try the preferred transport again
            self.status.save_if_due()
            timeout = min(o.poll_s, max(0.0, next_hb - now))
            first_due = window.first_due(o, acks_async=t.acks_async)
            if first_due is not None:
                timeout = min(timeout, max(0.01, first_due - now))
            self._wait(timeout)

    def _ask_or_send(self, t: Transport, items: list[OutboxItem]) -> None:
        """Records the server may hold already (sent before) are asked about; others go.
        Asked-about records join the window (their bodies count once cleared)."""
        if not (self.options.resend_query and t.queries_ok):
            self._send(t, items)
            return
        window = self.acks.window
        maybe = [i for i in items if i.attempts > 0 or i.record_id in window.entries]
        asked = {i.record_id for i in maybe}
        fresh = [i for i in items if i.record_id not in asked]
        if maybe:
            for i in maybe:
                window.asked(i)
            self.queries.ask(t, maybe)
            if not t.acks_async:
                # The answer came with the request, or will not come (an older server): what
                # it did not clear is sent now rather than after a wait.
                self._drain()
                still = {s.item.record_id for s in window.asking()}
                fresh += [i for i in maybe if i.record_id in still]
        self._send(t, fresh)

    def _send(self, t: Transport, items: Iterable[OutboxItem]) -> None:
        for item in items:
            if self._stopping.is_set():
                return
            self._tick()  # one record (one HTTPS request) is one bounded step
            self.acks.window.sent(item)
            try:
                t.send(item)
            except RecordHeld as e:
                # Kept in the outbox (still marked in flight): retried on the next connection.
                self.acks.window.entries.pop(item.record_id, None)
                self.status.update(held=self.state.held + 1, last_error=f"{item.folio}: {e}", save=True)
                log.warning("el servidor no aceptó %s (se conserva): %s", item.folio, e)

    # --- helpers ----------------------------------------------------------------------------

    def _wait(self, timeout: float) -> None:
        self._wake.wait(timeout)
        self._wake.clear()

    def _tick(self) -> None:
        if self._on_tick is not None:
            self._on_tick()


