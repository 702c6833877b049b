"""Card finder on harsh generated frames and on real photos, beside two baselines.

    .venv/bin/python bench/bench_card_finder.py [--n 20] [--timing 54] [--json out.json]

Finders, all run in this process on the same frames:
    live      kiosk.vision.card.find_card as it is in the working tree, as capture uses it:
              an outline its segmentation disagrees with (not `trusted`) counts as not found
    live, untrusted too   the same, every outline it returns
    v1        bench/baselines/card_v1.py, the finder frozen on 2026-12-06
    contour   bench/baselines/contour_finder.py, the textbook OpenCV contour finder

1. Harsh frames (kiosk/testdata/harsh.py): --n per scenario (seeds 0..n-1, fronts and
   backs), plus --n random mixes ("mixed"). 2. The real photos of bench/realsets when
   the module and its images are there: held-out part first, then the tuning part.

A found outline is *right* when its mean corner error is at most 3 % of the true card's
diagonal AND its IoU with the true quad is at least 0.9, the corners compared over the
four cyclic orders (a card upside down is still found). Anything else found is *wrong*;
"flagged" counts the wrong ones reported `touches_border` (the kiosk does not straighten
those, so they cost a retake, not a misread). For a card really cut by the frame's edge,
the right answer is "found with touches_border" or nothing; an unflagged outline is wrong
unless it matches the whole card. "cut?" counts right outlines of whole cards wrongly
flagged as cut (the kiosk would say "cortada"). Rates carry Wilson 95 % intervals.

3. Timing of the live path per 1280x720 frame (find_card + quality.assess_frame + fast QR
on a 768x485 straightened crop, as docs/vision.md describes), live and v1 interleaved
frame by frame, single-threaded OpenCV: median and p95 per stage, and the ratio.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.baselines import card_v1, contour_finder
from kiosk.testdata.harsh import CARD_MODELS, SCENARIOS, card_picture, harsh_frame
from kiosk.vision import card as live_card
from kiosk.vision.qr import decode_qr
from kiosk.vision.quality import assess_frame

Found = tuple[np.ndarray, bool]          # corners (4, 2), touches_border
# Each returns an object with .corners and .touches_border, or None (their classes differ).
_LAST: list[Any] = [None, None]       # (image, find): the two "live" rows share one run


def _live(img: np.ndarray) -> Any:
    if _LAST[0] is not img:
        _LAST[:] = [img, live_card.find_card(img)]
    return _LAST[1]


def trusted_only(img: np.ndarray) -> Any:
    """The finder as capture uses its answer: an outline its segmentation disagrees with
    (`CardFind.trusted` false) is not straightened unasked, so it counts as not found."""
    f = _live(img)
    return f if f is None or f.trusted else None


FINDERS: dict[str, Callable[[np.ndarray], Any]] = {
    "live": trusted_only, "live, untrusted too": _live, "v1": card_v1.find_card,
    "contour": contour_finder.find_card}
MAX_ERR, MIN_IOU = 0.03, 0.9
LIVE_CROP = (768, 485)


# --- judging ------------------------------------------------------------------------------------


def _area(p: np.ndarray) -> float:
    x, y = p[:, 0], p[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _clip(subject: np.ndarray, convex: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman: `subject` (any simple polygon) clipped by a convex polygon."""
    sign = 1.0 if _area(convex) > 0 else -1.0
    out = subject
    for a, b in zip(convex, np.roll(convex, -1, axis=0), strict=True):
        if len(out) == 0:
            break
        side = sign * ((b[0] - a[0]) * (out[:, 1] - a[1]) - (b[1] - a[1]) * (out[:, 0] - a[0]))
        pts = []
        for i in range(len(out)):
            j = (i + 1) % len(out)
            if side[i] >= 0:
                pts.append(out[i])
            if (side[i] >= 0) != (side[j] >= 0):
                t = side[i] / (side[i] - side[j])
                pts.append(out[i] + t * (out[j] - out[i]))
        out = np.array(pts, np.float64).reshape(-1, 2)
    return out


