"""The tilt check on camera-model clips: does the card answer the room's light as it tilts?

    .venv/bin/python bench/bench_integrity_tilt.py [--n 24] [--first-seed 47000] [--jobs 2]
        [--kinds genuine,screen_phone,...] [--cache DIR] [--free-exposure] [--out rows.json]

THE FIGURES ARE ON THE PROJECT'S OWN SIMULATOR (kiosk/testdata/fakes.py
`tilt_sequence`): each sheet (laminated card, copies, prints, screens) held in
front of the modelled camera and tilted by hand, 3-6 degrees either way at
0.5-1 Hz, 12 preview frames at 15 fps, exposure locked on the first frame
(`--free-exposure`: metered every frame, what a camera left on auto does).
Nothing here says how real cards, screens or paper behave; the tilt's physics
(a reflecting surface answers the lamps, a backlit screen does not) is what the
model represents.

Seeds: the threshold in kiosk/vision/integrity_tilt.py was first set on 45000-45011
(1.0e-3) and measured on 46000-46023, held out until then; that set, spent, then joined
the tuning data. The measure then became the largest change between any two frames
(from the first frame, a clip starting mid-wobble read less), and the threshold was set
again on both sets, 0.8e-3 (the lowest genuine of the 36, 0.99e-3, over 1.2), before
47000-47023 were measured: held out since they were made (the default here).
Even seeds show the front, odd the back. Each clip is judged by:

    still   today's single-picture check (`check_integrity`) on the first frame,
            straightened with its truth corners to 1024x646: the baseline;
    tilt    `tilt_evidence` on the 12 frames with their truth corners;
    both    the still's verdict, or "screen" when it passed and the tilt found the
            card flat (`with_tilt`): what `scan --frames` reports (there with the
            outlines given or the card finder's, here the truth corners).

FAR: an attack judged ok. FRR: a genuine card not judged ok. Wilson 95 % intervals.
Clips are cached as .npz under --cache by kind and seed (rendering is ~0.4 s a frame):
empty the cache when the simulator, N_FRAMES or FPS change.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_card_finder import wilson
from kiosk.testdata.fakes import KINDS, tilt_sequence
from kiosk.vision.integrity import check_integrity
from kiosk.vision.integrity_tilt import RESPONSE_MIN, tilt_evidence, with_tilt
from tests.helpers.capture2 import straighten

N_FRAMES, FPS = 12, 15.0


def clip(kind: str, seed: int, cache: Path, free_ae: bool = False) -> tuple[np.ndarray, np.ndarray]:
    p = cache / f"{kind}_{seed}{'_ae' if free_ae else ''}.npz"
    if p.exists():
        z = np.load(p)
        return z["frames"], z["corners"]
    side = "front" if seed % 2 == 0 else "back"
    shots = tilt_sequence(kind, seed, side, n_frames=N_FRAMES, fps=FPS, lock_exposure=not free_ae)
    frames, corners = np.stack([s.frame for s in shots]), np.stack([s.corners for s in shots])
    tmp = p.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, frames=frames, corners=corners)
    os.replace(tmp, p)
    return frames, corners


def one(job: tuple[str, int, str, bool]) -> dict:
    kind, seed, cache, free_ae = job
    frames, corners = clip(kind, seed, Path(cache), free_ae)
    t = time.perf_counter()
    still = check_integrity(straighten(frames[0], corners[0]))
    t_still = time.perf_counter() - t
    t = time.perf_counter()
    tilt = tilt_evidence(list(frames), list(corners))
    t_tilt = time.perf_counter() - t
    both = with_tilt(still, tilt)
    return {"kind": kind, "seed": seed, "still": still.verdict, "both": both.verdict,
            "tilt": "not judged" if not tilt.judged else ("flat" if tilt.flat else "answers light"),
            "scores": {k: round(v, 5) for k, v in tilt.scores.items()},
            "ms_still": t_still * 1000, "ms_tilt": t_tilt * 1000}


def report(rows: list[dict]) -> None:
    kinds = [k for k in KINDS if any(r["kind"] == k for r in rows)]
    total = collections.Counter(r["kind"] for r in rows)
    head = f"{'still (baseline)':>30s}{'still + tilt':>30s}{'tilt flat':>10s}{'not judged':>11s}"
    print(f"\n{'kind':18s}{head}")
    for k in kinds:
        n = total[k]
        what = "FRR" if k == "genuine" else "FAR"
        cells = []
        for key in ("still", "both"):
            c = sum(1 for r in rows if r["kind"] == k and (r[key] == "ok") != (k == "genuine"))
            lo, hi = wilson(c, n)
            cells.append(f"{what} {c:>2d}/{n} {c / n:5.0%} [{lo:4.0%}, {hi:4.0%}]")
        flat = sum(1 for r in rows if r["kind"] == k and r["tilt"] == "flat")
        skipped = sum(1 for r in rows if r["kind"] == k and r["tilt"] == "not judged")
        print(f"{k:18s}{cells[0]:>30s}{cells[1]:>30s}{flat:>10d}{skipped:>11d}")
    print(f"\nresponse to light per degree (x1e-3; flat below {RESPONSE_MIN * 1000:g}), by kind:")
    for k in kinds:
        v = sorted(r["scores"].get("response", float("nan")) * 1000 for r in rows if r["kind"] == k)
        print(f"  {k:18s} " + " ".join(f"{x:.1f}" for x in v))
    for key in ("ms_still", "ms_tilt"):
        ms = sorted(r[key] for r in rows)
        print(f"{key[3:]:>6s}: median {ms[len(ms) // 2]:.0f} ms, p95 {ms[int(len(ms) * 0.95)]:.0f} ms "
              "per clip (still: one 1024x646 crop; tilt: 12 frames of 1280x720)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--first-seed", type=int, default=47000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--cache", type=Path, default=Path("/tmp/fieldkit-tilt-clips"))
    ap.add_argument("--free-exposure", action="store_true",
                    help="auto-exposure meters every frame (the kiosk locks it for the tilt)")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    a.cache.mkdir(parents=True, exist_ok=True)
    kinds = a.kinds.split(",")
    seeds = range(a.first_seed, a.first_seed + a.n)
    jobs = [(k, s, str(a.cache), a.free_exposure) for s in seeds for k in kinds]
    print("FIGURES ON THE PROJECT'S OWN SIMULATOR (camera model over generated cards), NOT ON REAL CAPTURES")
    print(f"{len(kinds)} kinds x {a.n} seeds ({a.first_seed}-{a.first_seed + a.n - 1}), "
          f"{N_FRAMES} frames at {FPS:.0f} fps, exposure {'free' if a.free_exposure else 'locked'}, "
          f"{a.jobs} processes")
    t0 = time.perf_counter()
    with ProcessPoolExecutor(a.jobs) as ex:
        rows = list(ex.map(one, jobs))
    print(f"wall {time.perf_counter() - t0:.0f} s")
    report(rows)
    if a.out:
        a.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
