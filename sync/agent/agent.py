"""The sync agent: sends pending envelopes whenever the server is reachable.

One loop on one thread owns every decision (connect, send, resend, erase);
transports only move bytes and hand ack bytes back through a queue. States:

    connecting -> online -> (lost) -> offline --(backoff / network change / send_now)--> connecting

Erase happens only in ``_drain_acks`` (sync/agent/acks.py) through
``Outbox.acknowledge_many``, which verifies the server's signature, the device,
the record and the envelope hash first. A PUBACK or an HTTP 200 by itself erases
nothing. What the agent publishes and how it keeps its state: sync/agent/status.py;
server commands and revocation: sync/agent/fleet_link.py. See docs/sync.md.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

from sync.agent.acks import AgentAcks, Sent
from sync.agent.backoff import Backoff
from sync.agent.fleet_link import AgentFleet
from sync.agent.netwatch import link_fingerprint
from sync.agent.settings import AgentOptions, AgentSettings
from sync.agent.state import AgentState, load_state, now_ms
from sync.agent.status import AgentStatus, AgentStatusKeeper
from sync.device.command_exec import REVOKED_TEXT
from sync.device.config import DeviceConfig
from sync.outbox.outbox import Outbox, OutboxItem
from sync.transport.base import RecordHeld, Transport, TransportDown
from sync.transport.https import DeviceRevoked, HttpsTransport
from sync.transport.mqtt import MqttTransport
from sync.wire.ack import Ack
from sync.wire.errors import AckReason

__all__ = ["AgentStatus", "SyncAgent"]

log = logging.getLogger("fieldkit.sync")


class SyncAgent(AgentAcks, AgentStatusKeeper, AgentFleet):
    def __init__(self, settings: AgentSettings, options: AgentOptions | None = None,
                 on_tick: Callable[[], None] | None = None,
                 on_acked: Callable[[Ack, float | None], None] | None = None,
                 config: DeviceConfig | None = None) -> None:
        """``on_tick``: called every loop turn (watchdog). ``on_acked(ack, seconds since it was
        sent, or None)``: after each verified erase, on the agent thread (UI, benchmarks).
        ``config``: with it the agent also takes server commands (wipe, config update)."""
        self.settings = settings
        self.config = config
        self._cmds: queue.SimpleQueue[tuple[bytes, str]] = queue.SimpleQueue()
        self.wiped = False  # a verified wipe ran: nothing of this device is left
        self._hb_pending: int | None = None
        self._hb_last = 0.0
        self.options = options or AgentOptions()
        self._on_tick = on_tick
        self._on_acked = on_acked
        self._verifier = settings.verifier()
        self._acks: queue.SimpleQueue[tuple[bytes, str]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._kick = False
        self._lock = threading.Lock()
        self._outbox: Outbox | None = None
        self._thread: threading.Thread | None = None
        self._backoff = Backoff(self.options.backoff_initial_s, 2.0, self.options.backoff_cap_s)
        prev = load_state(settings.state_path)
        # Keep what the last run learned (last success, clock offset, today's sent count);
        # the rest is this run's.
        self.state = AgentState() if prev is None else replace(
            AgentState(), last_success_ms=prev.last_success_ms,
            last_success_server_ms=prev.last_success_server_ms, transport=prev.transport,
            clock_offset_ms=prev.clock_offset_ms, clock_source=prev.clock_source,
            clock_measured_ms=prev.clock_measured_ms, acked_day=prev.acked_day,
            acked_today=prev.acked_today)
        self._dirty = False
        self._last_save = 0.0
        self._logged_error: str | None = None
        self._rejected_logged: dict[AckReason, float] = {}

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

    def handle_ack(self, data: bytes, source: str = "mqtt") -> None:
        """Queue ack bytes for verification; transports call this, so can a test."""
        self._acks.put((data, source))
        self._wake.set()

    def handle_command(self, data: bytes, source: str = "mqtt") -> None:
        """Queue a server command for verification on the agent thread (transports call this)."""
        self._cmds.put((data, source))
        self._wake.set()

    # --- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        """Run until stop(); the daemon calls this on its main thread."""
        self._update(pid=_pid(), connection="connecting", since_ms=now_ms(), save=True)
        try:
            if not self._open_outbox():
                return
            retry_after: float | None = None
            while not self._stopping.is_set():
                self._drain_acks({})
                t = self._connect()
                if t is None:
                    self._sleep_offline(retry_after or self._backoff.next_delay())
                    retry_after = None
                    continue
                self._backoff.reset()
                if self.state.last_error == REVOKED_TEXT:
                    self._update(last_error=None)  # the server took us back (re-registered)
                try:
                    self._online(t)
                    t.close(self._status_payload(False) if self._stopping.is_set() else None)
                except TransportDown as e:
                    t.close()
                    retry_after = e.retry_after_s
                    if isinstance(e, DeviceRevoked):
                        self._revoked()
                    elif t.name == "mqtt" and "Not authorized" in str(e):
                        self._probe_revoked()
                    if self.wiped:
                        break
                    self._went_offline(REVOKED_TEXT if self.state.last_error == REVOKED_TEXT else str(e))
                    if retry_after is None:
                        self._sleep_offline(self._backoff.next_delay())
        finally:
            self._update(connection="stopped", since_ms=now_ms(), save=True)
            if self._outbox is not None:
                self._outbox.close()
            log.info("agente detenido")

    def _open_outbox(self) -> bool:
        s = self.settings
        waited = False
        while not self._stopping.is_set():
            if s.outbox_path.exists():
                self._outbox = Outbox.open_with_key_file(s.outbox_path, s.outbox_key)
                # Whatever a previous run had in flight goes again; the server dedups.
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
        if name == "mqtt":
            return MqttTransport(s.device_id, s.mqtt_url, s.tls, self.handle_ack, self._wake.set,
                                 window=o.mqtt_window, timeout_s=o.connect_timeout_s,
                                 on_command=self.handle_command if self.config else None)
        return HttpsTransport(s.device_id, s.https_url, s.tls, self.handle_ack, self._clock,
                              window=o.https_window, connect_timeout_s=o.connect_timeout_s,
                              read_timeout_s=o.http_read_timeout_s,
                              on_command=self.handle_command if self.config else None)

    def _connect(self) -> Transport | None:
        errors = []
        for name in self.settings.transport_order():
            if self._stopping.is_set():
                return None
            # One transport's open() is one bounded step (docs/sync.md, "Watchdog"): the
            # watchdog hears from the loop before each, never during one.
            self._tick()
            self._update(connection="connecting")
            t = self._make(name)
            try:
                t.open()
            except DeviceRevoked:
                self._revoked()
                errors.append(f"{name}: {REVOKED_TEXT}")
                continue
            except TransportDown as e:
                errors.append(f"{name}: {e}")
                continue
            self._update(connection="online", transport=name, since_ms=now_ms(), last_error=None,
                         save=True)
            log.info("conectado por %s", name)
            self._logged_error = None
            return t
        self._went_offline("; ".join(errors) or "sin transporte configurado")
        return None

    def _went_offline(self, why: str) -> None:
        was = self.state.connection
        self._update(connection="offline", last_error=why, save=was != "offline",
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
            self._drain_acks({})
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

    def _online(self, t: Transport) -> None:
        o = self.options
        assert self._outbox is not None
        ob = self._outbox
        ob.requeue_in_flight()  # a new connection: everything unacked goes again
        window: dict[uuid.UUID, Sent] = {}
        started = time.monotonic()
        next_hb = started
        last_poll = -1e9
        more = True
        while not self._stopping.is_set():
            self._tick()
            acked = self._drain_acks(window)
            if self.wiped:
                return  # a verified wipe: the outbox is gone
            t.check()
            now = time.monotonic()
            if now >= next_hb or self._status_changed(now):
                t.heartbeat(self._status_payload(True))
                self._hb_last = now
                next_hb = now + o.heartbeat_s
            if t.name == "mqtt":
                expired = [s.item for s in window.values() if now >= s.due(o.ack_timeout_s)]
                if expired:
                    ob.mark_in_flight([i.record_id for i in expired])
                    self._send(t, window, expired)
            free = t.window - len(window)
            if free > 0 and (more or acked or self._kick or now - last_poll >= o.poll_s):
                self._kick = False
                last_poll = now
                items = ob.next_batch(free, retry_after_s=None)
                more = len(items) == free
                if items:
                    ob.mark_in_flight([i.record_id for i in items])
                    self._send(t, window, items)
                    continue  # HTTPS acks are already queued; MQTT ones come soon
            if (t.name != self.settings.transport_order()[0] and not window
                    and now - started >= o.prefer_retry_s):
                return  # on the fallback for a while: try the preferred transport again
            self._save_if_due()
            timeout = min(o.poll_s, max(0.0, next_hb - now))
            if window and t.name == "mqtt":
                first_due = min(s.due(o.ack_timeout_s) for s in window.values())
                timeout = min(timeout, max(0.01, first_due - now))
            self._wait(timeout)

    def _send(self, t: Transport, window: dict[uuid.UUID, Sent], items: list[OutboxItem]) -> None:
        for item in items:
            if self._stopping.is_set():
                return
            self._tick()  # one record (one HTTPS request) is one bounded step
            prev = window.get(item.record_id)
            window[item.record_id] = Sent(item, time.monotonic(), now_ms(), prev.tries + 1 if prev else 1)
            try:
                t.send(item)
            except RecordHeld as e:
                # Kept in the outbox (still marked in flight): retried on the next connection.
                window.pop(item.record_id, None)
                self._update(held=self.state.held + 1, last_error=f"{item.folio}: {e}", save=True)
                log.warning("el servidor no aceptó %s (se conserva): %s", item.folio, e)

    # --- helpers ----------------------------------------------------------------------------

    def _wait(self, timeout: float) -> None:
        self._wake.wait(timeout)
        self._wake.clear()

    def _tick(self) -> None:
        if self._on_tick is not None:
            self._on_tick()


def _pid() -> int:
    import os

    return os.getpid()
