"""The window's home and coordinator half: status, warnings, send now, coordinator menu.

A mixin of `kiosk.app.window.KioskWindow` (it uses the window's flow, screen, jobs and services).
"""

from __future__ import annotations

from typing import Any

from kiosk.app.capture import CAPTURE
from kiosk.app.services import run_diagnostic
from kiosk.capture.flow import Notice, Step
from kiosk.ui import i18n
from sync.agent import freeze
from sync.device.config import Process


class AdminMixin:
    flow: Any
    sv: Any
    screen: Any
    screens: Any
    jobs: Any
    status_data: dict[str, Any]
    coordinator_pin: bool
    show_notice: Any
    show_screen: Any
    rebuild: Any
    toggle_coordinator_pin: Any

    # -- home -----------------------------------------------------------------------------
    def server_now_ms(self) -> int:
        """The device clock corrected by the offset the agent measured (read by refresh_status)."""
        return self.sv.now_ms() + int(self.status_data.get("clock_offset_ms") or 0)

    def offered(self, procs: list[Process]) -> list[Process]:
        """The processes in their collection period now: the only ones home offers."""
        now = self.server_now_ms()
        return [p for p in procs if freeze.in_period(p, now)]

    def capture_gate(self, process_id: str) -> str | None:
        """Why a new capture may not start now: period, revoked device, freeze policy (reads the
        outbox and the agent's files: call it on a worker)."""
        cfg = self.sv.config
        p = cfg.process(process_id) if cfg else None
        if cfg is None or p is None:
            return "Este proceso no está en la configuración del dispositivo."
        if (why := freeze.period_refusal(p, freeze.server_now_ms(cfg, self.sv.now_ms()))) is not None:
            return why
        ctx = self.sv.save_ctx
        return freeze.capture_refusal(cfg, ctx.outbox if ctx is not None else None)

    def warnings(self, process_ids: list[str]) -> list[str]:
        now = self.server_now_ms()
        pending = self.status_data.get("pending") or 0
        out = [why] if (why := self.status_data.get("capture_refusal")) else []
        for pid in process_ids:
            p = self.sv.config.process(pid) if self.sv.config else None
            if p is not None:
                out += freeze.period_warnings(p, now, pending)
        return out

    def new_support(self, process_id: str) -> None:
        p = self.sv.config.process(process_id) if self.sv.config else None
        if p is None:
            return

        operator = self.flow.operator

        def start(refusal: str | None) -> None:
            # A second tap, the screen moved on, or another auxiliary signed in meanwhile.
            if self.flow.step != Step.HOME or self.flow.operator is not operator:
                return
            if not self.flow.start_capture(p.id, p.aspirant_id, refusal=refusal):
                self.show_notice()

        self.jobs.run(lambda: self.capture_gate(p.id), start,
                      lambda e: self.show_notice(Notice(f"No se pudo comprobar el dispositivo: {e}",
                                                        error=True)))

    def refresh_status(self) -> None:
        if self.flow.step in CAPTURE:
            return
        fn = self.sv.status
        ctx, cfg = self.sv.save_ctx, self.sv.config
        if fn is None and ctx is None:
            return

        def snapshot() -> dict[str, Any]:
            from hardware.power import read_power

            data: dict[str, Any] = {}
            if ctx is not None:
                c = ctx.counts()
                data.update(pending=c.unacknowledged, acked_total=c.acked_total)
            if cfg is not None:  # what home warns about before anyone taps "Nuevo apoyo"
                data.update(capture_refusal=freeze.capture_refusal(cfg, ctx.outbox if ctx else None),
                            clock_offset_ms=freeze.clock_offset_ms(cfg))
            if fn is not None:
                try:
                    data.update(fn())
                except Exception as e:  # the agent not answering is a state, not a crash
                    data.update(agent_error=str(e))
            power = read_power()
            data["battery"] = power.battery_percent
            data["on_ac"] = power.on_ac
            return data

        def done(data: dict[str, Any]) -> None:
            # "Sent today" is the agent's own per-day count (server-corrected date), via the
            # local channel; with no agent answering it is unknown, not zero.
            self.status_data = data
            updater = getattr(self.screen, "set_status_data", None)
            if updater is not None:
                updater(data)

        self.jobs.run(snapshot, done)

    def send_now(self) -> None:
        fn = self.sv.send_now
        if fn is None:
            self.show_notice(Notice("El agente de sincronización no está disponible.", error=True))
            return
        def sent(msg: Any) -> None:
            self.show_notice(Notice(str(msg)))
            self.refresh_status()

        self.jobs.run(
            fn,
            sent,
            lambda e: self.show_notice(Notice(f"No se pudo pedir el envío: {e}", error=True)),
        )

    # -- coordinator --------------------------------------------------------------------------
    def open_coordinator(self) -> None:
        if self.flow.step == Step.HOME:
            self.coordinator_pin = True
            self.show_screen(self.screens.build(Step.LOCKED))
        else:
            self.toggle_coordinator_pin()

    def set_language(self, lang: str) -> None:
        i18n.set_language(lang)
        self.rebuild()

    def diagnose(self, what: str) -> None:
        out = getattr(self.screen, "show_result", None)
        self.jobs.run(
            lambda: run_diagnostic(what, self.sv),
            lambda text: out and out(text),
            lambda e: out and out(f"{what}: {e}"),
        )

    def rebuild_home(self) -> None:
        self.coordinator_pin = False
        self.rebuild()

    def sign_out(self) -> None:
        self.coordinator_pin = False
        self.flow.lock()
