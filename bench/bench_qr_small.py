"""QR codes photographed small: read rate and ms, today's decoder against the frozen baseline.

    .venv/bin/python bench/bench_qr_small.py [--n 120] [--first-seed 0] [--effect motion]

Tuning material only (tests.helpers.qr_small: the project's own QR places and sizes drawn with
segno, photographed at 4.5-8 px per mm with defocus, motion blur, JPEG or low contrast). Each
scene is decoded as the back reading does, decode_qr(frame, crop) on the straightened crop
(outline off by ~1 px), by bench/baselines/qr_v1.py (frozen) and by kiosk.vision.qr, which is
also handed the frame-to-card homography when it takes one. Printed: codes read, scenes with
every code read (Wilson 95 %), by effect and by px per module, ms per call (median / p90), and
the live path, decode_qr(None, 768-px crop, fast=True), ms median / p90.
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.baselines import qr_v1
from bench.bench_back_reading import wilson
from kiosk.vision import qr as qr_now
from kiosk.vision.card import straighten
from tests.helpers.qr_small import EFFECTS, QrScene, qr_scene

LIVE_CROP = (768, 485)
TAKES_HOMOGRAPHY = "homography" in inspect.signature(qr_now.decode_qr).parameters
PASS_HOMOGRAPHY = [TAKES_HOMOGRAPHY]            # --no-homography: as callers that do not pass it


def _v1(s: QrScene) -> set[bytes]:
    return set(qr_v1.decode_qr(s.frame, s.crop).payloads)


def _now(s: QrScene) -> set[bytes]:
    if PASS_HOMOGRAPHY[0]:
        return set(qr_now.decode_qr(s.frame, s.crop, homography=s.homography).payloads)  # type: ignore[call-arg]
    return set(qr_now.decode_qr(s.frame, s.crop).payloads)


def _bucket(s: QrScene) -> str:
    mm_per_module = 0.30                   # INE's public code is ~0.3 mm, the dense ones ~0.4
    v = s.px_per_mm * mm_per_module
    return "<1.8" if v < 1.8 else "1.8-2.1" if v < 2.1 else ">=2.1"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--effect", choices=EFFECTS, default=None)
    ap.add_argument("--no-homography", action="store_true", help="decode_qr(frame, crop) alone")
    ap.add_argument("-v", action="store_true", help="one line per scene")
    args = ap.parse_args()
    PASS_HOMOGRAPHY[0] = TAKES_HOMOGRAPHY and not args.no_homography
    cv2.setNumThreads(1)
    deciders: dict[str, Callable[[QrScene], set[bytes]]] = {"v1": _v1, "now": _now}
    codes = {k: [0, 0] for k in deciders}
    scenes: dict[str, dict[str, list[int]]] = defaultdict(lambda: {k: [0, 0] for k in deciders})
    ms: dict[str, list[float]] = {k: [] for k in deciders}
    live: dict[str, list[float]] = {k: [] for k in deciders}
    wrong = {k: 0 for k in deciders}
    for i in range(args.n):
        seed = args.first_seed + i
        s = qr_scene(seed, effect=args.effect)
        want = set(s.payloads)
        line = []
        for name, fn in deciders.items():
            t0 = time.perf_counter()
            got = fn(s)
            ms[name].append((time.perf_counter() - t0) * 1000)
            wrong[name] += len(got - want)
            codes[name][0] += len(want & got)
            codes[name][1] += len(want)
            full = want <= got
            for key in ("all", str(s.effect), _bucket(s)):
                scenes[key][name][0] += full
                scenes[key][name][1] += 1
            line.append(f"{name}={len(want & got)}/{len(want)}")
        small = straighten(s.frame, s.corners, LIVE_CROP)
        for name, mod in (("v1", qr_v1), ("now", qr_now)):
            t0 = time.perf_counter()
            mod.decode_qr(None, small, fast=True)
            live[name].append((time.perf_counter() - t0) * 1000)
        if args.v:
            print(f"  {seed:5d} {' '.join(line)} {ms['v1'][-1]:5.0f}/{ms['now'][-1]:5.0f} ms {s.tags}",
                  flush=True)
    print(f"\n{args.n} scenes, seeds {args.first_seed}-{args.first_seed + args.n - 1}"
          f"{', effect ' + args.effect if args.effect else ''}; homography passed: {PASS_HOMOGRAPHY[0]}")
    print(f"{'':14s} {'v1 (baseline)':>26s} {'now':>26s}")
    print(f"{'codes read':14s} {wilson(*codes['v1']):>26s} {wilson(*codes['now']):>26s}")
    order = ["all", *EFFECTS, "<1.8", "1.8-2.1", ">=2.1"]
    for key in order:
        if key in scenes:
            t = scenes[key]
            print(f"{'scenes ' + key:14s} {wilson(*t['v1']):>26s} {wilson(*t['now']):>26s}")
    print(f"{'wrong payloads':14s} {wrong['v1']:>26d} {wrong['now']:>26d}")
    for title, d in (("ms full call", ms), ("ms live fast", live)):
        cells = [f"{statistics.median(d[k]):7.1f} / {float(np.percentile(d[k], 90)):7.1f}" for k in deciders]
        print(f"{title:14s} {cells[0]:>26s} {cells[1]:>26s}")
    print("(px per module buckets assume 0.30 mm modules; the dense codes' are ~0.4 mm)")


if __name__ == "__main__":
    main()
