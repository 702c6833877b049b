"""Liveness decision logic on synthetic selfie sequences: FAR / FRR and timing.

    .venv/bin/python bench/bench_liveness.py [N_PER_CELL] [--jobs J]

For each challenge (turn_left, turn_right, blink) and each kind of sequence
(live: performs the challenge; static / moved / tilted photo; wrong_action:
a live face doing another action) builds N sequences from scikit-image's
`astronaut` photo at 1280x720, 15 fps, 4 s, and runs a fresh LivenessChecker.

These sequences come from ONE still photo: they test the decision logic, not
real-world liveness (docs/liveness.md has the webcam procedure).
"""

from __future__ import annotations

import collections
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kiosk.vision.liveness import LivenessChecker, Verdict
from tests.helpers.capture2 import make_sequence

CHALLENGES = ("turn_left", "turn_right", "blink")
KINDS = ("live", "static", "moved", "tilted", "pitched", "wrong_action")


def one(args: tuple[str, str, int]) -> tuple[str, str, bool, int, float]:
    kind, ch, seed = args
    seq = make_sequence(kind, ch, seed, size=(1280, 720))
    checker = LivenessChecker(ch)
    t = time.perf_counter()
    n = 0
    st = None
    for frame, ts in seq:
        st = checker.update(frame, ts)
        n += 1
        if st.done:
            break
    dt = time.perf_counter() - t
    return kind, ch, bool(st and st.verdict == Verdict.PASSED), n, dt


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 14
    jobs = int(sys.argv[sys.argv.index("--jobs") + 1]) if "--jobs" in sys.argv else 2
    work = [(k, c, s) for c in CHALLENGES for k in KINDS for s in range(1000, 1000 + n)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(jobs) as ex:
        results = list(ex.map(one, work, chunksize=2))
    passed = collections.Counter()
    total = collections.Counter()
    frames = 0
    secs = 0.0
    per_challenge = collections.defaultdict(list)
    for kind, ch, ok, nf, dt in results:
        total[(ch, kind)] += 1
        passed[(ch, kind)] += ok
        frames += nf
        secs += dt
        per_challenge[ch].append(dt)
    wall = time.perf_counter() - t0
    print(f"{len(results)} sequences ({n} per cell), 1280x720, 15 fps, 4 s; wall {wall:.0f} s")
    print("SYNTHETIC sequences from one still photo: these figures test the decision logic only.\n")
    print(f"{'challenge':12s}" + "".join(f"{k:>14s}" for k in KINDS) + "   (passed / total)")
    for c in CHALLENGES:
        print(f"{c:12s}" + "".join(f"{passed[(c, k)]:>9d}/{total[(c, k)]:<4d}" for k in KINDS))
    live = sum(total[(c, "live")] for c in CHALLENGES)
    frr = sum(total[(c, "live")] - passed[(c, "live")] for c in CHALLENGES) / live
    neg = sum(total[(c, k)] for c in CHALLENGES for k in KINDS if k != "live")
    far = sum(passed[(c, k)] for c in CHALLENGES for k in KINDS if k != "live") / neg
    print(f"\nFRR (live sequences rejected): {frr:.1%} of {live}")
    print(f"FAR (attacks / wrong actions accepted): {far:.1%} of {neg}")
    for k in KINDS[1:]:
        tk = sum(total[(c, k)] for c in CHALLENGES)
        pk = sum(passed[(c, k)] for c in CHALLENGES)
        print(f"   {k:13s} accepted {pk}/{tk} = {pk / tk:.1%}")
    print(f"\ndecision time per frame (detect + measure + decide, 1280x720): {secs / frames * 1000:.1f} ms")
    for c in CHALLENGES:
        ts = sorted(per_challenge[c])
        med = ts[len(ts) // 2] * 1000
        print(f"   per {c} challenge (whole sequence until verdict or end): median {med:.0f} ms")


if __name__ == "__main__":
    main()
