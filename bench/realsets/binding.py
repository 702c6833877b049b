"""The selfie-binding bench's measuring part: faces tracked as the kiosk tracks them, the person
learnt before the challenge, each later face judged by the kiosk's own rule
(`LivenessChecker.likeness`). Used by bench/bench_selfie_binding.py."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kiosk.capture.selfie import MAX_ODD
from kiosk.vision.liveness import (
    Challenge,
    Likeness,
    LivenessChecker,
    LivenessConfig,
)
from kiosk.vision.liveness_measures import (
    FrameObs,
    eye_similarity,
    face_proportion,
    observe,
)

FPS = 15.0
CFG = LivenessConfig(fps=FPS)
DEEPFACE = Path("/work/.mirror/serengil+deepface/repo")
DEEPFACE_CSVS = ("tests/unit/dataset/master.csv", "tests/unit/dataset/face-recognition-pivot.csv")
SEEDS = 4


# -- measuring -------------------------------------------------------------------------------------
@dataclass
class Judged:
    """One face judged against a person: the Likeness, plus the measures not used, for show."""
    lk: Likeness
    proportion: float | None = None   # |face proportion / frontal's - 1|, near the frontal pose
    eyes: float | None = None         # eye crops' correlation with the frontal face's


@dataclass
class Person:
    """A frontal face learnt by a checker, as the kiosk learns it before the challenge."""
    checker: LivenessChecker
    last: FrameObs                    # the frame it was learnt on (what a swap would follow)


def track(frames: list[tuple[np.ndarray, float]]) -> list[FrameObs]:
    out: list[FrameObs] = []
    prior = None
    for f, t in frames:
        o = observe(f, t, prior)
        prior = o.mesh
        out.append(o)
    return out


def learn(obs: list[FrameObs]) -> tuple[Person, int] | None:
    """The frontal face, learnt as the kiosk does; and the index of the first frame after it."""
    checker = LivenessChecker(Challenge.TURN_LEFT, CFG)
    for i, o in enumerate(obs):
        checker.update_obs(o)
        if checker.ready:
            return Person(checker, o), i + 1
    return None


def judge(p: Person, o: FrameObs, prev: FrameObs) -> Judged | None:
    lk = p.checker.likeness(o, prev.texture)
    if lk is None or o.mesh is None or p.last.mesh is None:
        return None
    prop = eyes = None
    if lk.base is not None:
        prop = abs(face_proportion(o.mesh) / max(face_proportion(p.last.mesh), 1e-9) - 1)
        if p.last.mesh.eye_patches is not None:
            eyes = eye_similarity(o, p.last.mesh.eye_patches)
    return Judged(lk, prop, eyes)


@dataclass
class Run:
    """One person's frames after the frontal face was learnt, in order (a segment, a sequence)."""
    label: str
    person: Person
    obs: list[FrameObs]


def same_person(label: str, obs: list[FrameObs]) -> Run | None:
    got = learn(obs)
    if got is None:
        return None
    p, i = got
    return Run(label, p, [o for o in obs[i:] if o.mesh is not None])


def follow(run: Run, cfg: LivenessConfig, start: int = 0, n: int | None = None,
           stop: bool = True) -> tuple[list[Judged], bool]:
    """The kiosk's rule over the run's frames [start, start + n): each face judged against the
    last one followed; up to MAX_ODD odd frames in a row skipped, one more restarts (`stop`:
    there, as the kiosk does). The frames judged, and whether it restarted."""
    prev = run.person.last if start == 0 else run.obs[start - 1]
    out: list[Judged] = []
    odd, restarted = 0, False
    for o in run.obs[start:None if n is None else start + n]:
        j = judge(run.person, o, prev)
        if j is None:
            continue
        out.append(j)
        if j.lk.same(cfg):
            prev, odd = o, 0
            continue
        odd += 1
        if odd > MAX_ODD:
            restarted, odd = True, 0
            if stop:
                break
    return out, restarted


def still_obs(img: np.ndarray) -> FrameObs:
    """A still seen as a camera would keep seeing it: detected, then tracked once."""
    o = observe(img, 0.0)
    return observe(img, 0.0, o.mesh) if o.mesh is not None else o


def still_person(o: FrameObs) -> Person | None:
    got = learn([replace(o, t=k / FPS) for k in range(8)])
    return None if got is None else got[0]


# -- tallies ---------------------------------------------------------------------------------------
@dataclass
class Group:
    """Same person: runs followed by the kiosk's rule. Other people: faces judged one by one
    against a person, grouped by pair (`units`)."""
    name: str
    same: bool
    runs: list[Run] = field(default_factory=list)
    units: list[list[Judged]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def add(self, label: str, unit: list[Judged]) -> None:
        self.units.append(unit)
        self.labels.append(label)

    def frames(self, cfg: LivenessConfig) -> list[Judged]:
        if self.runs:
            return [j for r in self.runs for j in follow(r, cfg, stop=False)[0]]
        return [j for u in self.units for j in u]
