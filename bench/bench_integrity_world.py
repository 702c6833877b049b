"""Integrity checks on fakes made through a camera model: FAR / FRR per attack, preview and still.

    .venv/bin/python bench/bench_integrity_world.py [--n 40] [--first-seed 20000] [--jobs 2]
        [--kinds genuine,print_laser,...] [--resolutions preview,still] [--out results.json]

THE FIGURES ARE ON THE PROJECT'S OWN SIMULATOR (kiosk/testdata/fakes.py,
camera_model.py): physical sheets (laminated card, toner copies, laser and
inkjet prints, phone/tablet/laptop/monitor screens) photographed by a modelled
small camera. They say how the checker behaves under that model, not on real
captures.

Per kind, seeds S .. S+N-1 (default 20000-20039; the card side alternates with the
seed: even front, odd back). These seeds are disjoint from everything the
integrity thresholds were looked at on (0-29) and from bench_integrity.py's
100-159. Each scene is photographed at the kiosk preview (1280x720, the binned
mode scaled) and at the full-resolution still (4056x3040); each frame is
straightened with its truth corners to 1024x646 (tests/helpers/capture2.py) and
judged by today's `check_integrity` and, in the same process, by a baseline:

    grey-world chroma: balance the crop by grey-world (each channel scaled to the
    green mean), take the 90th percentile of Lab chroma on a 256-px-wide copy;
    below 2.0 the card is called a photocopy, else ok. The threshold was set on
    the old generator's seeds 0-9 (kiosk/testdata/variants.py: genuine >= 2.2,
    photocopies 0), never on these seeds.

FAR: an attack judged ok. FRR: a genuine card not judged ok. Wilson 95 % intervals.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_card_finder import wilson
from kiosk.testdata.fakes import KINDS, make_shots
from kiosk.vision.integrity import VERDICTS, check_integrity
from tests.helpers.capture2 import straighten

BASELINE_GREY_MAX = 2.0
RESOLUTIONS = ("preview", "still")


EXPECT = {"genuine": "ok", "photocopy": "photocopy", "screen": "screen", "print": "print"}


def expected(kind: str) -> str:
    return EXPECT[kind.split("_")[0]]


def greyworld_chroma(crop: np.ndarray) -> float:
    small = cv2.resize(crop, (256, 161), interpolation=cv2.INTER_AREA).astype(np.float32)
    means = small.reshape(-1, 3).mean(axis=0)
    balanced = np.clip(small * (means[1] / np.maximum(means, 1e-3)), 0, 255).astype(np.uint8)
    lab = cv2.cvtColor(balanced, cv2.COLOR_RGB2LAB).astype(np.float32)
    return float(np.percentile(np.hypot(lab[..., 1] - 128, lab[..., 2] - 128), 90))


def baseline(crop: np.ndarray) -> str:
    return "photocopy" if greyworld_chroma(crop) < BASELINE_GREY_MAX else "ok"


def one(job: tuple[str, int, tuple[str, ...]]) -> list[dict]:
    kind, seed, resolutions = job
    side = "front" if seed % 2 == 0 else "back"
    t0 = time.perf_counter()
    shots = make_shots(kind, seed, side, resolutions)
    gen = time.perf_counter() - t0
    rows = []
    for s in shots:
        crop = straighten(s.frame, s.corners)
        t = time.perf_counter()
        r = check_integrity(crop)
        t_check = time.perf_counter() - t
        t = time.perf_counter()
        b = baseline(crop)
        t_base = time.perf_counter() - t
        scores = {k: round(v, 3) for k, v in r.scores.items()}
        rows.append({"kind": kind, "seed": seed, "side": side, "resolution": s.resolution,
                     "verdict": r.verdict, "baseline": b, "scores": scores,
                     "px_per_mm": round(s.px_per_mm, 2), "ms_check": t_check * 1000,
                     "ms_baseline": t_base * 1000, "s_generate": gen / len(shots)})
    return rows


def report(rows: list[dict], res: str) -> None:
    rs = [r for r in rows if r["resolution"] == res]
    if not rs:
        return
    kinds = [k for k in KINDS if any(r["kind"] == k for r in rs)]
    ppmm = sorted(r["px_per_mm"] for r in rs if r["kind"] == "genuine") or [math.nan]
    print(f"\n=== {res} (genuine card at {ppmm[0]:.1f}-{ppmm[-1]:.1f} px/mm in the frame) ===")
    conf = collections.Counter((r["kind"], r["verdict"]) for r in rs)
    total = collections.Counter(r["kind"] for r in rs)
    print(f"{'check_integrity':18s}" + "".join(f"{v:>10s}" for v in VERDICTS) + f"{'n':>5s}")
    for k in kinds:
        print(f"{k:18s}" + "".join(f"{conf[(k, v)]:>10d}" for v in VERDICTS) + f"{total[k]:>5d}")
    print(f"\n{'kind':18s}{'check_integrity':>34s}{'baseline (grey-world chroma)':>34s}")
    for k in kinds:
        n = total[k]
        what = "FRR" if k == "genuine" else "FAR"
        bad = (lambda v: v != "ok") if k == "genuine" else (lambda v: v == "ok")
        cells = []
        for key in ("verdict", "baseline"):
            c = sum(1 for r in rs if r["kind"] == k and bad(r[key]))
            lo, hi = wilson(c, n)
            cells.append(f"{what} {c:>2d}/{n} {c / n:6.1%} [{lo:6.1%}, {hi:6.1%}]")
        print(f"{k:18s}{cells[0]:>34s}{cells[1]:>34s}")
    right = sum(1 for r in rs if r["kind"] != "genuine" and r["verdict"] == expected(r["kind"]))
    caught = sum(1 for r in rs if r["kind"] != "genuine" and r["verdict"] != "ok")
    print(f"attacks refused: {caught}, of which with the right reason: {right}")
    for key in ("ms_check", "ms_baseline"):
        ms = sorted(r[key] for r in rs)
        print(f"{key[3:]:>9s}: median {ms[len(ms) // 2]:.1f} ms, p95 {ms[int(len(ms) * 0.95)]:.1f} ms "
              "per card (1024x646 crop, one process)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--first-seed", type=int, default=20000)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--resolutions", default=",".join(RESOLUTIONS))
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    kinds, resolutions = a.kinds.split(","), tuple(a.resolutions.split(","))
    jobs = [(k, s, resolutions) for s in range(a.first_seed, a.first_seed + a.n) for k in kinds]
    print("FIGURES ON THE PROJECT'S OWN SIMULATOR (camera model over generated cards), NOT ON REAL CAPTURES")
    print(f"{len(kinds)} kinds x {a.n} seeds ({a.first_seed}-{a.first_seed + a.n - 1}), "
          f"{'+'.join(resolutions)}, {a.jobs} processes")
    t0 = time.perf_counter()
    with ProcessPoolExecutor(a.jobs) as ex:
        rows = []
        for i, rs in enumerate(ex.map(one, jobs)):
            rows += rs
            if (i + 1) % 20 == 0:
                done = f"  {i + 1}/{len(jobs)} scenes, {time.perf_counter() - t0:.0f} s"
                print(done, file=sys.stderr, flush=True)
    gen = sorted(r["s_generate"] for r in rows)[len(rows) // 2]
    print(f"wall {time.perf_counter() - t0:.0f} s; generation median {gen:.2f} s per frame (sheet shared)")
    for res in RESOLUTIONS:
        report(rows, res)
    if a.out:
        a.out.write_text(json.dumps(rows, indent=1))
    print("\n(simulator figures: docs/integrity.md, 'Fakes made through a camera model', says what the "
          "model does and does not represent)")


if __name__ == "__main__":
    main()
