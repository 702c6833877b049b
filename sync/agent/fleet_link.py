"""The sync agent's fleet side: server commands and revocation.

Runs on the agent thread, called from its loop. Commands are verified in
sync/device/command_exec.py before anything happens.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from typing import TYPE_CHECKING

from sync.device.command_exec import REVOKED_TEXT, execute, mark_revoked, verify
from sync.device.config import DeviceConfig
from sync.transport.base import Transport, TransportDown
from sync.transport.https import DeviceRevoked
from sync.wire.command import CommandRejected

if TYPE_CHECKING:
    from sync.agent.settings import AgentSettings
    from sync.agent.status import StatusKeeper

log = logging.getLogger("fieldkit.sync")


class FleetHandler:
    """Server commands in (from any transport thread), applied on the agent thread; the
    device's revocation, told by the server or found out by asking HTTPS."""

    def __init__(self, settings: AgentSettings, config: DeviceConfig | None, keeper: StatusKeeper,
                 make_https: Callable[[], Transport]) -> None:
        self.settings = settings
        self.config = config
        self._keeper = keeper
        self._make_https = make_https
        self._cmds: queue.SimpleQueue[tuple[bytes, str]] = queue.SimpleQueue()

    def put(self, data: bytes, source: str) -> None:
        self._cmds.put((data, source))

    def drain(self, before_wipe: Callable[[], None]) -> bool:
        """Apply the commands waiting; True once a verified wipe has run (nothing of this
        device is left). ``before_wipe`` closes the outbox whose file is about to go."""
        while True:
            try:
                data, src = self._cmds.get_nowait()
            except queue.Empty:
                return False
            if self.config is None:
                continue
            try:
                cmd = verify(self.config, data, self._keeper.state.clock_offset_ms)
            except CommandRejected as e:
                log.warning("orden rechazada (%s): %s", src, e)
                continue
            if cmd.kind == "wipe":
                before_wipe()
            r = execute(self.config, cmd)
            if r.applied and r.kind == "wipe":
                return True

    def revoked(self, why: str = REVOKED_TEXT) -> None:
        if self._keeper.state.last_error != REVOKED_TEXT:
            log.error("el servidor revocó este dispositivo (%s)", why)
        mark_revoked(self.settings.outbox_path.parent, why)  # first: the kiosk reads this file
        self._keeper.update(last_error=REVOKED_TEXT, save=True)

    def probe_revoked(self) -> None:
        """A transport that cannot say "revoked" refused us: if HTTPS says so, that is why."""
        if not self.settings.https_url:
            return
        t = self._make_https()
        try:
            t.open()
        except DeviceRevoked:
            self.revoked("HTTPS 403 device_revoked")
        except TransportDown:
            pass
        finally:
            t.close()
