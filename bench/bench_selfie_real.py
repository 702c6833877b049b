"""The single-frame selfie verdict on REAL face photos: the current one beside the frozen v1.

    .venv/bin/python bench/bench_selfie_real.py

For every still of bench/realsets/faces.json, `assess_selfie(rgb)` from
`kiosk.vision.selfie_quality` (as it is when the bench runs) and from
`bench/baselines/liveness_v1.py` (2026-12-06) is compared with the label set by eye (good, or
bad with reasons). Reported separately for the tuning and held-out parts: agreement with a
Wilson 95 % interval, the confusion (label x verdict), bad photos refused per reason, the
same without the borderline photos, and ms per photo. Never tune on the held-out part.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench.baselines.liveness_v1 as v1
from bench.bench_card_finder import wilson
from bench.realsets.faces import FaceStill, load_stills
from kiosk.vision import selfie_quality as current


def pct(k: int, n: int) -> str:
    if n == 0:
        return "-"
    lo, hi = wilson(k, n)
    return f"{k}/{n} {100 * k / n:.1f}% [{100 * lo:.1f}-{100 * hi:.1f}]"


def verdicts(mod: ModuleType, stills: list[FaceStill], rgbs: list) -> tuple[list[bool], float]:
    out = []
    t0 = time.perf_counter()
    for rgb in rgbs:
        out.append(bool(mod.assess_selfie(rgb).ok))
    return out, 1000 * (time.perf_counter() - t0) / max(len(rgbs), 1)


def report(name: str, stills: list[FaceStill], ok: list[bool]) -> None:
    for part, keep in (("tuning", False), ("held-out", True)):
        for tag, skip_bl in (("all", False), ("no borderline", True)):
            idx = [i for i, s in enumerate(stills) if s.held_out == keep and not (skip_bl and s.borderline)]
            agree = sum((stills[i].label == "good") == ok[i] for i in idx)
            conf: dict[tuple[str, str], int] = defaultdict(int)
            for i in idx:
                conf[(stills[i].label, "ok" if ok[i] else "refused")] += 1
            print(f"  {name:<8} {part:<9} {tag:<14} agreement {pct(agree, len(idx)):<28} "
                  f"good->ok {conf[('good', 'ok')]}, good->refused {conf[('good', 'refused')]}, "
                  f"bad->ok {conf[('bad', 'ok')]}, bad->refused {conf[('bad', 'refused')]}")
        per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for i, s in enumerate(stills):
            if s.held_out == keep and s.label == "bad":
                for r in s.reasons:
                    per[r][1] += 1
                    per[r][0] += int(not ok[i])
        print(f"  {name:<8} {part:<9} bad refused per reason: "
              + ", ".join(f"{r} {pct(k, n)}" for r, (k, n) in sorted(per.items())))


def main() -> int:
    try:
        stills = list(load_stills())
    except FileNotFoundError as exc:
        print(f"bench_selfie_real: {exc}", file=sys.stderr)
        return 2
    rgbs = [s.rgb() for s in stills]
    n_good = sum(s.label == "good" for s in stills)
    print(f"{len(stills)} stills: good {n_good}, bad {len(stills) - n_good}, "
          f"held out {sum(s.held_out for s in stills)}, borderline {sum(s.borderline for s in stills)}")
    for name, mod in (("current", current), ("v1", v1)):
        ok, ms = verdicts(mod, stills, rgbs)
        report(name, stills, ok)
        print(f"  {name:<8} ms per photo {ms:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
