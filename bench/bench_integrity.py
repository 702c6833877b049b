"""Integrity checks on generated card variants: confusion table, FRR / FAR, ms per card.

    .venv/bin/python bench/bench_integrity.py [N_CARDS] [--jobs J] [--first-seed S]

Cards from `kiosk.testdata` (seeds S .. S+N-1, default 100: disjoint from the
seeds 0-29 the thresholds were looked at on), each with 2 genuine shots per
side and one photocopy, screen and print negative; every frame goes through
JPEG (q 92) and is straightened with its truth corners (1280x720 -> 1024x646).
"""

from __future__ import annotations

import collections
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kiosk.vision.integrity import VERDICTS, check_integrity
from tests.helpers.capture2 import card_samples, straighten

LABELS = ("genuine", "photocopy", "screen", "print")
EXPECT = {"genuine": "ok", "photocopy": "photocopy", "screen": "screen", "print": "print"}


def one(seed: int) -> list[tuple[str, str, str, float]]:
    out = []
    for s in card_samples([seed], LABELS, keep_frames=True):
        t = time.perf_counter()
        r = check_integrity(straighten(s.frame, s.corners))
        dt = time.perf_counter() - t
        out.append((s.label, r.verdict, "+".join(s.effects), dt))
    return out


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 40
    jobs = int(sys.argv[sys.argv.index("--jobs") + 1]) if "--jobs" in sys.argv else 2
    first = int(sys.argv[sys.argv.index("--first-seed") + 1]) if "--first-seed" in sys.argv else 100
    t0 = time.perf_counter()
    with ProcessPoolExecutor(jobs) as ex:
        rows = [r for rs in ex.map(one, range(first, first + n)) for r in rs]
    conf = collections.Counter((lab, v) for lab, v, _, _ in rows)
    total = collections.Counter(lab for lab, *_ in rows)
    wall = time.perf_counter() - t0
    print(f"{n} cards (seeds {first}-{first + n - 1}), {len(rows)} variants, wall {wall:.0f} s\n")
    print(f"{'truth/verdict':16s}" + "".join(f"{v:>11s}" for v in VERDICTS) + f"{'total':>8s}")
    for lab in LABELS:
        print(f"{lab:16s}" + "".join(f"{conf[(lab, v)]:>11d}" for v in VERDICTS) + f"{total[lab]:>8d}")
    frr = 1 - conf[("genuine", "ok")] / total["genuine"]
    print(f"\nfalse reject (genuine not ok): {frr:.1%} of {total['genuine']}  (limit 2 %)")
    for lab in LABELS[1:]:
        far = conf[(lab, "ok")] / total[lab]
        print(f"false accept {lab:10s} (verdict ok): {far:.1%} of {total[lab]}  (limit 5 %)")
    wrong_kind = sum(c for (lab, v), c in conf.items() if lab != "genuine" and v not in ("ok", EXPECT[lab]))
    print(f"rejected with the wrong reason: {wrong_kind}")
    bad = [(lab, v, e) for lab, v, e, _ in rows if v != EXPECT[lab]]
    if bad:
        print("errors:", bad[:20])
    ms = sorted(dt * 1000 for *_, dt in rows)
    print(f"\nstraighten (1280x720 -> 1024x646) + check_integrity: median {ms[len(ms) // 2]:.1f} ms, "
          f"p95 {ms[int(len(ms) * 0.95)]:.1f} ms per card side (one process)")


if __name__ == "__main__":
    main()
