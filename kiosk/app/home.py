"""The home and coordinator controller: status, warnings, new support, send now, coordinator menu.

Owned by `kiosk.app.window.KioskWindow`; it talks to the window through `Shell` and to the home
screen's status bar (`StatusView`) and the coordinator's result line (`ResultView`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from hardware.errors import HardwareError
from kiosk import i18n
from kiosk.app.capture import CAPTURE
from kiosk.app.services import Services, run_diagnostic
from kiosk.app.shell import ResultView, Shell, StatusView
from kiosk.capture.flow import Notice, Step
from kiosk.capture.warnings import HomeWarning, disk_refusal, home_warnings, period_banners
from sync.agent import freeze
from sync.common.msg import Msg
from sync.device.config import Process

_log = logging.getLogger("fieldkit.kiosk")
# The coordinator's diagnostics by name, as the result line names a test that failed.
DIAGNOSTICS = {"camera": i18n.N_("Probar cámara"), "connection": i18n.N_("Probar conexión"),
               "storage": i18n.N_("Almacenamiento"), "version": i18n.N_("Versión")}


def _free_disk(sv: Services) -> int | None:
    """Bytes a new record can use: the file system's free space plus what sent records left free
    inside the outbox file (it never shrinks); None when the file system cannot be read."""
    if sv.config is None:
        return None
    try:
        free = sv.free_disk(sv.config.device.data_dir)
    except HardwareError:
        return None
    return free + (sv.save_ctx.counts().reusable_bytes if sv.save_ctx is not None else 0)


class HomeController:
    def __init__(self, shell: Shell, open_coordinator_pin: Callable[[], None]) -> None:
        self.shell = shell
        self._open_coordinator_pin = open_coordinator_pin
        self.status_data: dict[str, Any] = {}
        self.status_view: StatusView | None = None
        self.result_view: ResultView | None = None
        # Status snapshots are numbered and taken one at a time: a snapshot read before a
        # later one must never overwrite it (the folio's "sent" going back to "sending").
        self._taken = 0          # snapshots started
        self._delivered = 0      # the newest one shown
        self._in_flight = False
        self._again = False      # asked for while one was in flight: one more when it is in

    # -- home -----------------------------------------------------------------------------
    def server_now_ms(self) -> int:
        """The device clock corrected by the offset the agent measured (read by refresh_status)."""
        return self.shell.sv.now_ms() + int(self.status_data.get("clock_offset_ms") or 0)

    def offered(self, procs: list[Process]) -> list[Process]:
        """The processes in their collection period now: the only ones home offers."""
        now = self.server_now_ms()
        return [p for p in procs if freeze.in_period(p, now)]

    def capture_gate(self, process_id: str) -> Msg | None:
        """Why a new capture may not start now: revoked device or freeze policy, period, free
        disk, in that order (reads the outbox and the agent's files: call it on a worker)."""
        sv = self.shell.sv
        cfg = sv.config
        p = cfg.process(process_id) if cfg else None
        if cfg is None or p is None:
            return Msg("save.process_unknown", {"process": process_id})
        # A revoked device is told so first: no other fix would let it capture.
        ctx = sv.save_ctx
        if (why := freeze.capture_refusal(cfg, ctx.outbox if ctx is not None else None)) is not None:
            return why
        # A wrong clock is named as such, not as "the period is over" judged on it.
        if (why := freeze.period_or_clock_refusal(cfg, p, sv.now_ms())) is not None:
            return why
        return disk_refusal(_free_disk(sv))  # refused before the capture starts, not at «Guardar»

    def warnings(self, process_ids: list[str]) -> list[HomeWarning]:
        """Home's banners: device warnings (errors first), then each process's period."""
        cfg = self.shell.sv.config
        if cfg is None:
            return []
        now, data = self.shell.sv.now_ms(), self.status_data  # device clock: the outbox's stamps
        return home_warnings(cfg, data, now) + period_banners(cfg, process_ids, data, now)

    def new_support(self, process_id: str) -> None:
        sh = self.shell
        p = sh.sv.config.process(process_id) if sh.sv.config else None
        if p is None:
            return

        operator = sh.flow.operator

        def start(refusal: Msg | None) -> None:
            # A second tap, the screen moved on, or another auxiliary signed in meanwhile.
            if sh.flow.step != Step.HOME or sh.flow.operator is not operator:
                return
            if not sh.flow.start_capture(p.id, p.aspirant_id, refusal=refusal):
                sh.show_notice()

        def failed(e: Exception) -> None:
            _log.error("could not check the device before a capture", exc_info=e)
            sh.show_notice(Notice(Msg("app.check_failed"), error=True))

        sh.jobs.run(lambda: self.capture_gate(p.id), start, failed)

    def refresh_status(self) -> None:
        """A new status snapshot on a worker; while one is in flight, one more once it is in."""
        sh = self.shell
        if sh.flow.step in CAPTURE:
            return
        sv = sh.sv
        fn = sv.status
        ctx, cfg = sv.save_ctx, sv.config
        if fn is None and ctx is None:
            return
        if self._in_flight:
            self._again = True
            return
        folio = sh.flow.folio if sh.flow.step == Step.FOLIO else None

        def snapshot() -> dict[str, Any]:
            from hardware.power import read_power

            data: dict[str, Any] = {}
            if ctx is not None:
                c = ctx.counts()
                data.update(pending=c.unacknowledged, acked_total=c.acked_total,
                            oldest_unacked_ms=c.oldest_created_ms)
                if folio:  # the folio screen says whether that record has left the device
                    data["folio_queued"] = folio in ctx.outbox.folios()
            if cfg is not None:  # what home warns about before anyone taps "Nuevo apoyo"
                data.update(capture_refusal=freeze.capture_refusal(cfg, ctx.outbox if ctx else None),
                            clock_offset_ms=freeze.clock_offset_ms(cfg),
                            clock_floor_ms=freeze.known_floor_ms(cfg))
                if (free := _free_disk(sv)) is not None:
                    data["free_disk_bytes"] = free
            if fn is not None:
                try:
                    data.update(fn())
                except Exception as e:  # the agent not answering is a state, not a crash
                    data.update(agent_error=str(e))
            power = read_power()
            data["battery"] = power.battery_percent
            data["on_ac"] = power.on_ac
            return data

        self._taken += 1
        self._in_flight = True
        number = self._taken

        def done(data: dict[str, Any]) -> None:
            # "Sent today" is the agent's own per-day count (server-corrected date), via the
            # local channel; with no agent answering it is unknown, not zero.
            try:
                if number > self._delivered:
                    self._delivered = number
                    self.status_data = data
                    if self.status_view is not None:
                        self.status_view.set_status_data(data)  # may rebuild the screen
            finally:
                self._next()  # a screen that failed to take it must not stop the refreshes

        def failed(e: Exception) -> None:
            _log.error("status snapshot failed", exc_info=e)
            self._next()

        sh.jobs.run(snapshot, done, failed)

    @property
    def refreshing(self) -> bool:
        """A status snapshot is being taken (or one more was asked for meanwhile)."""
        return self._in_flight or self._again

    def _next(self) -> None:
        self._in_flight = False
        if self._again:
            self._again = False
            self.refresh_status()

    def send_now(self) -> None:
        sh = self.shell
        fn = sh.sv.send_now
        if fn is None:
            sh.show_notice(Notice(i18n.tr("El agente de sincronización no está disponible."), error=True))
            return

        def sent(msg: Any) -> None:
            sh.show_notice(Notice(str(msg)))
            self.refresh_status()

        def failed(e: Exception) -> None:
            _log.error("could not ask the agent to send", exc_info=e)
            sh.show_notice(Notice(Msg("app.send_failed"), error=True))

        sh.jobs.run(fn, sent, failed)

    # -- coordinator --------------------------------------------------------------------------
    def open_coordinator(self) -> None:
        self._open_coordinator_pin()

    def set_language(self, lang: str) -> None:
        i18n.set_language(lang)
        self.shell.rebuild()

    def diagnose(self, what: str) -> None:
        view = self.result_view

        def show(text: str) -> None:
            if view is not None and self.result_view is view:  # still the screen shown
                view.show_result(text)

        def failed(e: Exception) -> None:
            _log.error("diagnostic %s failed", what, exc_info=e)
            show(i18n.render(Msg("app.test_failed", {"what": i18n.tr(DIAGNOSTICS.get(what, what))})))

        self.shell.jobs.run(lambda: run_diagnostic(what, self.shell.sv), show, failed)
