"""Back reading on cards drawn by another hand (bench/other_backs.py): outline path vs MRZ band.

    .venv/bin/python bench/bench_back_reading.py [--n 30] [--first-seed 0] [--fonts ocrb,ocrb_sharp,mono]

For each frame (the seed chooses the OCR-B rendering in turn among the fonts given, except
"mono", DejaVu Sans Mono, which is reported on its own as a harder case):

  (a) the outline path: kiosk.cardread.credential.read_back (outline, straighten, QR, MRZ),
      limited to its outline and whole-image views where read_back offers `paths`;
  (b) the band alone: kiosk.mrz.locate.read_mrz_in_frame, and decode_qr on the frame
      with the crop the band implies (card_quad_from_band's homography);
  (a+b) read_back with every path it has (once the band is integrated there); before that,
      (a), and (b) where (a) has no checked MRZ.

Also timed on their own: find_mrz_band, and read_mrz_in_frame (find and read, both ways up);
and, to tell locating from reading, the MRZ reader on the flat card as rendered (no photo).

Counted on frames whose MRZ is wholly in view and uncovered ("MRZ in view"), and the QR also
on frames whose every QR is wholly in view and uncovered (a code cut by the frame's edge or
under a hand is beyond any decoder; both counts are printed):
QR read (every code on the card decoded), MRZ read (every check digit valid and the three
lines equal to the truth), both; and on all frames, wrong reads: an MRZ with valid check
digits that differs from the truth (in brackets: those wrong only in the names line, which
has no check digit). Wilson 95 % intervals. ms per frame: median and p90, in this process,
(a) being the baseline.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.other_backs import OtherFrame, other_frame
from kiosk.cardread.credential import read_back
from kiosk.mrz.locate import CARD_H, CARD_W, find_mrz_band, read_mrz_in_frame
from kiosk.mrz.reader import MrzRead, read_mrz
from kiosk.vision.qr import QrResult, decode_qr

PATHS = ("a", "b", "a+b")
try:                                    # read_back's reading paths, once the band is integrated
    from kiosk.cardread.reading import PATH_OUTLINE, PATH_WHOLE
    OUTLINE_ONLY: dict[str, tuple[str, ...]] = {"paths": (PATH_OUTLINE, PATH_WHOLE)}
except ImportError:
    OUTLINE_ONLY = {}


@dataclass
class Tally:
    n_view: int = 0
    n_qr_view: int = 0                # frames whose every QR is wholly in view and uncovered
    qr_in_view: int = 0
    n_both_view: int = 0              # ... and the MRZ too
    both_in_view: int = 0
    qr: int = 0
    mrz: int = 0
    both: int = 0
    n_all: int = 0
    wrong: int = 0
    wrong_names: int = 0
    found: int = 0                    # (b): a band located, on frames with the MRZ in view
    found_flat: int = 0               # read right where the flat card reads right
    ms: list[float] = field(default_factory=list)


def wilson(k: int, n: int) -> str:
    if n == 0:
        return "   -   "
    z = 1.96
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return f"{k:3d}/{n:<3d} {p:4.2f} [{max(0, mid - half):.2f}-{min(1, mid + half):.2f}]"


def _qr_ok(qr: QrResult | None, f: OtherFrame) -> bool:
    return qr is not None and set(f.back.qr_payloads) <= set(qr.payloads)


def _judge(t: Tally, f: OtherFrame, qr: QrResult | None, mrz: MrzRead | None, ms: float) -> None:
    checked = mrz is not None and mrz.checks_ok
    right = checked and mrz is not None and list(mrz.lines) == f.back.mrz
    t.n_all += 1
    t.ms.append(ms)
    if checked and not right and mrz is not None:
        t.wrong += 1
        t.wrong_names += list(mrz.lines[:2]) == f.back.mrz[:2]
    q = _qr_ok(qr, f)
    if f.qr_visible:
        t.n_qr_view += 1
        t.qr_in_view += q
    if f.mrz_visible:
        t.n_view += 1
        t.qr += q
        t.mrz += right
        t.both += q and right
        if f.qr_visible:
            t.n_both_view += 1
            t.both_in_view += q and right


def run_one(f: OtherFrame, tallies: dict[str, Tally]) -> str:
    t0 = time.perf_counter()
    a = read_back(f.image, now_year=2026, **OUTLINE_ONLY)
    ms_a = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    find_mrz_band(f.image)
    tallies["find"].ms.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    got = read_mrz_in_frame(f.image)
    tallies["read"].ms.append((time.perf_counter() - t0) * 1000)
    if got is not None:
        crop = cv2.warpPerspective(f.image, got[1].homography, (CARD_W, CARD_H), flags=cv2.INTER_LINEAR)
        qr_b = decode_qr(f.image, crop)
    else:
        qr_b = decode_qr(f.image, None)
    ms_b = (time.perf_counter() - t0) * 1000
    mrz_b = got[0] if got is not None else None
    tallies["b"].found += got is not None and f.mrz_visible
    flat = read_mrz(f.back.image)
    _judge(tallies["flat"], f, None, flat, 0.0)
    _judge(tallies["a"], f, a.qr, a.mrz, ms_a)
    _judge(tallies["b"], f, qr_b, mrz_b, ms_b)
    if OUTLINE_ONLY:
        t0 = time.perf_counter()
        ab = read_back(f.image, now_year=2026)
        _judge(tallies["a+b"], f, ab.qr, ab.mrz, (time.perf_counter() - t0) * 1000)
    else:
        a_checked = a.mrz is not None and a.mrz.checks_ok
        _judge(tallies["a+b"], f, a.qr if a.qr.codes else qr_b, a.mrz if a_checked else mrz_b,
               ms_a + (0.0 if a_checked else ms_b))
    ok = lambda m: m is not None and m.checks_ok and list(m.lines) == f.back.mrz  # noqa: E731
    if f.mrz_visible and ok(flat):           # what the photo costs, where the reader can read
        tallies["flat"].found += 1
        tallies["a"].found_flat += ok(a.mrz)
        tallies["b"].found_flat += ok(mrz_b)
    return (f"{'view' if f.mrz_visible else 'out '} a={int(ok(a.mrz))} b={int(ok(mrz_b))} "
            f"{ms_a:5.0f}/{ms_b:4.0f} ms {f.tags}")


def report(title: str, tallies: dict[str, Tally]) -> None:
    print(f"\n{title}")
    print(f"{'path':5s} {'QR read':>24s} {'MRZ read':>24s} {'both':>24s} {'wrong (names only)':>28s}"
          f" {'ms median/p90':>14s}")
    for p in PATHS:
        t = tallies[p]
        if not t.n_all:
            continue
        p90 = float(np.percentile(t.ms, 90))
        print(f"{p:5s} {wilson(t.qr, t.n_view):>24s} {wilson(t.mrz, t.n_view):>24s} "
              f"{wilson(t.both, t.n_view):>24s} {wilson(t.wrong, t.n_all):>22s} ({t.wrong_names})"
              f" {statistics.median(t.ms):6.0f}/{p90:.0f}")
    print("  on frames whose codes are in view (every QR inside the frame and uncovered; 'both': the"
          " MRZ too):")
    for p in PATHS:
        t = tallies[p]
        if t.n_all:
            print(f"  {p:5s} QR read {wilson(t.qr_in_view, t.n_qr_view)} of {t.n_qr_view},"
                  f" both {wilson(t.both_in_view, t.n_both_view)} of {t.n_both_view}")
    t = tallies["flat"]
    print(f"  the reader on the flat card (no photo, as rendered): MRZ read {wilson(t.mrz, t.n_view)},"
          f" wrong {t.wrong} (names only {t.wrong_names})")
    n_flat = tallies["flat"].found
    print(f"  where the flat card reads right: (a) {wilson(tallies['a'].found_flat, n_flat)},"
          f" (b) {wilson(tallies['b'].found_flat, n_flat)}")
    print(f"  (b) band located on {tallies['b'].found} of {tallies['b'].n_view} frames with the MRZ in view")
    for key, what in (("find", "find_mrz_band alone"), ("read", "read_mrz_in_frame (find + read)")):
        ms = tallies[key].ms
        print(f"  {what}: {statistics.median(ms):.0f} ms median, {float(np.percentile(ms, 90)):.0f} p90,"
              f" {max(ms):.0f} max")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=30, help="frames per font group")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--fonts", default="ocrb,ocrb_sharp,mono")
    ap.add_argument("-v", action="store_true", help="one line per frame")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    fonts = args.fonts.split(",")
    groups = {"OCR-B (regular and sharp cut)": [f for f in fonts if f != "mono"],
              "DejaVu Sans Mono (hard case)": [f for f in fonts if f == "mono"]}
    for title, keys in groups.items():
        if not keys:
            continue
        tallies = {p: Tally() for p in (*PATHS, "flat", "find", "read")}
        for i in range(args.n):
            seed = args.first_seed + i
            f = other_frame(seed, keys[i % len(keys)])
            line = run_one(f, tallies)
            if args.v:
                print(f"  {seed:4d} {line}", flush=True)
        report(f"{title}: {args.n} frames, seeds {args.first_seed}-{args.first_seed + args.n - 1}, "
               f"MRZ in view on {tallies['a'].n_view}", tallies)


if __name__ == "__main__":
    main()
