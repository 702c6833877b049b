"""The live selfie: quality verdict for one frame, and an active liveness challenge.

Pure and camera-agnostic: RGB numpy frames in (any size; tuned at 1280 x 720),
timestamps passed in by the caller (seconds, any monotonic origin), data out.

* :func:`assess_selfie` — one frame: a single face, centred, large enough, sharp
  and well lit; reasons as message codes (`selfie.*`).
* :func:`choose_challenge` — a random challenge per capture (``secrets``).
* :class:`LivenessChecker` — frames in, verdict out. It tracks the face's landmarks
  (kiosk.vision.landmarks), first learns the person's own frontal pose and eye opening
  over a few steady frames, then waits for the challenge:

  - **turn left / right**: the head's yaw relative to that frontal pose (a 3-D fit of
    the rigid face points, kiosk.vision.liveness_measures) passes ``turn_deg`` in the
    asked direction and stays there for ``turn_hold_s``. Talking and nodding move the
    mouth, jaw and pitch, not the yaw of the rigid points. A photo turned or waved in
    front of the camera stays a flat frontal face to the mesh.
  - **blink**: the eyes' aspect ratio falls under ``blink_closed`` of its open value
    while their look (the aligned eye crops) departs from the open eyes' (correlation
    under ``blink_look``), and the ratio comes back above ``blink_open`` within
    ``blink_max_s``; all with the head near its frontal pose (looking down or turning
    also narrows the eyes) and the face's proportions near its frontal ones (a photo
    tilted toward the camera squashes them while its mesh still reads frontal). At
    15 frames/s a blink is one or two frames: one closed frame between open ones is
    enough.

  Frame counts follow the camera's real rate (``LivenessConfig.fps``); the decisions
  themselves are in seconds. docs/liveness.md gives the measures on real clips.

  Once passed, the verdict stays; :meth:`LivenessChecker.follow` then judges each later frame's
  face against the person who passed (for the selfie taken after the pass): its texture against
  the last face followed, and, near the frontal pose, its texture and rigid shape against the
  frontal face learnt before the challenge (:class:`Likeness`).

What the person is asked or told comes out as message codes (`liveness.*`: the prompt, the
guidance, the reason for a failure), whose texts live in the kiosk's catalogues.

This module holds the challenge and the stateful checker; the single-frame
selfie verdict lives in :mod:`kiosk.vision.selfie_quality` and the per-frame
measures in :mod:`kiosk.vision.liveness_measures`. Both are re-exported here.
"""

from __future__ import annotations

import enum
import secrets
from collections import deque
from dataclasses import dataclass

import numpy as np

from kiosk.vision.landmarks import FaceMesh
from kiosk.vision.liveness_measures import (
    FrameObs,
    eye_similarity,
    face_proportion,
    observe,
    relative_pose,
    rigid_points,
    shape_residual,
    texture_similarity,
)
from kiosk.vision.selfie_quality import (
    MAX_CENTRE_OFFSET,
    MAX_CLIPPED,
    MAX_LUMA,
    MIN_FACE_FRAC,
    MIN_LUMA,
    MIN_SHARPNESS,
    SelfieQuality,
    assess_selfie,
)

__all__ = [
    "FACE_CHANGED",
    "MAX_CENTRE_OFFSET",
    "MAX_CLIPPED",
    "MAX_LUMA",
    "MIN_FACE_FRAC",
    "MIN_LUMA",
    "MIN_SHARPNESS",
    "OTHER_WAY",
    "PROMPTS",
    "Challenge",
    "FrameObs",
    "Likeness",
    "LivenessChecker",
    "LivenessConfig",
    "LivenessState",
    "SelfieQuality",
    "Verdict",
    "assess_selfie",
    "choose_challenge",
    "observe",
    "run_challenge",
]


class Challenge(enum.StrEnum):
    TURN_LEFT = "turn_left"    # the person turns toward THEIR left
    TURN_RIGHT = "turn_right"  # the person turns toward THEIR right
    BLINK = "blink"


# The message code of each challenge's prompt.
PROMPTS = {
    Challenge.TURN_LEFT: "liveness.turn_left",
    Challenge.TURN_RIGHT: "liveness.turn_right",
    Challenge.BLINK: "liveness.blink",
}
# A turn the other way than asked: its text takes the prompt as ``{prompt}``.
OTHER_WAY = "liveness.other_way"
# After the pass, a face that is not the person who passed (LivenessChecker.follow).
FACE_CHANGED = "liveness.face_changed"


