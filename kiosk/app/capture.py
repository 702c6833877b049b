"""The capture controller: camera polling, the analysers on the pool, signature, save and folio.

Owned by `kiosk.app.window.KioskWindow`; it talks to the window only through `Shell` and to the
capture screen through `CaptureView` (attached by the screen factory while that screen shows).
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from PySide6.QtCore import QObject, QTimer

from hardware.camera import CameraError, CameraState
from kiosk.app.services import camera_status_msg
from kiosk.app.shell import CaptureView, Shell
from kiosk.capture.analysis import Captured, CardAnalyser, Guidance, Refused, RetakeBudget
from kiosk.capture.citizen import CitizenFlow
from kiosk.capture.flow import Step
from kiosk.capture.save import SaveError, save_draft
from kiosk.capture.selfie import SelfieAnalyser
from kiosk.capture.signature import signature_problem
from kiosk.cardread.credential import BackReading, display_name
from kiosk.i18n import render, tr
from sync.agent import freeze
from sync.common.msg import Msg

_log = logging.getLogger("fieldkit.kiosk")
CAPTURE = (Step.FRONT, Step.BACK, Step.SELFIE, Step.ACT_BACK)  # ACT_BACK: a self-service activation's


class CaptureController:
    def __init__(self, shell: Shell, parent: QObject) -> None:
        self.shell = shell
        self.view: CaptureView | None = None
        self.analyser: SelfieAnalyser | CardAnalyser | None = None
        self.preview_frames = 0
        self.analysed_frames = 0
        self._gen = 0            # bumped whenever a pending analysis must be ignored
        self._analysing = False
        self._force = False
        self.last_index: int | None = None
        self._cam_lost = False
        self.frame_timer = QTimer(parent, interval=33)  # latest-frame polling, never queued
        self.frame_timer.timeout.connect(self.poll_frame)
        self.folio_timer = QTimer(parent, singleShot=True, interval=30000)
        self.folio_timer.timeout.connect(self._folio_timeout)

    # -- steps ------------------------------------------------------------------------------------
    def on_step(self, step: Step) -> None:
        if step not in CAPTURE:
            self.frame_timer.stop()
            self.analyser = None  # nothing of the last look (a face, a card) outlives its step
        if step in CAPTURE:
            self._begin(step)
        if step == Step.FOLIO:
            self.folio_timer.start()

    def stop(self) -> None:
        self.frame_timer.stop()
        self.folio_timer.stop()

    def _scene(self, name: str) -> None:
        """Ask a replay camera for the scene of this step (``front``, ``back``, ``selfie-blink``,
        ...): a demo shows the face doing what the challenge asks. Real cameras have none."""
        cam = self.shell.sv.camera
        info = None if cam is None else cam.info
        if cam is None or (info is not None and not info.extra.get("scenes")):
            return  # a real camera (or a replay without scenes): nothing to ask

        def select() -> None:
            # No scene, camera stopped or starting: it shows what it shows.
            with contextlib.suppress(CameraError):
                cam.select_scene(name)

        self.shell.cam_jobs.run(select)

    def _begin(self, step: Step) -> None:
        sh = self.shell
        self._gen += 1
        self._analysing = self._force = False
        d = sh.flow.draft
        year = freeze.capture_year(sh.sv.config, d.process_id if d else "", sh.server_now_ms())
        if step == Step.SELFIE:
            self.analyser = SelfieAnalyser()
        else:
            side = "front" if step == Step.FRONT else "back"  # ACT_BACK reads a back too
            # One guided retake per capture for a support judged not original: the draft keeps
            # the budget, so the back (or a front taken again) gets what the front left.
            budget = RetakeBudget()
            if d is not None:
                if not isinstance(d.retakes, RetakeBudget):
                    d.retakes = RetakeBudget()
                budget = d.retakes
            self.analyser = CardAnalyser(side, year, sh.sv.config, d.process_id if d else "", budget)
        if sh.sv.camera is None:
            if self.view is not None:
                self.view.set_camera_error(tr("No hay cámara configurada."))
            return
        sh.camera(True)
        an = self.analyser
        self._scene(f"selfie-{an.checker.challenge.value}" if isinstance(an, SelfieAnalyser) else an.side)
        self.frame_timer.start()

    def shutter(self) -> None:
        self._force = True

    def retry_challenge(self) -> None:
        if isinstance(self.analyser, SelfieAnalyser):
            self._gen += 1
            self._analysing = False
            self.analyser = SelfieAnalyser()
            self._scene(f"selfie-{self.analyser.checker.challenge.value}")

    # -- frames -----------------------------------------------------------------------------------
    def poll_frame(self) -> None:
        cam, view = self.shell.sv.camera, self.view
        if cam is None or view is None:
            return
        st = cam.status()
        if st.state is CameraState.ERROR:
            if not self._cam_lost:
                self._cam_lost = True
                if isinstance(self.analyser, CardAnalyser):
                    self.analyser.tracker.reset()
            why = camera_status_msg(st)
            view.set_camera_error(render(why) if why is not None else render(Msg("camera.error")))
            return
        try:
            frame = cam.latest_frame(0, newer_than=self.last_index)
        except CameraError:
            return
        if self._cam_lost:
            self._cam_lost = False
            view.set_camera_error(None)
        self.last_index = frame.index
        view.show_frame(frame.image)
        self.preview_frames += 1
        if self._analysing or self.analyser is None:
            return
        self._analysing = True
        gen, analyser, force, image, t = self._gen, self.analyser, self._force, frame.image, frame.timestamp
        self._force = False
        self.shell.jobs.run(
            lambda: analyser(image, t, force),
            lambda r: self._analysed(gen, r),
            lambda e: self._analysis_failed(gen, e),
        )

    def _analysis_failed(self, gen: int, e: Exception) -> None:
        _log.error("analysis failed", exc_info=e)
        if gen == self._gen:
            self._analysing = False

    def _analysed(self, gen: int, r: Guidance | Captured | Refused) -> None:
        flow = self.shell.flow
        if gen != self._gen or flow.step not in CAPTURE:
            return
        self._analysing = False
        self.analysed_frames += 1
        if isinstance(r, Captured) or (isinstance(r, Guidance) and (r.good or r.quad is not None)):
            # Someone is showing a card or a face: not idle, though nobody touched the screen.
            flow.touch(time.monotonic())
        step, view = flow.step, self.view
        if isinstance(r, Guidance):
            if view is not None:
                view.set_guidance(r.text, r.quad, r.good)
                # Empty until the person's frontal pose is learnt (and after «Otra prueba»).
                view.set_challenge(r.challenge)
                if step == Step.SELFIE:
                    view.set_liveness_state(r.liveness)
            return
        self._gen += 1
        if isinstance(r, Refused):
            flow.capture_refused(r.reason)
        elif step == Step.FRONT:
            flow.front_captured(r.image, r.reading, r.reading.model)
        elif step == Step.BACK:
            flow.back_captured(r.image, r.reading, integrity=r.measured)
        elif step == Step.ACT_BACK:
            # Only what the request needs is kept (CIC, sección, model), never the picture.
            assert isinstance(flow, CitizenFlow)  # the step exists only in a self-service flow
            flow.activation_back(r.reading, self.shell.server_now_ms())
        else:
            flow.selfie_captured(r.image, r.reading, quality=r.measured)

    # -- signature, save, folio -----------------------------------------------------------------
    def signature_done(self, sig: Any, problem: Msg | str | None) -> None:
        why = problem or signature_problem(sig)
        if not self.shell.flow.signature_done(sig, why):
            self.shell.show_notice()

    def save(self, consent: bool) -> None:
        flow = self.shell.flow
        # A citizen's code may have expired during the capture: checked on the server's clock.
        ok = flow.save(consent, self.shell.server_now_ms()) if isinstance(flow, CitizenFlow) \
            else flow.save(consent)
        if not ok:
            self.shell.show_notice()   # on review; an expired code ends on the refusal screen
            return
        ctx, draft = self.shell.sv.save_ctx, flow.draft
        assert draft is not None  # flow.save accepted it
        if ctx is None:
            flow.save_failed(Msg("save.outbox"))
            return
        self.shell.jobs.run(lambda: save_draft(draft, ctx), lambda res: flow.saved(res.folio),
                            self._save_failed)

    def _save_failed(self, e: Exception) -> None:
        """Save's own refusal as it says it; anything else is logged and shown as a failed store
        (an exception's text is for the log, never for the screen)."""
        said = getattr(e, "msg", None) or getattr(e, "message", None)
        if isinstance(e, SaveError) and isinstance(said, (Msg, str)):
            self.shell.flow.save_failed(said)
            return
        _log.error("save failed", exc_info=e)
        self.shell.flow.save_failed(Msg("save.store_failed"))

    def _folio_timeout(self) -> None:
        if self.shell.flow.step == Step.FOLIO:
            self.shell.flow.finish()

    def citizen_name(self) -> str:
        """The name as the MRZ gives it, with "…" where the 30-character field may have cut it."""
        d = self.shell.flow.draft
        r = d.back_reading if d else None
        return display_name(r.fields) if isinstance(r, BackReading) else ""
