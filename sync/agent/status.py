"""The sync agent's status: what it publishes (kiosk, `fieldkit-sync status`, heartbeats)
and how its state is kept and saved (`<data dir>/sync-state.json`, sync/agent/state.py).

``StatusKeeper.snapshot`` is safe from any thread; the rest runs on the agent thread.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sync.agent.state import AgentState, load_state, now_ms, save_state
from sync.device.command_exec import REVOKED_TEXT, last_applied_seq
from sync.device.heartbeat import CHANGE_MIN_INTERVAL_S, vitals
from sync.outbox.errors import OutboxError
from sync.wire.config_schema import CONFIG_SCHEMA

if TYPE_CHECKING:
    from sync.agent.settings import AgentOptions, AgentSettings
    from sync.device.config import DeviceConfig
    from sync.outbox.outbox import Outbox

log = logging.getLogger("fieldkit.sync")


@dataclass(frozen=True)
class AgentStatus:
    """What the kiosk UI and `fieldkit-sync status` show."""

    state: AgentState
    pending: int | None            # records not yet acknowledged (pending + in flight)
    in_flight: int | None
    oldest_pending_age_s: float | None


class StatusKeeper:
    """The agent's state: changed under a lock, saved on changes that matter or at most every
    ``options.state_save_s`` while busy (an SD card must not wear out)."""

    def __init__(self, settings: AgentSettings, options: AgentOptions) -> None:
        self.settings = settings
        self.options = options
        self._lock = threading.Lock()
        self._dirty = False
        self._last_save = 0.0
        self._hb_pending: int | None = None   # queue depth told in the last heartbeat
        self._hb_last = 0.0
        prev = load_state(settings.state_path)
        # Keep what the last run learned (last success, clock offset, today's sent count);
        # the rest is this run's.
        self.state = AgentState() if prev is None else replace(
            AgentState(), last_success_ms=prev.last_success_ms,
            last_success_server_ms=prev.last_success_server_ms, transport=prev.transport,
            clock_offset_ms=prev.clock_offset_ms, clock_source=prev.clock_source,
            clock_measured_ms=prev.clock_measured_ms, acked_day=prev.acked_day,
            acked_today=prev.acked_today)

    def snapshot(self, outbox: Outbox | None) -> AgentStatus:
        with self._lock:
            state = replace(self.state)
        if outbox is None:
            return AgentStatus(state, None, None, None)
        try:
            c = outbox.counts()
            return AgentStatus(state, c.unacknowledged, c.in_flight, outbox.oldest_pending_age_s())
        except OutboxError:
            return AgentStatus(state, None, None, None)

    def heartbeat(self, st: AgentStatus, online: bool, config: DeviceConfig | None) -> dict[str, object]:
        """The heartbeat: what the server's fleet view shows of this device."""
        self._hb_pending, self._hb_last = st.pending, time.monotonic()
        out: dict[str, object] = {
            "online": online, "device_id": self.settings.device_id, "pending": st.pending,
            "oldest_pending_age_s": st.oldest_pending_age_s, "config_schema": CONFIG_SCHEMA,
            "app_version": self.settings.app_version, "device_time_ms": now_ms(),
            "clock_offset_ms": st.state.clock_offset_ms, "transport": st.state.transport}
        if config is not None:  # fleet fields (docs/server.md, "Fleet")
            out.update(vitals(self.settings.outbox_path.parent))
            out.update(last_sync_ms=st.state.last_success_ms,
                       last_sync_server_ms=st.state.last_success_server_ms,
                       last_command_seq=last_applied_seq(config),
                       revoked=st.state.last_error == REVOKED_TEXT)
        return out

    def changed(self, now: float, outbox: Outbox | None, config: DeviceConfig | None) -> bool:
        """Heartbeat on change (fleet devices): the queue depth moved since the last heartbeat
        (at most every CHANGE_MIN_INTERVAL_S)."""
        if config is None or outbox is None or now - self._hb_last < CHANGE_MIN_INTERVAL_S:
            return False
        try:
            return outbox.counts().unacknowledged != self._hb_pending
        except OutboxError:
            return False

    def clock(self, server_ms: int, device_ms: int, source: str) -> None:
        """The server's time was `server_ms` when ours was `device_ms` (devices have no RTC)."""
        self.update(clock_offset_ms=server_ms - device_ms, clock_source=source,
                    clock_measured_ms=device_ms)

    def update(self, save: bool = False, **changes: object) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(self.state, k, v)
            self._dirty = True
        if save:
            self.save()

    def save_if_due(self) -> None:
        if self._dirty and time.monotonic() - self._last_save >= self.options.state_save_s:
            self.save()

    def save(self) -> None:
        with self._lock:
            snap = replace(self.state)
            self._dirty = False
        self._last_save = time.monotonic()
        try:
            save_state(self.settings.state_path, snap)
        except OSError as e:
            log.debug("no se pudo guardar el estado: %s", e)
