"""The sync agent's status: what it publishes (kiosk, `fieldkit-sync status`, heartbeats)
and how its state is kept and saved (`<data dir>/sync-state.json`, sync/agent/state.py).

A mixin of ``SyncAgent`` (sync/agent/agent.py). ``snapshot`` is safe from any thread; the
rest runs on the agent thread.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sync.agent.state import AgentState, now_ms, save_state
from sync.device.command_exec import REVOKED_TEXT, last_applied_seq
from sync.device.heartbeat import vitals
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


class AgentStatusKeeper:
    # Provided by SyncAgent.
    settings: AgentSettings
    options: AgentOptions
    config: DeviceConfig | None
    state: AgentState
    _lock: threading.Lock
    _outbox: Outbox | None
    _hb_pending: int | None
    _dirty: bool
    _last_save: float

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

    def _status_payload(self, online: bool) -> dict[str, object]:
        st = self.snapshot()
        self._hb_pending = st.pending
        out: dict[str, object] = {
            "online": online, "device_id": self.settings.device_id, "pending": st.pending,
            "oldest_pending_age_s": st.oldest_pending_age_s, "config_schema": CONFIG_SCHEMA,
            "app_version": self.settings.app_version, "device_time_ms": now_ms(),
            "clock_offset_ms": st.state.clock_offset_ms, "transport": st.state.transport}
        if self.config is not None:  # fleet fields (docs/server.md, "Fleet")
            out.update(vitals(self.settings.outbox_path.parent))
            out.update(last_sync_ms=st.state.last_success_ms,
                       last_sync_server_ms=st.state.last_success_server_ms,
                       last_command_seq=last_applied_seq(self.config),
                       revoked=st.state.last_error == REVOKED_TEXT)
        return out

    def _clock(self, server_ms: int, device_ms: int, source: str) -> None:
        self._update(clock_offset_ms=server_ms - device_ms, clock_source=source,
                     clock_measured_ms=device_ms)

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
