"""The selfie analyser: selfie quality plus the random liveness challenge, the photo taken only
once liveness passed, and only of the face that passed it. No Qt; called on worker threads.
Answers with the card analyser's types (`kiosk.capture.analysis`: Guidance, Captured)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from kiosk.capture.analysis import Captured, Guidance
from kiosk.vision.face import Box
from kiosk.vision.landmarks import LandmarkModelMissing
from kiosk.vision.liveness import (
    FACE_CHANGED,
    OTHER_WAY,
    PROMPTS,
    Challenge,
    FrameObs,
    LivenessChecker,
    LivenessState,
    SelfieQuality,
    Verdict,
    assess_selfie,
)
from kiosk.vision.liveness_measures import iou, one_face
from sync.common.msg import Msg

_log = logging.getLogger(__name__)

UNAVAILABLE = Msg("liveness.unavailable")
RETRY = Msg("liveness.retry")
RESTARTED = "liveness.restarted"     # its text takes the reason as ``{reason}``
PHOTO_LATE = "liveness.photo_late"
CITIZEN = "ciudadano"
# The selfie is bound to the person who passed the challenge: it is the frame of the pass, or a
# later one within BIND_WINDOW_S of it whose face box overlaps the last followed face's by
# BIND_IOU and that the checker judges the same person (LivenessChecker.follow: the face's
# texture against the last face followed, and near the frontal pose against the face learnt
# before the challenge). A frame with no face, or up to MAX_ODD frames in a row whose face is
# not judged the person (a hand passing, a grimace), is skipped: nothing taken, nothing
# followed. One more such frame, or no photo within the window, starts the challenge again
# and says why; past MAX_RESTARTS the selfie step fails («Otra prueba»).
BIND_IOU = 0.5
BIND_WINDOW_S = 1.5
MAX_ODD = 2
MAX_RESTARTS = 2
SAME, MISSED = "same", "missed"


@dataclass
class _Bound:
    """The face that passed, followed since the pass: its last box, and when it passed."""

    box: Box
    since: float
    odd: int = 0   # frames in a row since the last followed whose face was not the person


class SelfieAnalyser:
    """Selfie quality plus the random liveness challenge; the photo takes itself, and only of the
    person who passed (BIND_* above). The shutter (`force`) adds nothing here: any frame it could
    take besides those is one not bound to that person."""

    def __init__(self, challenge: Challenge | None = None) -> None:
        self.challenge = challenge   # None: a random one per analyser (the kiosk's case)
        self.reset()

    def reset(self) -> None:
        self.checker = LivenessChecker(self.challenge)
        self.state: LivenessState | None = None
        self.bound: _Bound | None = None
        self.restarts = 0         # challenges started again because the photo was not bound
        self.restarted: str | None = None  # why it started again (said until the challenge is asked)
        self.unavailable = False  # the landmark models are missing: no liveness on this device

    def restart(self, why: str) -> None:
        """The same challenge from the start (the person's pose learnt again, nothing kept), or,
        past MAX_RESTARTS, the selfie step failed for that reason."""
        _log.info("selfie: no photo bound to the person who passed (%s)", why)
        if self.restarts >= MAX_RESTARTS:
            self.state = LivenessState(Verdict.FAILED, why, 0.0, self.checker.challenge)
            return
        self.checker = LivenessChecker(self.checker.challenge, self.checker.cfg)
        self.state, self.bound, self.restarted = None, None, why
        self.restarts += 1

    def __call__(self, image: np.ndarray, t: float, force: bool = False) -> Guidance | Captured:
        if self.state is not None and self.state.verdict == Verdict.FAILED:
            return self._guidance(None)   # nothing more to look at until «Otra prueba»
        obs = None
        if not self.unavailable:
            try:
                obs = self.checker.observe(image, t)  # one detection serves both checks
            except LandmarkModelMissing:
                _log.error("liveness unavailable: landmark models missing", exc_info=True)
                self.unavailable = True
        if obs is None:
            # Without liveness a support would not count (the flow refuses to save it): no photo.
            return Guidance(UNAVAILABLE, liveness="unavailable")
        q = assess_selfie(image, list(obs.faces))
        self.state = self.checker.update_obs(obs)
        if self.checker.ready:
            self.restarted = None   # the challenge is asked again: its prompt says what to do
        if self.state.verdict == Verdict.PASSED:
            got = self._follow(obs, q.face, t)
            if got not in (SAME, MISSED):
                self.restart(got)
            elif got == SAME and q.ok:
                return Captured(np.array(image), self.state, q)
        return self._guidance(q)

    def _follow(self, obs: FrameObs, face: Box | None, t: float) -> str:
        """SAME: this frame's face is the person who passed; MISSED: skipped (nothing is taken
        from it); else why the photo can no longer be bound (a message code). `face` is the face
        the selfie check judged."""
        if self.bound is None:
            # The frame of the pass: the face judged must be the face the checker measured.
            if face is None or obs.box is None or not one_face(obs.box, face):
                return FACE_CHANGED
            self.bound = _Bound(face, t)
            return SAME
        if t - self.bound.since > BIND_WINDOW_S:
            return PHOTO_LATE
        if face is None or obs.box is None or not one_face(obs.box, face):
            return MISSED   # no face, or the one judged is not the one followed: no photo here
        if iou(face, self.bound.box) < BIND_IOU or self.checker.follow(obs) is not None:
            self.bound.odd += 1
            return FACE_CHANGED if self.bound.odd > MAX_ODD else MISSED
        self.bound.box, self.bound.odd = face, 0
        return SAME

    def _guidance(self, q: SelfieQuality | None) -> Guidance:
        if self.restarted or self.state is None:
            # The challenge starts again: why, and what to do first.
            reason = Msg(self.restarted or FACE_CHANGED)
            return Guidance(Msg(RESTARTED, {"reason": reason}), liveness="pending", register=CITIZEN)
        st = self.state
        verdict = str(st.verdict)
        if verdict == "failed":
            msg = Msg("liveness.failed_retry", {"reason": Msg(st.code), "retry": RETRY})
        elif q is not None and q.codes:
            msg = Msg(q.codes[0])
        elif st.code == OTHER_WAY:
            msg = Msg(OTHER_WAY, {"prompt": Msg(PROMPTS[st.challenge])})
        else:
            msg = Msg(st.code)
        prompt = Msg(PROMPTS[self.checker.challenge]) if self.checker.ready else None
        good = q is not None and q.ok and verdict != "failed"
        return Guidance(msg, None, good, prompt, verdict, CITIZEN)
