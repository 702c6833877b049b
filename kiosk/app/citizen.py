"""The self-service controller: asking for an activation code, typing it, choosing the aspirant,
and the idle warning.

Owned by `kiosk.app.window.KioskWindow` when the config has ``[self_service] enabled = true``
(the flow is then a `kiosk.capture.citizen.CitizenFlow`). The request goes to the server on a
worker through the one injectable callable `Services.request_activation` (the window's services
carry `sync.device.activation.request_activation`; tests hand their own); its refusal arrives
as an exception with a `msg` (`activation.*`), shown in the citizen's words. Before a capture
starts, home's gate (revoked device, freeze, period or clock, free disk) runs on a worker too.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

from kiosk.app.lock import LockController
from kiosk.app.shell import Shell
from kiosk.capture.citizen import CitizenFlow
from kiosk.capture.flow import Notice, Step
from sync.common.msg import Msg

_log = logging.getLogger("fieldkit.kiosk")


class IdleView(Protocol):
    def show_seconds(self, seconds: int | None) -> None: ...


class CitizenController:
    def __init__(self, shell: Shell, lock: LockController, gate: Callable[[str], Msg | None]) -> None:
        """`gate`: why a capture of a process may not start now (home's `capture_gate`)."""
        self.shell = shell
        self.lock = lock
        self.gate = gate
        self.idle_view: IdleView | None = None
        self._asked = 0   # activation requests sent: only the last one's answer counts

    @property
    def flow(self) -> CitizenFlow:
        flow = self.shell.flow
        assert isinstance(flow, CitizenFlow)
        return flow

    # -- the start ----------------------------------------------------------------------------
    def request_code(self) -> None:
        self.flow.request_code(time.monotonic())

    def have_code(self) -> None:
        self.flow.have_code(time.monotonic())

    # -- asking for a code ----------------------------------------------------------------------
    def email(self, address: str) -> None:
        """The activation's e-mail typed: valid, the request goes to the server on a worker."""
        flow = self.flow
        if not flow.activation_email(address):
            self.shell.show_notice()
            return
        sh, req = self.shell, flow.request
        ask, cfg = sh.sv.request_activation, sh.sv.config
        assert req is not None
        if ask is None or cfg is None:
            flow.activation_refused(Msg("citizen.request_unavailable"))
            return
        self._asked += 1
        asked = self._asked

        def current() -> bool:
            return asked == self._asked and sh.flow is flow and flow.step == Step.ACT_SENDING

        def done(answer: Any) -> None:
            if current():
                flow.activation_requested(str(answer.ref), int(answer.expires_ms), str(answer.sent_to),
                                          sh.server_now_ms())

        def failed(e: Exception) -> None:
            if not current():
                return
            said = getattr(e, "msg", None)
            if isinstance(said, Msg):   # the server's (or the transport's) refusal, by code
                _log.info("activation request refused: %s", said.code)
                flow.activation_refused(said)
                return
            _log.error("activation request failed", exc_info=e)
            flow.activation_refused(Msg("citizen.request_failed"))

        sh.jobs.run(lambda: ask(cfg, req.cic, req.email, req.seccion, req.model), done, failed)

    # -- the code, the aspirant ---------------------------------------------------------------------
    def code(self, typed: str) -> None:
        if not self.flow.enter_code(typed, self.shell.server_now_ms()):
            self.shell.show_notice()

    def choose(self, process_id: str) -> None:
        """The aspirant chosen: home's gate on a worker, then the capture (or the reason not)."""
        sh, flow = self.shell, self.flow
        activation = flow.activation

        def start(refusal: Msg | None) -> None:
            # A second tap, or the screen moved on (idle, cancel) meanwhile.
            if sh.flow is not flow or flow.step != Step.CITIZEN_PROCESS or flow.activation is not activation:
                return
            if not flow.choose_process(process_id, refusal=refusal):
                sh.show_notice()

        def failed(e: Exception) -> None:
            _log.error("could not check the device before a capture", exc_info=e)
            sh.show_notice(Notice(Msg("app.check_failed"), error=True, register="ciudadano"))

        sh.jobs.run(lambda: self.gate(process_id), start, failed)

    # -- idle -----------------------------------------------------------------------------------
    def tick(self) -> None:
        """Once a second, after the flow's own tick (which discards at `idle_seconds`): the
        warning's countdown, and the coordinator's PIN screen left alone closed."""
        flow, now = self.flow, time.monotonic()
        if flow.step == Step.CITIZEN_START and self.lock.coordinator_pin \
                and now - flow.last_activity >= flow.idle_seconds:
            self.lock.back_home()
        left = flow.idle_left(now)
        if self.idle_view is not None:
            self.idle_view.show_seconds(None if left is None else max(1, math.ceil(left)))
