"""Cost of the liveness measures per frame: the landmark pipeline by stage, beside the old checker.

    .venv/bin/python bench/bench_landmarks.py [--frames 200]

On a rendered 1280 x 720 selfie sequence (kiosk.testdata.selfies, the astronaut as a 3-D head),
times in the same process: the face detector, the face mesh (tracking), the two eye crops, the
whole `observe` (with and without the eyes: turn challenges skip them once the open eyes are
known) and a full `LivenessChecker.update`; beside them the frozen Haar-cascade checker's
`observe` and `update` (bench/baselines/liveness_v1.py). Medians and p95 in ms. A Raspberry Pi 4
is not here: docs/liveness.md gives an estimate from these figures, marked as such.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench.baselines.liveness_v1 as v1
from kiosk.testdata.selfies import make_sequence
from kiosk.vision.landmarks import LEFT_EYE, RIGHT_EYE, shared
from kiosk.vision.liveness import Challenge, LivenessChecker, LivenessConfig
from kiosk.vision.liveness_measures import observe


def timed(fn: Callable[[np.ndarray], object], frames: list[np.ndarray]) -> tuple[float, float]:
    out = []
    for f in frames:
        t = time.perf_counter()
        fn(f)
        out.append(1000 * (time.perf_counter() - t))
    return float(np.median(out)), float(np.percentile(out, 95))


class _Fresh:
    """Feeds frames at 15 fps to a checker, starting a new one once it has decided (a decided
    checker answers without looking)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make, self.checker, self.t = make, make(), 0.0

    def __call__(self, frame: np.ndarray) -> None:
        self.t += 1 / 15
        if self.checker.update(frame, self.t).done:
            self.checker, self.t = self.make(), 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--frames", type=int, default=200)
    args = ap.parse_args()
    frames: list[np.ndarray] = []
    seed = 0
    while len(frames) < args.frames:
        for ch in ("turn_left", "blink", "turn_right"):
            frames += [f for f, _ in make_sequence("live", ch, seed, size=(1280, 720), fps=15, seconds=4)]
        seed += 1
    frames = frames[: args.frames]
    lm = shared()
    mesh, _ = lm.faces(frames[0])
    assert mesh is not None
    rows: list[tuple[str, tuple[float, float]]] = [
        ("detector (full-range BlazeFace, 192 px)", timed(lm.detect, frames)),
        ("face mesh around the last one (192 px)", timed(lambda f: lm.mesh(f, mesh, eyes=False), frames)),
        ("two eye crops (64 px each)", timed(lambda f: (lm._eye(f, mesh.points, RIGHT_EYE, False),
                                                        lm._eye(f, mesh.points, LEFT_EYE, True)), frames)),
        ("observe, with eyes (blink)", timed(lambda f: observe(f, 0.0, mesh), frames)),
        ("observe, no eyes (turns)", timed(lambda f: observe(f, 0.0, mesh, eyes=False), frames)),
    ]
    rows.append(("LivenessChecker.update (blink)", timed(_Fresh(lambda: LivenessChecker(
        Challenge.BLINK, LivenessConfig(timeout_s=1e9))), frames)))
    rows.append(("old checker: observe (Haar, 320 px)", timed(lambda f: v1.observe(f, 0.0), frames)))
    rows.append(("old checker: update (blink)", timed(_Fresh(lambda: v1.LivenessChecker(
        v1.Challenge.BLINK, v1.LivenessConfig(timeout_s=1e9))), frames)))
    print(f"{len(frames)} frames 1280x720; ms per frame, median / p95")
    for name, (med, p95) in rows:
        print(f"  {name:<42} {med:7.1f} {p95:7.1f}")
    new, base = rows[5][1][0], rows[7][1][0]
    print(f"new / old checker, median: {new / base:.2f}x")


if __name__ == "__main__":
    main()