def quad_iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = abs(_area(_clip(np.asarray(a, np.float64), np.asarray(b, np.float64)))) if len(a) else 0.0
    union = abs(_area(np.asarray(a, np.float64))) + abs(_area(np.asarray(b, np.float64))) - inter
    return inter / union if union > 0 else 0.0


def corner_error(found: np.ndarray, truth: np.ndarray) -> tuple[float, int]:
    """(mean corner distance over the true diagonal, cyclic shift) at the best of four orders."""
    diag = (np.linalg.norm(truth[2] - truth[0]) + np.linalg.norm(truth[3] - truth[1])) / 2
    errs = [float(np.linalg.norm(np.roll(found, -k, axis=0) - truth, axis=1).mean()) for k in range(4)]
    k = int(np.argmin(errs))
    return errs[k] / float(diag), k


@dataclass
class Verdict:
    outcome: str                      # "right", "wrong", "none"
    flagged: bool = False             # found with touches_border
    match: bool = False               # the outline is the whole card's (error and IoU within bounds)
    err: float | None = None
    iou: float | None = None
    shift: int | None = None          # cyclic order of the match: 0 = the card's own TL first


def judge(found: Found | None, truth: np.ndarray, cut: bool) -> Verdict:
    if found is None:
        return Verdict("right" if cut else "none")
    corners, flagged = found
    err, shift = corner_error(np.asarray(corners, np.float64), np.asarray(truth, np.float64))
    iou = quad_iou(np.asarray(corners, np.float64), np.asarray(truth, np.float64))
    match = err <= MAX_ERR and iou >= MIN_IOU
    right = match or (cut and flagged)
    return Verdict("right" if right else "wrong", flagged, match, round(err, 4), round(iou, 4), shift)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


@dataclass
class Tally:
    n: int = 0
    right: int = 0
    wrong: int = 0
    flagged: int = 0                  # wrong and flagged cut
    none: int = 0
    false_cut: int = 0                # right outline of a whole card, flagged cut
    upright: int = 0                  # matched in the card's own corner order (not needed to be right)
    errs: list[float] = field(default_factory=list)   # corner errors of the matched outlines

    def add(self, v: Verdict, cut: bool) -> None:
        self.n += 1
        setattr(self, v.outcome, getattr(self, v.outcome) + 1)
        self.flagged += v.outcome == "wrong" and v.flagged
        self.false_cut += v.outcome == "right" and v.flagged and not cut
        self.upright += v.match and v.shift == 0
        if v.match and v.err is not None:
            self.errs.append(v.err)

    def figures(self) -> dict:
        out: dict = {k: getattr(self, k) for k in ("n", "right", "wrong", "flagged", "none", "false_cut",
                                                     "upright")}
        for k in ("right", "wrong", "none"):
            out[f"{k}_rate"] = getattr(self, k) / self.n if self.n else math.nan
            out[f"{k}_ci95"] = wilson(getattr(self, k), self.n)
        out["median_err_matched"] = float(np.median(self.errs)) if self.errs else None
        return out


def run_finders(img: np.ndarray, truth: np.ndarray, cut: bool, keys: list[tuple[str, ...]],
                tallies: dict[tuple[str, ...], dict[str, Tally]]) -> None:
    for name, fn in FINDERS.items():
        f = fn(img)
        found = None if f is None else (np.asarray(f.corners, np.float32), bool(f.touches_border))
        v = judge(found, truth, cut)
        for key in keys:
            tallies[key][name].add(v, cut)


# --- the sets -----------------------------------------------------------------------------------


