"""Liveness challenges on REAL face clips: the current checker beside the frozen v1.

    .venv/bin/python bench/bench_liveness_real.py                 (clip rate, 15 and 10 fps)
    .venv/bin/python bench/bench_liveness_real.py --fps native    (one rate only)

For every labelled segment of bench/realsets/faces.json and every challenge, a fresh checker
(`LivenessChecker(challenge, config)`, config given `fps` when the class has that field) is
fed the segment's frames with `checker.update(frame, t)`; the challenge counts as accepted
when any state says PASSED. Reported per challenge, per part (tuning / held-out), per rate:

- genuine passed: segment action == challenge (live clips);
- wrong accepted: action != challenge, "none" included (live clips);
- attacks accepted: photo/screen clips, every challenge;

each with a Wilson 95 % interval, and ms per frame. Both checkers run in the same process:
`kiosk.vision.liveness` as it is when the bench runs, and `bench/baselines/liveness_v1.py`
(the Haar-cascade checker of 2026-12-06). The segments' labels were fixed by eye before any
checker ran on them; never tune on the held-out part (bench/realsets/README.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench.baselines.liveness_v1 as v1
from bench.bench_card_finder import wilson
from bench.realsets.faces import ACTIONS, FaceClip, Segment, load_clips
from kiosk.vision import liveness as current

CHALLENGES = ("blink", "turn_left", "turn_right")


@dataclass
class Count:
    k: int = 0
    n: int = 0

    def add(self, hit: bool) -> None:
        self.n += 1
        self.k += int(hit)

    def text(self) -> str:
        if self.n == 0:
            return "     -       "
        lo, hi = wilson(self.k, self.n)
        return f"{self.k:>3}/{self.n:<3} {100 * self.k / self.n:5.1f}% [{100 * lo:4.1f}-{100 * hi:5.1f}]"


@dataclass
class Timing:
    seconds: float = 0.0
    frames: int = 0

    def ms(self) -> float:
        return 1000 * self.seconds / max(self.frames, 1)


def make_checker(mod: ModuleType, challenge: str, fps: float) -> Any:
    cfg_cls = mod.LivenessConfig
    names = {f.name for f in dataclasses.fields(cfg_cls)}
    cfg = cfg_cls(fps=fps) if "fps" in names else cfg_cls()
    return mod.LivenessChecker(mod.Challenge(challenge), cfg)


def run(mod: ModuleType, challenge: str, frames: list, fps: float, timing: Timing) -> bool:
    """Feed the frames to a fresh checker; True when it ever says PASSED."""
    checker = make_checker(mod, challenge, fps)
    passed = mod.Verdict.PASSED
    for frame, t in frames:
        t0 = time.perf_counter()
        st = checker.update(frame, t)
        timing.seconds += time.perf_counter() - t0
        timing.frames += 1
        if st.verdict == passed:
            return True
        if st.verdict != mod.Verdict.PENDING:
            return False
    return False


def rates_for(arg: str) -> list[str]:
    return ["native", "15", "10"] if arg == "all" else [arg]


def bench(clips: list[FaceClip], rates: list[str], impls: dict[str, ModuleType],
          parts: tuple[str, ...] = ("tuning", "held-out")) -> None:
    # tallies[impl][rate][part][challenge][measure]
    def level(inner: Any) -> Any:
        return lambda: defaultdict(inner)

    tallies: dict = defaultdict(level(level(level(level(Count)))))
    timings: dict = defaultdict(lambda: defaultdict(Timing))
    outcomes: list[tuple[str, str, Segment, str, str, bool]] = []
    for clip in clips:
        segments = [s for s in clip.segments if ("held-out" if s.held_out else "tuning") in parts]
        if not segments:
            continue
        frames = clip.frames()
        for seg in segments:
            part = "held-out" if seg.held_out else "tuning"
            for rate in rates:
                fps = clip.fps if rate == "native" else min(float(rate), clip.fps)
                cut = clip.cut(frames, seg, None if rate == "native" else float(rate))
                for ch in CHALLENGES:
                    for name, mod in impls.items():
                        hit = run(mod, ch, cut, fps, timings[name][rate])
                        if clip.attack:
                            measure = "attack accepted"
                        elif seg.action == ch:
                            measure = "genuine passed"
                        else:
                            measure = "wrong accepted"
                        tallies[name][rate][part][ch][measure].add(hit)
                        tallies[name][rate][part]["all"][measure].add(hit)
                        outcomes.append((name, rate, seg, ch, measure, hit))
        print(f"  {clip.id}: {len(clip.segments)} segments", file=sys.stderr, flush=True)
    measures = ("genuine passed", "wrong accepted", "attack accepted")
    for rate in rates:
        print(f"\n=== frames at {'the clip rate' if rate == 'native' else rate + ' fps'} ===")
        for part in parts:
            print(f"\n-- {part} part --")
            print(f"{'challenge':<11} {'checker':<8} " + " ".join(f"{m:<29}" for m in measures))
            for ch in (*CHALLENGES, "all"):
                for name in impls:
                    row = tallies[name][rate][part][ch]
                    print(f"{ch:<11} {name:<8} " + " ".join(f"{row[m].text():<29}" for m in measures))
        print("\nms per frame: " + ", ".join(f"{name} {timings[name][rate].ms():.1f}" for name in impls))
    print(f"\nAccepted where it should not be, or refused a genuine one (tuning part only, {rates[0]}):")
    for name, rate, seg, ch, measure, hit in outcomes:
        bad = hit if measure != "genuine passed" else not hit
        if bad and not seg.held_out and rate == rates[0]:
            print(f"  {name:<8} {seg.clip:<11} {seg.start_s:5.2f}-{seg.end_s:5.2f} {seg.action:<10} "
                  f"challenge {ch:<10} {measure}{'' if hit else ' (refused)'}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--fps", default="all", choices=["all", "native", "15", "10"])
    ap.add_argument("--only", default=None, help="run only this checker: current or v1")
    ap.add_argument("--part", default="both", choices=["both", "tuning", "held-out"],
                    help="tune on 'tuning' only; report 'both' (default)")
    args = ap.parse_args(argv)
    try:
        clips = load_clips()
    except FileNotFoundError as exc:
        print(f"bench_liveness_real: {exc}", file=sys.stderr)
        return 2
    impls = {"current": current, "v1": v1}
    if args.only:
        impls = {args.only: impls[args.only]}
    segs = [s for c in clips for s in c.segments]
    live = [s for c in clips if not c.attack for s in c.segments]
    print(f"{len(clips)} clips ({clips.missing} missing), {len(segs)} segments: "
          + ", ".join(f"{a} {sum(s.action == a for s in live)}" for a in ACTIONS)
          + f", attack {len(segs) - len(live)}; held out {sum(s.held_out for s in segs)}")
    parts = ("tuning", "held-out") if args.part == "both" else (args.part,)
    bench(list(clips), rates_for(args.fps), impls, parts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
