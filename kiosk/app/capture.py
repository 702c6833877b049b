"""The window's capture half: camera polling, the analysers on the pool, signature and save.

A mixin of `kiosk.app.window.KioskWindow` (it uses the window's flow, screen, jobs and services).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from hardware.camera import CameraError, CameraState
from kiosk.capture.analysis import Captured, CardAnalyser, Guidance, Refused, RetakeBudget, SelfieAnalyser
from kiosk.capture.flow import Step
from kiosk.capture.save import save_draft
from kiosk.capture.signature import signature_problem
from kiosk.cardread.credential import BackReading
from sync.agent import freeze

_log = logging.getLogger("fieldkit.kiosk")
CAPTURE = (Step.FRONT, Step.BACK, Step.SELFIE)


class CaptureMixin:
    flow: Any
    sv: Any
    screen: Any
    jobs: Any
    cam_jobs: Any
    _frame_timer: Any
    _folio_timer: Any
    show_notice: Any
    server_now_ms: Any  # AdminMixin: the device clock corrected by the agent's offset
    # Set in KioskWindow.__init__:
    preview_frames: int
    analysed_frames: int
    _analyser: SelfieAnalyser | CardAnalyser | None
    _gen: int
    _analysing: bool
    _force: bool
    _last_index: int | None
    _cam_lost: bool

    # -- camera and analysis ---------------------------------------------------------------------
    def _camera(self, on: bool) -> None:
        cam = self.sv.camera
        if cam is not None:
            self.cam_jobs.run(cam.start if on else cam.stop)

    def _scene(self, name: str) -> None:
        """Ask a replay camera for the scene of this step (``front``, ``back``, ``selfie-blink``,
        ...): a demo shows the face doing what the challenge asks. Real cameras have none."""
        cam = self.sv.camera
        info = None if cam is None else cam.info
        if cam is None or (info is not None and not info.extra.get("scenes")):
            return  # a real camera (or a replay without scenes): nothing to ask

        def select() -> None:
            # No scene, camera stopped or starting: it shows what it shows.
            with contextlib.suppress(CameraError):
                cam.select_scene(name)

        self.cam_jobs.run(select)

    def _begin_capture(self, step: Step) -> None:
        self._gen += 1
        self._analysing = self._force = False
        d = self.flow.draft
        year = freeze.mexico_date(self.server_now_ms()).year  # vigencia: the corrected year
        if step == Step.SELFIE:
            self._analyser = SelfieAnalyser()
        else:
            side = "front" if step == Step.FRONT else "back"
            # One guided retake per capture for a support judged not original: the draft keeps
            # the budget, so the back (or a front taken again) gets what the front left.
            budget = RetakeBudget()
            if d is not None:
                if not isinstance(d.retakes, RetakeBudget):
                    d.retakes = RetakeBudget()
                budget = d.retakes
            self._analyser = CardAnalyser(side, year, self.sv.config, d.process_id if d else "", budget)
        if self.sv.camera is None:
            self.screen.set_camera_error("No hay cámara configurada.")
            return
        self._camera(True)
        an = self._analyser
        self._scene(f"selfie-{an.checker.challenge.value}" if isinstance(an, SelfieAnalyser) else an.side)
        self._frame_timer.start()

    def shutter(self) -> None:
        self._force = True

    def retry_challenge(self) -> None:
        if isinstance(self._analyser, SelfieAnalyser):
            self._gen += 1
            self._analysing = False
            self._analyser = SelfieAnalyser()
            self._scene(f"selfie-{self._analyser.checker.challenge.value}")

    def _poll_frame(self) -> None:
        cam, screen = self.sv.camera, self.screen
        if cam is None or not hasattr(screen, "show_frame"):
            return
        st = cam.status()
        if st.state is CameraState.ERROR:
            if not self._cam_lost:
                self._cam_lost = True
                tracker = getattr(self._analyser, "tracker", None)
                if tracker is not None:
                    tracker.reset()
            screen.set_camera_error(st.message)
            return
        try:
            frame = cam.latest_frame(0, newer_than=self._last_index)
        except CameraError:
            return
        if self._cam_lost:
            self._cam_lost = False
            screen.set_camera_error(None)
        self._last_index = frame.index
        screen.show_frame(frame.image)
        self.preview_frames += 1
        if self._analysing or self._analyser is None:
            return
        self._analysing = True
        gen, analyser, force, image, t = self._gen, self._analyser, self._force, frame.image, frame.timestamp
        self._force = False
        self.jobs.run(
            lambda: analyser(image, t, force),
            lambda r: self._analysed(gen, r),
            lambda e: self._analysis_failed(gen, e),
        )

    def _analysis_failed(self, gen: int, e: Exception) -> None:
        _log.error("analysis failed", exc_info=e)
        if gen == self._gen:
            self._analysing = False

    def _analysed(self, gen: int, r: Guidance | Captured | Refused) -> None:
        if gen != self._gen or self.flow.step not in CAPTURE:
            return
        self._analysing = False
        self.analysed_frames += 1
        step, screen = self.flow.step, self.screen
        if isinstance(r, Guidance):
            screen.set_guidance(r.text, r.quad, r.good)
            # Empty until the person's frontal pose is learnt (and after «Otra prueba»).
            screen.set_challenge(r.challenge)
            return
        self._gen += 1
        if isinstance(r, Refused):
            self.flow.capture_refused(r.reason)
        elif step == Step.FRONT:
            self.flow.front_captured(r.image, r.reading, r.reading.model)
        elif step == Step.BACK:
            self.flow.back_captured(r.image, r.reading, integrity=r.measured)
        else:
            self.flow.selfie_captured(r.image, r.reading, quality=r.measured)

    # -- signature, save, folio -----------------------------------------------------------------
    def signature_done(self, sig: Any, problem: str | None) -> None:
        problem = problem or signature_problem(sig)
        if not self.flow.signature_done(sig, problem):
            self.show_notice()

    def save(self, consent: bool) -> None:
        if not self.flow.save(consent):
            self.show_notice()
            return
        ctx, draft = self.sv.save_ctx, self.flow.draft
        if ctx is None:
            self.flow.save_failed("este dispositivo no tiene bandeja de salida configurada")
            return
        self.jobs.run(
            lambda: save_draft(draft, ctx),
            lambda res: self.flow.saved(res.folio),
            lambda e: self.flow.save_failed(getattr(e, "message", str(e))),
        )

    def _folio_timeout(self) -> None:
        if self.flow.step == Step.FOLIO:
            self.flow.finish()

    def citizen_name(self) -> str:
        r = self.flow.draft.back_reading if self.flow.draft else None
        f = r.fields if isinstance(r, BackReading) else None
        return " ".join(x for x in (f.nombres, f.apellido_paterno, f.apellido_materno) if x) if f else ""

