"""The sync agent: sends pending envelopes whenever the server is reachable.

One loop on one thread owns every decision (connect, send, resend, erase);
transports only move bytes and hand ack bytes back through a queue. States:

    connecting -> online -> (lost) -> offline --(backoff / network change / send_now)--> connecting

Erase happens only in ``_drain_acks`` through ``Outbox.acknowledge_many``, which
verifies the server's signature, the device, the record and the envelope hash
first. A PUBACK or an HTTP 200 by itself erases nothing. See docs/sync.md.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from .ack import Ack
from .agent_fleet import AgentFleet
from .agent_settings import AgentOptions, AgentSettings
from .agent_state import AgentState, load_state, now_ms, save_state
from .backoff import Backoff
from .commands import REVOKED_TEXT, last_applied_seq
from .config import DeviceConfig
from .errors import AckReason, OutboxError
from .heartbeat import vitals
from .netwatch import link_fingerprint
from .outbox import Outbox, OutboxItem
from .transport import RecordHeld, Transport, TransportDown
from .transport_https import DeviceRevoked, HttpsTransport
from .transport_mqtt import MqttTransport

log = logging.getLogger("fieldkit.sync")


@dataclass
class _Sent:
    item: OutboxItem
    sent_mono: float
    sent_ms: int
    tries: int = 1  # sends in this connection

    def due(self, ack_timeout_s: float) -> float:
        # Doubling per unanswered resend (cap 32x): a record the server never acks (damaged on
        # disk, say) costs a resend every ~10 min, not every ack timeout, and blocks no other.
        return self.sent_mono + ack_timeout_s * 2 ** min(self.tries - 1, 5)


@dataclass(frozen=True)
class AgentStatus:
    """What the kiosk UI and `fieldkit-sync status` show."""

    state: AgentState
    pending: int | None            # records not yet acknowledged (pending + in flight)
    in_flight: int | None
    oldest_pending_age_s: float | None


class SyncAgent(AgentFleet):
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

    def snapshot(self) -> AgentStatus:
        with self._lock:
            state = replace(self.state)
        ob = self._outbox
        if ob is None:
            return AgentStatus(state, None, None, None)
        try:
            c = ob.counts()
            return AgentStatus(state, c.unacknowledged, c.in_flight, ob.oldest_pending_age_s())
        except OutboxError:
            return AgentStatus(state, None, None, None)

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
        window: dict[uuid.UUID, _Sent] = {}
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

    def _send(self, t: Transport, window: dict[uuid.UUID, _Sent], items: list[OutboxItem]) -> None:
        for item in items:
            if self._stopping.is_set():
                return
            self._tick()  # one record (one HTTPS request) is one bounded step
            prev = window.get(item.record_id)
            window[item.record_id] = _Sent(item, time.monotonic(), now_ms(), prev.tries + 1 if prev else 1)
            try:
                t.send(item)
            except RecordHeld as e:
                # Kept in the outbox (still marked in flight): retried on the next connection.
                window.pop(item.record_id, None)
                self._update(held=self.state.held + 1, last_error=f"{item.folio}: {e}", save=True)
                log.warning("el servidor no aceptó %s (se conserva): %s", item.folio, e)

    def _drain_acks(self, window: dict[uuid.UUID, _Sent]) -> bool:
        self._drain_commands()
        batch: list[tuple[bytes, str]] = []
        while True:
            try:
                batch.append(self._acks.get_nowait())
            except queue.Empty:
                break
        if not batch or self._outbox is None:
            for b in batch:  # outbox not open yet: keep them for later
                self._acks.put(b)
            return False
        done, refused = self._outbox.acknowledge_many([b for b, _ in batch], self._verifier)
        wall = now_ms()
        n_refused = 0
        via_mqtt = any(src == "mqtt" for _, src in batch)
        for ack in done:
            sent = window.pop(ack.record_id, None)
            if self._on_acked is not None:
                self._on_acked(ack, None if sent is None else time.monotonic() - sent.sent_mono)
            if ack.verdict == "rechazado:dispositivo_revocado":
                self._revoked(ack.verdict)
            if ack.verdict.startswith("rechazado"):
                n_refused += 1
                log.warning("el servidor rechazó %s en definitiva (%s); borrado del dispositivo",
                            ack.folio, ack.verdict)
            if sent is not None and sent.item.attempts == 0 and sent.tries == 1 and via_mqtt:
                # First send ever, so received_ms is fresh: server time within our round trip.
                self._clock(ack.received_ms, (sent.sent_ms + wall) // 2, "mqtt-ack")
        bad = [e for e in refused if e.reason is not AckReason.UNKNOWN_RECORD]
        for e in bad:
            last = self._rejected_logged.get(e.reason, 0.0)
            if time.monotonic() - last > 60:  # an attacker must not flood the log either
                log.warning("ack rechazado, no se borra nada: %s", e)
                self._rejected_logged[e.reason] = time.monotonic()
        if done:
            s = self.state
            self._update(acked_total=s.acked_total + len(done), refused_total=s.refused_total + n_refused,
                         last_success_ms=wall, last_success_server_ms=wall + (s.clock_offset_ms or 0)
                         if s.clock_offset_ms is not None else None)
        if bad:
            self._update(rejected_acks=self.state.rejected_acks + len(bad))
        return bool(done)

    # --- helpers ----------------------------------------------------------------------------

    def _clock(self, server_ms: int, device_ms: int, source: str) -> None:
        self._update(clock_offset_ms=server_ms - device_ms, clock_source=source,
                     clock_measured_ms=device_ms)

    def _status_payload(self, online: bool) -> dict[str, object]:
        st = self.snapshot()
        self._hb_pending = st.pending
        out: dict[str, object] = {
            "online": online, "device_id": self.settings.device_id, "pending": st.pending,
            "oldest_pending_age_s": st.oldest_pending_age_s,
            "app_version": self.settings.app_version, "device_time_ms": now_ms(),
            "clock_offset_ms": st.state.clock_offset_ms, "transport": st.state.transport}
        if self.config is not None:  # fleet fields (docs/server.md, "Fleet")
            out.update(vitals(self.settings.outbox_path.parent))
            out.update(last_sync_ms=st.state.last_success_ms,
                       last_sync_server_ms=st.state.last_success_server_ms,
                       last_command_seq=last_applied_seq(self.config),
                       revoked=st.state.last_error == REVOKED_TEXT)
        return out

    def _wait(self, timeout: float) -> None:
        self._wake.wait(timeout)
        self._wake.clear()

    def _tick(self) -> None:
        if self._on_tick is not None:
            self._on_tick()

    def _update(self, save: bool = False, **changes: object) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(self.state, k, v)
            self._dirty = True
        if save:
            self._save()

    def _save_if_due(self) -> None:
        if self._dirty and time.monotonic() - self._last_save >= self.options.state_save_s:
            self._save()

    def _save(self) -> None:
        with self._lock:
            snap = replace(self.state)
            self._dirty = False
        self._last_save = time.monotonic()
        try:
            save_state(self.settings.state_path, snap)
        except OSError as e:
            log.debug("no se pudo guardar el estado: %s", e)


def _pid() -> int:
    import os

    return os.getpid()