def bench_harsh(n: int, keep_every: int) -> tuple[dict, list[np.ndarray], list[float]]:
    """Tallies per scenario, some frames kept for the timing, and ms per generated frame."""
    tallies: dict[tuple[str, ...], dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    kept: list[np.ndarray] = []
    gen_ms: list[float] = []
    for i in range(len(CARD_MODELS)):          # render the card pictures once, before the clock
        for side in ("front", "back"):
            card_picture(i, side)
    for scenario in [*SCENARIOS, "mixed"]:
        for seed in range(n):
            t = time.process_time()
            f = harsh_frame(seed, side="any", scenario=None if scenario == "mixed" else scenario)
            gen_ms.append((time.process_time() - t) * 1000)
            run_finders(f.image, f.corners, f.cut, [(scenario,), ("ALL",)], tallies)
            if seed % keep_every == 0:
                kept.append(f.image)
        print(f"   {scenario} done", file=sys.stderr, flush=True)
    order = [*SCENARIOS, "mixed", "ALL"]
    return {g: {name: t.figures() for name, t in tallies[(g,)].items()} for g in order}, kept, gen_ms


def bench_real() -> dict | None:
    try:
        from bench.realsets import load_cards
        cards = load_cards()
    except (ImportError, FileNotFoundError) as e:
        print(f"real photos: skipped ({type(e).__name__}: {e})")
        return None
    if not cards:
        print("real photos: skipped (no images present)")
        return None
    print(f"real photos: {len(cards)} images ({getattr(cards, 'missing', 0)} in the manifest missing)")
    tallies: dict[tuple[str, ...], dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    for c in cards:
        try:
            img = c.rgb()
        except (OSError, ValueError) as e:          # a damaged or changed file: say so, go on
            print(f"   skipped {c.path}: {e}")
            continue
        part = "held-out" if c.held_out else "tuning"
        run_finders(img, c.corners, c.cut, [(part, "all"), (part, c.scene)], tallies)
    order = sorted(tallies, key=lambda k: (k[0] != "held-out", k[1] != "all", k[1]))
    return {f"{p} / {s}": {name: t.figures() for name, t in tallies[(p, s)].items()} for p, s in order}


PREVIEW = 6          # frames per simulated preview: the same scene, fresh sensor noise


@dataclass
class Preview:
    """What the capture screen's tracker carries from frame to frame (kiosk.vision.quality)."""

    last: Any = None
    frames: int = 0


def live_path(name: str, img: np.ndarray, st: Preview) -> tuple[float, float, float]:
    """find, assess_frame, and the quick QR look when the card is whole (ms each), as the
    preview runs them: the live finder gets the last outline as a hint and its slower
    detectors every third frame (CaptureTracker does the same); v1 had neither."""
    t0 = time.perf_counter()
    if name == "live":
        st.frames += 1
        c = live_card.find_card(img, hint=st.last, thorough=st.frames % 3 == 1, layout=False)
    else:
        c = card_v1.find_card(img)
    t1 = time.perf_counter()
    assess_frame(img, c)
    t2 = time.perf_counter()
    if c is not None and not c.touches_border:
        decode_qr(None, live_card.straighten(img, c.corners, LIVE_CROP), fast=True)
    t3 = time.perf_counter()
    st.last = c
    return (t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000


def bench_timing(frames: list[np.ndarray]) -> dict:
    """Each frame becomes a short preview (fresh noise per frame); live and v1 alternate
    preview by preview (and which goes first), so load hits both alike."""
    rng = np.random.default_rng(0)
    live_path("live", frames[0], Preview())
    live_path("v1", frames[0], Preview())
    stages: dict[str, dict[str, list[float]]] = {k: defaultdict(list) for k in ("live", "v1", "contour")}
    for i, img in enumerate(frames):
        shots = [np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8) for _ in range(PREVIEW)]
        for name in (("live", "v1") if i % 2 == 0 else ("v1", "live")):
            st = Preview()
            for shot in shots:
                parts = live_path(name, shot, st)
                named = zip(("find", "quality", "fast QR", "total"), (*parts, sum(parts)), strict=True)
                for stage, ms in named:
                    stages[name][stage].append(ms)
        t = time.perf_counter()
        contour_finder.find_card(img)
        stages["contour"]["find"].append((time.perf_counter() - t) * 1000)
    return {name: {stage: {"median": float(np.median(v)), "p95": float(np.percentile(v, 95))}
                   for stage, v in st.items()} for name, st in stages.items()}


# --- report -------------------------------------------------------------------------------------


def _rate(fig: dict, key: str) -> str:
    lo, hi = fig[f"{key}_ci95"]
    return f"{fig[key]:>3}/{fig['n']:<3} {fig[f'{key}_rate']:4.2f} [{lo:.2f},{hi:.2f}]"


def print_table(title: str, groups: dict) -> None:
    g = max(len(k) for k in groups)
    print(f"\n{title}")
    print(f"   {'group':<{g}} {'finder':<8} {'right':<22} {'wrong':<22} {'flagged':>7} "
          f"{'not found':<22} {'cut?':>5} {'err':>6}")
    for group, by in groups.items():
        for i, name in enumerate(FINDERS):
            f = by[name]
            m = f["median_err_matched"]
            err = f"{m * 100:5.2f}%" if m is not None else "-"
            label = group if i == 0 else ""
            print(f"   {label:<{g}} {name:<8} {_rate(f, 'right'):<22} {_rate(f, 'wrong'):<22} "
                  f"{f['flagged']:>7} {_rate(f, 'none'):<22} {f['false_cut']:>5} {err:>6}")


def print_timing(t: dict, n: int) -> None:
    print(f"\nlive path per 1280x720 frame, {n} harsh scenes x {PREVIEW} preview frames, ms median / p95 "
          "(live and v1 interleaved)")
    print(f"   {'stage':<10} {'live':>16} {'v1':>16} {'live/v1':>8}")
    for stage in ("find", "quality", "fast QR", "total"):
        a, b = t["live"][stage], t["v1"][stage]
        print(f"   {stage:<10} {a['median']:7.2f} / {a['p95']:6.2f} {b['median']:7.2f} / {b['p95']:6.2f} "
              f"{a['median'] / max(b['median'], 1e-9):8.2f}")
    c = t["contour"]["find"]
    print(f"   (contour baseline find: {c['median']:.2f} / {c['p95']:.2f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20, help="harsh frames per scenario (default 20)")
    ap.add_argument("--timing", type=int, default=54, help="frames for the timing (default 54)")
    ap.add_argument("--json", type=Path, help="write the figures to this file")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    load = Path("/proc/loadavg").read_text().split()[0]
    print(f"load average {load} on {len(os.sched_getaffinity(0))} cores (other work inflates wall times)")
    n_groups = len(SCENARIOS) + 1
    keep_every = max(1, math.ceil(args.n * n_groups / max(args.timing, 1)))
    print(f"generating {args.n} harsh frames per scenario ({n_groups} groups) ...", flush=True)
    harsh, kept, gen_ms = bench_harsh(args.n, keep_every)
    made = f"{np.median(gen_ms):.0f} ms median, {np.percentile(gen_ms, 95):.0f} ms p95 CPU"
    print_table(f"harsh frames: {args.n} per scenario, 1280x720, fronts and backs (made in {made})", harsh)
    real = bench_real()
    if real is not None:
        print_table("real photos (held-out first; tune nothing on it)", real)
    timing = bench_timing(kept[:args.timing]) if kept and args.timing > 0 else {}
    if timing:
        print_timing(timing, min(len(kept), args.timing))
    if args.json:
        made_ms = {"median": float(np.median(gen_ms)), "p95": float(np.percentile(gen_ms, 95))}
        out = {"load": load, "n_per_scenario": args.n, "harsh": harsh, "real": real, "timing": timing,
               "harsh_frame_cpu_ms": made_ms, "rule": {"max_corner_err_of_diag": MAX_ERR, "min_iou": MIN_IOU}}
        args.json.write_text(json.dumps(out, indent=1, default=float))
        print(f"\nfigures written to {args.json}")


if __name__ == "__main__":
    main()