def choose_challenge(choices: tuple[Challenge, ...] = tuple(Challenge)) -> Challenge:
    """A challenge picked with a CSPRNG, so an attacker cannot prepare for it."""
    return choices[secrets.randbelow(len(choices))]


# ---------------------------------------------------------------------------
# The stateful checker

class Verdict(enum.StrEnum):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class LivenessState:
    verdict: Verdict
    code: str               # message code: the prompt, guidance or failure reason (`liveness.*`)
    progress: float         # 0..1, for a progress ring
    challenge: Challenge

    @property
    def done(self) -> bool:
        return self.verdict != Verdict.PENDING


@dataclass(frozen=True, slots=True)
class Likeness:
    """One frame's face against the person followed: ``link``, its texture's correlation with
    the last face followed (the frame before); ``base`` and ``shape``, its texture's correlation
    with the frontal face learnt and its rigid shape's residual from it, None when the head is
    turned past ``same_pose_deg`` (a turned face is compared with the frames around it only)."""
    link: float
    base: float | None
    shape: float | None

    def same(self, cfg: LivenessConfig) -> bool:
        return (self.link >= cfg.same_link
                and (self.base is None or self.base >= cfg.same_base)
                and (self.shape is None or self.shape <= cfg.same_shape))


@dataclass
class LivenessConfig:
    fps: float = 15.0               # the camera's frame rate: frame counts below follow it
    baseline_s: float = 0.3         # steady frontal frames to learn the person's pose (>= 3 frames)
    baseline_max_deg: float = 6.0   # how still the head must be while learning it
    timeout_s: float = 8.0          # from the first frame
    turn_deg: float = 25.0          # yaw from the frontal pose that counts as a turn
    turn_hold_s: float = 0.1        # held at least this long (and >= 2 frames)
    blink_closed: float = 0.6       # eye aspect below this x its open value: closed
    blink_look: float = 0.85        # eye crops' correlation with the open eyes' below this: changed
    blink_open: float = 0.8         # back above this x the open value: open again
    open_window_s: float = 1.5      # the open eyes' reference: recent frames with the head still
    blink_max_s: float = 0.7        # longest closed phase that counts as a blink
    blink_pose_deg: float = 10.0    # head within this of the frontal pose during a blink
    blink_shape_tol: float = 0.08   # face proportion within this of the frontal one (no tilted photo)
    min_open_ear: float = 0.12      # open eyes' aspect needed to see a blink at all
    max_jump: float = 0.6           # face centre move between frames, face widths: a new face
    lost_s: float = 1.5             # face missing this long: start over
    mirrored: bool = False          # frames are mirror images (a selfie preview)
    # The same person after the pass (Likeness; set on real faces, docs/liveness.md):
    same_link: float = 0.85         # texture correlation with the last face followed, at least
    same_base: float = 0.55         # with the frontal face learnt, at least (near it only)
    same_shape: float = 0.05        # rigid shape residual from it, eye distances, at most
    same_pose_deg: float = 20.0     # "near the frontal pose": yaw and pitch within this

    def frames(self, seconds: float, least: int) -> int:
        return max(least, round(seconds * self.fps))


