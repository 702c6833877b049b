"""Self-consistency: clean generated cards of every model (E-H) through `fieldkit-kiosk capture`'s
reading path (`kiosk.cli.capture.read_card`: the kiosk's reading path, checks and integrity
policy), acceptance per model and the failures' reasons.

    .venv/bin/python bench/bench_self_consistency.py [N] [--bases B1,B2,...] [--jobs J] [--photos]

N cards (default 40; the full run is 300 or more) spread over the seed bases (default
0,10000,20000: card i is seed bases[i % len] + i // len, model E, F, G, H in turn), each judged in
a year it is valid (an expired card is refused, rightly). The files are what
`fieldkit-testdata cards` writes (straightened fronts and backs); `--photos` also photographs
each side clean on a table (`kiosk.testdata.variants.photograph`, no effects) and reads those.

Baseline, on the same cards in the same process: capture's path before the reading path
(the outline if one was found inside the image, else the whole image when it had ID-1
proportions; one picture, no other path tried).
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from kiosk.capture.save import back_refusal
from kiosk.cardread.credential import read_view
from kiosk.cardread.reading import CardView
from kiosk.cli.capture import Refused, read_card
from kiosk.testdata import variants as V
from kiosk.testdata.cards import sample_card
from kiosk.vision.card import ID1_ASPECT, CardFind, find_card, straighten

MODELS = "EFGH"


def baseline(back: np.ndarray, year: int) -> str | None:
    """The old capture path for the back (`card_corners` then one reading): its refusal or None."""
    found = find_card(back)
    if found is None or found.touches_border:
        h, w = back.shape[:2]
        if abs(w / h - ID1_ASPECT) / ID1_ASPECT >= 0.03:
            return "sin credencial / cortada"
        found = CardFind(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), 1.0, False, 1.0, "archivo")
    view = CardView(found, straighten(back, found.corners), "contorno")
    return back_refusal(read_view(back, view, now_year=year))


def one(args: tuple[int, str, bool]) -> list[tuple[str, str, str, str | None, str | None, float, float]]:
    """(kind, model, path, refusal, baseline refusal, s, baseline s) for one card: its files and,
    with photos, its clean photographs."""
    seed, model, photos = args
    front, back, truth = sample_card(seed, model)
    year = int(truth["citizen"]["vigencia"])
    shots = [("archivo", front, back)]
    if photos:
        rng, nprng = random.Random(f"consistency:{seed}"), np.random.default_rng(seed)
        shots.append(("foto", V.photograph(front, "front", "genuine", "f", rng, nprng, []).image,
                      V.photograph(back, "back", "genuine", "b", rng, nprng, []).image))
    out = []
    for kind, f, b in shots:
        t = time.perf_counter()
        path, why = "", None
        try:
            path = read_card(f, b, year).back.path
        except Refused as e:
            why = str(e)
        dt = time.perf_counter() - t
        t = time.perf_counter()
        old_said = baseline(b, year)
        # A refusal is a Msg (a code and its arguments): its code crosses the process boundary.
        old = None if old_said is None else str(getattr(old_said, "code", old_said))
        out.append((kind, model, path, why, old, dt, time.perf_counter() - t))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=40, help="cards (default 40; the full run: 300+)")
    ap.add_argument("--bases", default="0,10000,20000", help="seed bases, comma-separated")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--photos", action="store_true", help="also clean photographs of each side")
    ns = ap.parse_args()
    n, jobs, photos = ns.n, ns.jobs, ns.photos
    bases = [int(b) for b in ns.bases.split(",")]
    todo = [(bases[i % len(bases)] + i // len(bases), MODELS[i % 4], photos) for i in range(n)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(jobs) as ex:
        rows = [r for rs in ex.map(one, todo) for r in rs]
    wall = time.perf_counter() - t0
    print(f"{n} cards (seed bases {bases}), {len(rows)} readings, wall {wall:.0f} s, {jobs} job(s)\n")
    for kind in ("archivo", "foto"):
        part = [r for r in rows if r[0] == kind]
        if not part:
            continue
        print(f"{kind}: accepted per model (reading path | baseline: capture's old path)")
        for m in MODELS:
            mine = [r for r in part if r[1] == m]
            ok, old = sum(r[3] is None for r in mine), sum(r[4] is None for r in mine)
            print(f"  {m}: {ok}/{len(mine)} = {ok / max(1, len(mine)):.1%}   |   "
                  f"{old}/{len(mine)} = {old / max(1, len(mine)):.1%}")
        ok = sum(r[3] is None for r in part)
        print(f"  all: {ok}/{len(part)} = {ok / len(part):.1%}   |   "
              f"{sum(r[4] is None for r in part) / len(part):.1%}")
        print("  paths: " + ", ".join(f"{p}: {c}" for p, c in collections.Counter(r[2] for r in part
                                                                                   if r[2]).most_common()))
        ms = sorted(r[5] * 1000 for r in part)
        old_ms = sorted(r[6] * 1000 for r in part)
        print(f"  ms per card, median: {ms[len(ms) // 2]:.0f} (both sides, integrity included; baseline, "
              f"the back's one reading: {old_ms[len(old_ms) // 2]:.0f})")
        fails = collections.Counter((r[1], r[3]) for r in part if r[3] is not None)
        for (m, why), c in fails.most_common():
            print(f"  refused {m} x{c}: {why}")
    bad = [(s, m) for (s, m, _), rs in zip(todo, (one_rows(rows, i, photos) for i in range(n)), strict=True)
           if any(r[3] is not None for r in rs)]
    if bad:
        print("\nfailing (seed, model): " + ", ".join(f"({s}, {m})" for s, m in bad))


def one_rows(rows: list[tuple], i: int, photos: bool) -> list[tuple]:
    k = 2 if photos else 1
    return rows[i * k:(i + 1) * k]


if __name__ == "__main__":
    main()
