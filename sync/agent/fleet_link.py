"""The sync agent's fleet side: server commands, revocation, heartbeat on change.

A mixin of ``SyncAgent`` so the send/ack loop in agent.py stays as it was; these
run on the agent thread, called from the loop. Commands are verified in
sync/device/command_exec.py before anything happens.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from sync.agent.state import AgentState
from sync.device.command_exec import REVOKED_TEXT, execute, mark_revoked, verify
from sync.device.config import DeviceConfig
from sync.device.heartbeat import CHANGE_MIN_INTERVAL_S
from sync.outbox.errors import OutboxError
from sync.transport.base import Transport, TransportDown
from sync.transport.https import DeviceRevoked
from sync.wire.command import CommandRejected

if TYPE_CHECKING:
    from sync.agent.settings import AgentSettings
    from sync.outbox.outbox import Outbox

log = logging.getLogger("fieldkit.sync")


class AgentFleet:
    # Provided by SyncAgent.
    settings: AgentSettings
    config: DeviceConfig | None
    state: AgentState
    wiped: bool
    _cmds: queue.SimpleQueue[tuple[bytes, str]]
    _outbox: Outbox | None
    _stopping: threading.Event
    _hb_pending: int | None
    _hb_last: float
    request_stop: Callable[[], None]
    _open_outbox: Callable[[], bool]
    _make: Callable[[str], Transport]
    _update: Callable[..., None]

    def _drain_commands(self) -> None:
        while not self.wiped:
            try:
                data, _src = self._cmds.get_nowait()
            except queue.Empty:
                return
            if self.config is None:
                continue
            try:
                cmd = verify(self.config, data, self.state.clock_offset_ms)
            except CommandRejected as e:
                log.warning("orden rechazada (%s): %s", _src, e)
                continue
            if cmd.kind == "wipe" and self._outbox is not None:
                self._outbox.close()  # verified: its file is about to go
                self._outbox = None
            r = execute(self.config, cmd)
            if r.applied and r.kind == "wipe":
                self.wiped = True
                self.request_stop()
                return

    def _revoked(self, why: str = REVOKED_TEXT) -> None:
        if self.state.last_error != REVOKED_TEXT:
            log.error("el servidor revocó este dispositivo (%s)", why)
        mark_revoked(self.settings.outbox_path.parent, why)  # first: the kiosk reads this file
        self._update(last_error=REVOKED_TEXT, save=True)

    def _probe_revoked(self) -> None:
        """The broker refused us: if HTTPS says "revoked", that is why (MQTT cannot say it)."""
        if not self.settings.https_url:
            return
        t = self._make("https")
        try:
            t.open()
        except DeviceRevoked:
            self._revoked("HTTPS 403 device_revoked")
        except TransportDown:
            pass
        finally:
            t.close()

    def _status_changed(self, now: float) -> bool:
        """Heartbeat on change: the queue depth moved (at most every CHANGE_MIN_INTERVAL_S)."""
        if self.config is None or now - self._hb_last < CHANGE_MIN_INTERVAL_S or self._outbox is None:
            return False
        try:
            return self._outbox.counts().unacknowledged != self._hb_pending
        except OutboxError:
            return False
