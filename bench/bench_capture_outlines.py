"""Outlines straightened at capture: how often a wrong one reaches the record, beside the old path.

    .venv/bin/python bench/bench_capture_outlines.py [--n 6] [--seeds 20000] [--json out.json]

Seeds: the frames are harsh_frame(base + i) for each base in --seeds (default 20000; 20000,
30000 and 40000 were used while changing the capture's front checks; 50000 and 60000 were
kept aside and only measured).

The finder alone (bench_card_finder.py) is judged on every outline it returns. What matters
to a citizen is the outline the capture *uses*: at capture the kiosk runs the finder in full
and reads the views in turn (kiosk/capture/analysis.py): a back is taken only if its QR and
MRZ read with valid check digits on the straightened crop (or on the MRZ band, whose implied
outline is the best crop available and is recorded as such); a front is taken from the first
view that shows the card's portrait where a front has it (left part, about half the card's
height). The kiosk takes a front anyway after a few steady looks with no portrait in place
(the auxiliary then compares it by eye): such fronts count as "not taken" here.

For each harsh frame (kiosk/testdata/harsh.py, --n per scenario, fronts and backs of the QR
models E-H) this bench runs that capture logic and reports, per side: taken with a right
outline, taken with a wrong one (mean corner error over 3 % of the diagonal or IoU under 0.9:
a wrong outline straightened into the record), taken from the MRZ band, not taken. Beside it,
in the same process, the old path: the frozen finder's outline straightened whenever it is
found and not cut (what the kiosk did before), with the same judgement. Wilson 95 % intervals.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.baselines import card_v1
from bench.bench_card_finder import corner_error, quad_iou, wilson
from kiosk.cardread.credential import read_back
from kiosk.cardread.reading import PATH_MRZ_BAND, front_view
from kiosk.testdata.harsh import SCENARIOS, harsh_frame
from kiosk.vision.card import find_card

QR_MODELS = {"E", "F", "G", "H"}
NOW_YEAR = 2026


def right(corners: np.ndarray, truth: np.ndarray) -> bool:
    c, t = np.asarray(corners, np.float64), np.asarray(truth, np.float64)
    return corner_error(c, t)[0] <= 0.03 and quad_iou(c, t) >= 0.9


WRONG_SEEN: list[tuple[float, float]] = []     # (corner error, IoU) of the wrong outlines taken now


def _wrong(corners: np.ndarray, truth: np.ndarray) -> str:
    c, t = np.asarray(corners, np.float64), np.asarray(truth, np.float64)
    WRONG_SEEN.append((corner_error(c, t)[0], quad_iou(c, t)))
    return "taken, WRONG"


def capture_back(img: np.ndarray, truth: np.ndarray) -> str:
    r = read_back(img, now_year=NOW_YEAR, find=find_card(img))
    if not r.accepted or r.find is None:
        return "not taken"
    if r.path == PATH_MRZ_BAND:
        return "taken, MRZ band"
    return "taken, right" if right(r.find.corners, truth) else _wrong(r.find.corners, truth)


def capture_front(img: np.ndarray, truth: np.ndarray) -> str:
    fv = front_view(img, find_card(img), located=True)
    if fv is None or not fv.in_place:
        return "not taken"
    return "taken, right" if right(fv.view.find.corners, truth) else _wrong(fv.view.find.corners, truth)


def old_path(img: np.ndarray, truth: np.ndarray) -> str:
    f = card_v1.find_card(img)
    if f is None or f.touches_border:
        return "not taken"
    return "taken, right" if right(f.corners, truth) else "taken, WRONG"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=6, help="frames per scenario (default 6)")
    ap.add_argument("--seeds", default="20000", help="comma-separated seed bases (default 20000)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    tallies: dict[str, Counter[str]] = {k: Counter() for k in ("back", "front", "back old", "front old")}
    for scenario in SCENARIOS:
        if scenario == "cut":
            continue                        # a cut card is never taken; bench_card_finder counts those
        for base, seed in ((b, s) for b in map(int, args.seeds.split(",")) for s in range(args.n)):
            side = "back" if seed % 2 else "front"
            f = harsh_frame(base + seed, side, scenario=scenario)
            if f.cut or f.params.get("model") not in QR_MODELS:
                continue
            now = (capture_back if side == "back" else capture_front)(f.image, f.corners)
            tallies[side][now] += 1
            tallies[f"{side} old"][old_path(f.image, f.corners)] += 1
        print(f"   {scenario} done", flush=True)
    out = {}
    print("\noutlines used at capture, harsh frames (models E-H, cards wholly in the frame)")
    for name, t in tallies.items():
        n = sum(t.values())
        row = {}
        for k in ("taken, right", "taken, WRONG", "taken, MRZ band", "not taken"):
            lo, hi = wilson(t[k], n)
            row[k] = {"k": t[k], "n": n, "rate": t[k] / n if n else None, "ci95": [lo, hi]}
        out[name] = row
        cells = "  ".join(f"{k} {v['k']:>3}/{n:<3} [{v['ci95'][0]:.2f},{v['ci95'][1]:.2f}]"
                          for k, v in row.items())
        print(f"   {name:<10} {cells}")
    if WRONG_SEEN:
        print("   wrong outlines taken now (corner error / IoU): "
              + ", ".join(f"{e:.3f} / {i:.2f}" for e, i in WRONG_SEEN))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