class LivenessChecker:
    """Frames in, verdict out, for one challenge.

    ``update(frame, t)`` with ``t`` in seconds (monotonic, from the caller);
    returns a :class:`LivenessState`. Once PASSED or FAILED the verdict stays.
    """

    def __init__(self, challenge: Challenge | None = None, config: LivenessConfig | None = None):
        self.challenge = challenge or choose_challenge()
        self.cfg = config or LivenessConfig()
        self._t0: float | None = None
        self._final: LivenessState | None = None
        self.frames = 0
        self.reset_tracking()

    def reset_tracking(self) -> None:
        n = self.cfg.frames(self.cfg.baseline_s, 3)
        self._window: deque[tuple[np.ndarray, float | None]] = deque(maxlen=n)  # rigid points, eyes
        self._base: np.ndarray | None = None      # rigid points of the frontal pose
        self._base_tex: np.ndarray | None = None  # the frontal face's texture
        self._tex: np.ndarray | None = None       # the last face's texture
        self._shape0 = 0.0                           # the frontal face's proportion
        self._ear0: float | None = None             # open eyes' aspect ratio
        self._open: tuple[np.ndarray, np.ndarray] | None = None  # open eyes' crops
        self._recent: deque[float] = deque(maxlen=self.cfg.frames(self.cfg.open_window_s, 5))
        self._streak_t: float | None = None
        self._streak_n = 0
        self._closed_at: float | None = None
        self._last: FaceMesh | None = None
        self._last_seen: float | None = None
        self._best = 0.0

    # A turn toward the person's left moves their nose toward the image's right in an
    # unmirrored frame: positive yaw.
    def _turn_sign(self) -> float:
        sign = 1.0 if self.challenge == Challenge.TURN_LEFT else -1.0
        return -sign if self.cfg.mirrored else sign

    def _state(self, verdict: Verdict, code: str, progress: float) -> LivenessState:
        st = LivenessState(verdict, code, float(min(max(progress, 0.0), 1.0)), self.challenge)
        if verdict != Verdict.PENDING:
            self._final = st
        return st

    def update(self, frame: np.ndarray, t: float) -> LivenessState:
        if self._final is not None:
            return self._final
        return self.update_obs(self.observe(frame, t))

    def observe(self, frame: np.ndarray, t: float, texture: bool = True) -> FrameObs:
        """Measure a frame as this checker tracks the face (to share it: then :meth:`update_obs`);
        ``texture``: read the face's texture too (what :meth:`follow` needs)."""
        recent = self._last_seen is not None and t - self._last_seen <= 0.5
        eyes = self.challenge == Challenge.BLINK or self._ear0 is None
        return observe(frame, t, self._last if recent else None, eyes=eyes, texture=texture)

    @property
    def ready(self) -> bool:
        """The person's frontal pose is learnt: the challenge can be asked."""
        return self._base is not None

    def update_obs(self, o: FrameObs) -> LivenessState:
        """Same as :meth:`update` for an already measured frame (see :func:`observe`)."""
        if self._final is not None:
            return self._final
        self.frames += 1
        if self._t0 is None:
            self._t0 = o.t
        if o.t - self._t0 > self.cfg.timeout_s:
            return self._state(Verdict.FAILED, "liveness.timeout", self._best)
        prompt = PROMPTS[self.challenge]
        if o.mesh is None:
            if self._last_seen is not None and o.t - self._last_seen > self.cfg.lost_s:
                self.reset_tracking()
            return self._state(Verdict.PENDING, "liveness.no_face", self._best)
        if o.n_faces > 1:
            self.reset_tracking()
            return self._state(Verdict.PENDING, "liveness.one_person", 0.0)
        if self._last is not None:
            lx, ly, lw, lh = self._last.box
            x, y, w, h = o.mesh.box
            jump = np.hypot(x + w / 2 - lx - lw / 2, y + h / 2 - ly - lh / 2) / max(lw, 1)
            if jump > self.cfg.max_jump or not 0.6 < w / max(lw, 1) < 1.6:
                self.reset_tracking()  # a different face, or a jump cut: learn again
        self._last, self._last_seen, self._tex = o.mesh, o.t, o.texture
        rigid = rigid_points(o.mesh)
        if self._base is None:
            return self._learn(o, rigid)
        yaw, pitch, _ = relative_pose(self._base, rigid)
        if self.challenge == Challenge.BLINK:
            return self._blink(o, yaw, pitch, prompt)
        return self._turn(o, yaw, prompt)

    def _learn(self, o: FrameObs, rigid: np.ndarray) -> LivenessState:
        self._window.append((rigid, o.ear))
        waiting = self._state(Verdict.PENDING, "liveness.hold_still", 0.0)
        if len(self._window) < (self._window.maxlen or 3):
            return waiting
        first = self._window[0][0]
        poses = [relative_pose(first, r) for r, _ in self._window]
        if max(max(abs(v) for v in p) for p in poses) > self.cfg.baseline_max_deg:
            return waiting
        self._base, self._base_tex = rigid, o.texture
        assert o.mesh is not None
        self._shape0 = face_proportion(o.mesh)
        ears = [e for _, e in self._window if e is not None]
        if ears and o.mesh is not None and o.mesh.eye_patches is not None:
            self._ear0, self._open = float(np.median(ears)), o.mesh.eye_patches
        return waiting

    def likeness(self, o: FrameObs, prev: np.ndarray | None = None) -> Likeness | None:
        """This frame's face against the face followed so far, or against the texture ``prev``
        (None: nothing to compare: no face, no texture, or no frontal face learnt)."""
        prev = self._tex if prev is None else prev
        if o.mesh is None or o.texture is None or prev is None or self._base is None:
            return None
        link = texture_similarity(prev, o.texture)
        rigid = rigid_points(o.mesh)
        yaw, pitch, _ = relative_pose(self._base, rigid)
        if max(abs(yaw), abs(pitch)) > self.cfg.same_pose_deg or self._base_tex is None:
            return Likeness(link, None, None)
        return Likeness(link, texture_similarity(self._base_tex, o.texture),
                        shape_residual(self._base, rigid))

    def follow(self, o: FrameObs) -> str | None:
        """After the pass, one more frame: None while its face is the person who passed (it is
        then the face followed), else why not (a message code). A frame with no face judges
        nothing (None; the caller knows it took no photo from it)."""
        if o.mesh is None:
            return None
        lk = self.likeness(o)
        if lk is None or not lk.same(self.cfg):
            return FACE_CHANGED
        self._last, self._last_seen, self._tex = o.mesh, o.t, o.texture
        return None

    def _turn(self, o: FrameObs, yaw: float, prompt: str) -> LivenessState:
        moved = yaw * self._turn_sign()
        self._best = max(self._best, moved / self.cfg.turn_deg * 0.9)
        if moved >= self.cfg.turn_deg:
            if self._streak_t is None:
                self._streak_t, self._streak_n = o.t, 0
            self._streak_n += 1
            held = o.t - self._streak_t >= self.cfg.turn_hold_s and self._streak_n >= 2
            if held:
                return self._state(Verdict.PASSED, "liveness.passed", 1.0)
            return self._state(Verdict.PENDING, prompt, self._best)
        self._streak_t = None
        if -moved >= self.cfg.turn_deg:
            return self._state(Verdict.PENDING, OTHER_WAY, self._best)
        return self._state(Verdict.PENDING, prompt, self._best)

    def _follow_open(self, o: FrameObs, ratio: float) -> None:
        """Keep the open eyes' reference current: a baseline learnt mid-blink or squinting, a
        slow change of light or gaze, must not make an ordinary frame look closed or open."""
        assert o.ear is not None and o.mesh is not None
        self._recent.append(o.ear)
        if len(self._recent) >= 3:
            self._ear0 = float(np.percentile(self._recent, 80))
        if ratio >= 0.9 and o.mesh.eye_patches is not None:
            self._open = o.mesh.eye_patches

    def _blink(self, o: FrameObs, yaw: float, pitch: float, prompt: str) -> LivenessState:
        if o.ear is None or self._ear0 is None or self._open is None:
            return self._state(Verdict.PENDING, prompt, self._best)
        ratio = o.ear / self._ear0
        assert o.mesh is not None
        shape = face_proportion(o.mesh) / self._shape0 if self._shape0 > 0 else 0.0
        still = (max(abs(yaw), abs(pitch)) <= self.cfg.blink_pose_deg
                 and abs(shape - 1) <= self.cfg.blink_shape_tol)
        if still and self._closed_at is None:
            self._follow_open(o, ratio)  # also lets a reference learnt with half-shut eyes recover
        if self._ear0 < self.cfg.min_open_ear:
            return self._state(Verdict.PENDING, "liveness.eyes", 0.0)
        look = eye_similarity(o, self._open)
        if look is None:
            return self._state(Verdict.PENDING, prompt, self._best)
        if self._closed_at is None:
            # Closed only when both methods say so, with the head near its frontal pose.
            if still and ratio <= self.cfg.blink_closed and look <= self.cfg.blink_look:
                self._closed_at = o.t
                self._best = max(self._best, 0.5)
        elif ratio >= self.cfg.blink_open:
            if o.t - self._closed_at <= self.cfg.blink_max_s:
                return self._state(Verdict.PASSED, "liveness.passed", 1.0)
            self._closed_at = None  # eyes shut too long (or covered): wait for a real blink
        return self._state(Verdict.PENDING, prompt, self._best)


def run_challenge(frames, challenge: Challenge, config: LivenessConfig | None = None) -> LivenessState:
    """Feed ``(frame, t)`` pairs to a new checker until it decides; the last state."""
    checker = LivenessChecker(challenge, config)
    st = None
    for frame, t in frames:
        st = checker.update(frame, t)
        if st.done:
            return st
    if st is None:
        return LivenessState(Verdict.FAILED, "liveness.no_frames", 0.0, challenge)
    if st.verdict == Verdict.PENDING:
        return LivenessState(Verdict.FAILED, "liveness.not_completed", st.progress, challenge)
    return st
