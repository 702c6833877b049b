"""Is the selfie's face the person who passed liveness? The same person against other people.

    .venv/bin/python bench/bench_selfie_binding.py               (real sets, synthetic, timing)
    .venv/bin/python bench/bench_selfie_binding.py --synthetic   (no real material needed)

The kiosk's own code judges each face (`LivenessChecker.likeness`, `LivenessConfig.same_*`):
link (texture against the face followed last), and near the frontal pose base (texture against
the frontal face learnt before the challenge) and shape (rigid points' residual from it); also
shown, not used: the face proportion's change and the eye crops' correlation. Frames at 15/s.

same person    each labelled segment of the live clips (bench/realsets/faces.json) and each
               synthetic live sequence: the frontal face learnt by a checker as in the kiosk,
               then every frame followed by the kiosk's rule (MAX_ODD odd frames in a row
               skipped, one more restarts), over the whole run and over every window of the
               kiosk's length (BIND_WINDOW_S, a start every 5 frames).
other people   (a) live clip pairs A -> B (distinct people, checked by eye on a contact sheet):
               A learnt on its first segment, each frame of B judged as if it replaced A then;
               (b) still pairs serengil/deepface's own tests label different people (its
               tests/unit/dataset CSVs, read from the mirror); (c) the astronaut's mirror image
               after each synthetic sequence. "pairs with a frame accepted": B's best moment.
for scale      make_selfie seeds (the astronaut again: the same person in another photo) and
               deepface's same-person pairs (other photos, other days: not the kiosk's case).

Real figures per part: tuning (thresholds chosen on it; a sweep is printed), then held-out
(reported, never tuned on; bench/realsets/README.md); a pair counts where both members are.
Last, ms per analysed selfie frame: SelfieAnalyser now against the box-overlap-only binding it
replaced (copied below), same frames, same process.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.realsets.binding import (
    CFG,
    DEEPFACE,
    DEEPFACE_CSVS,
    FPS,
    SEEDS,
    Group,
    Judged,
    Person,
    follow,
    judge,
    learn,
    same_person,
    still_obs,
    still_person,
    track,
)
from bench.realsets.faces import load_clips, load_stills
from kiosk.capture.selfie import BIND_IOU, BIND_WINDOW_S, MAX_ODD, SelfieAnalyser
from kiosk.testdata.selfies import CHALLENGES, make_selfie, make_sequence
from kiosk.vision.liveness import (
    Challenge,
    LivenessChecker,
    LivenessConfig,
    Verdict,
    assess_selfie,
)
from kiosk.vision.liveness_measures import (
    FrameObs,
    iou,
    one_face,
)


def quantiles(xs: list[float]) -> str:
    if not xs:
        return f"{0:>6}  " + "      -" * 7
    q = np.percentile(xs, [0, 1, 5, 50, 95, 99, 100])
    return f"{len(xs):>6}  " + " ".join(f"{v:6.3f}" for v in q)


def measures(j: Judged) -> dict[str, float | None]:
    return {"link": j.lk.link, "base": j.lk.base, "shape": j.lk.shape,
            "proportion (not used)": j.proportion, "eyes (not used)": j.eyes}


def print_distributions(groups: list[Group]) -> None:
    print(f"{'measure':<22}{'group':<36}{'n':>6}     min     p1     p5    p50    p95    p99    max")
    for m in ("link", "base", "shape", "proportion (not used)", "eyes (not used)"):
        for g in groups:
            xs = [v for j in g.frames(CFG) if (v := measures(j)[m]) is not None]
            print(f"{m:<22}{g.name:<36}{quantiles(xs)}")


def same_rates(g: Group, cfg: LivenessConfig) -> tuple[int, int, int, int, int, int]:
    """Odd frames / frames; windows of the kiosk's length (BIND_WINDOW_S, a start every 5 frames)
    that restart / windows; runs that restart / runs."""
    n = round(BIND_WINDOW_S * FPS)
    frames = g.frames(cfg)
    odd = sum(not j.lk.same(cfg) for j in frames)
    w = [follow(r, cfg, s, n)[1] for r in g.runs for s in range(0, max(len(r.obs) - n, 0) + 1, 5)]
    runs = [follow(r, cfg)[1] for r in g.runs]
    return odd, len(frames), sum(w), len(w), sum(runs), len(runs)


def rates(g: Group, cfg: LivenessConfig) -> str:
    if g.runs:
        k, n, w, nw, u, nu = same_rates(g, cfg)
        return (f"odd frames {k}/{n} ({100 * k / max(n, 1):.1f} %); restarts: {BIND_WINDOW_S:g}-s "
                f"windows {w}/{nw}, whole runs {u}/{nu}")
    frames = g.frames(cfg)
    if g.same:
        k = sum(not j.lk.same(cfg) for j in frames)
        return f"pairs refused {k}/{len(frames)} ({100 * k / max(len(frames), 1):.1f} %)"
    k = sum(j.lk.same(cfg) for j in frames)
    u = sum(any(j.lk.same(cfg) for j in unit) for unit in g.units)
    return (f"frames accepted {k}/{len(frames)} ({100 * k / max(len(frames), 1):.1f} %), "
            f"pairs with a frame accepted {u}/{len(g.units)}")


def print_rates(groups: list[Group], cfg: LivenessConfig) -> None:
    for g in groups:
        print(f"  {g.name:<36}{rates(g, cfg)}")
    for g in groups[:3]:   # what went wrong, by name (the scale group is expected to fail)
        if g.same:
            wrong = [f"{r.label} (lowest link {min(j.lk.link for j in js):.2f})"
                     for r in g.runs if (js := follow(r, cfg, stop=False)[0]) and follow(r, cfg)[1]]
        else:
            wrong = [f"{lab} (link {max(j.lk.link for j in u):.2f})"
                     for lab, u in zip(g.labels, g.units, strict=True) if any(j.lk.same(cfg) for j in u)]
        if wrong:
            print(f"    {'restarted' if g.same else 'accepted'} ({g.name}): " + "; ".join(wrong))


def sweep(groups: list[Group]) -> None:
    print("\nsweep (tuning part only; one threshold moved, the others as shipped):")
    for name, values in (("same_link", (0.7, 0.75, 0.8, 0.82, 0.85, 0.88, 0.9)),
                         ("same_base", (0.0, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)),
                         ("same_shape", (0.03, 0.035, 0.04, 0.045, 0.05, 0.06, float("inf")))):
        for v in values:
            cfg = replace(CFG, **{name: v})  # type: ignore[arg-type]
            cells = []
            for g in groups:
                if g.same:
                    k, n, w, nw, u, nu = same_rates(g, cfg)
                    cells.append(f"same: odd {k}/{n}, windows {w}/{nw}, runs {u}/{nu}")
                else:
                    acc = sum(any(j.lk.same(cfg) for j in unit) for unit in g.units)
                    cells.append(f"{g.name.split('(')[1][:-1]}: {acc}/{len(g.units)}")
            mark = "  <- shipped" if getattr(CFG, name) == v else ""
            print(f"  {name}={v:<6} " + "   ".join(cells) + mark)


# -- material --------------------------------------------------------------------------------------
def deepface_pairs() -> tuple[set[frozenset[str]], set[frozenset[str]]]:
    """(same-person, different-people) pairs of deepface's test images, by file name, from the
    repository's own labels; groups joined through the same-person pairs."""
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        while parent.setdefault(a, a) != a:
            a = parent[a]
        return a

    rows: list[tuple[str, str, bool]] = []
    for name in DEEPFACE_CSVS:
        text = subprocess.run(["git", "--git-dir", str(DEEPFACE), "show", f"HEAD:{name}"],
                              check=True, capture_output=True, text=True).stdout
        for r in csv.DictReader(io.StringIO(text)):
            x, y = Path(r["file_x"]).name, Path(r["file_y"]).name
            same = (r.get("Decision") or r.get("decision") or "").strip() == "Yes"
            rows.append((x, y, same))
            if same:
                parent[find(x)] = find(y)
    groups: dict[str, set[str]] = defaultdict(set)
    for x, y, _ in rows:
        groups[find(x)].update((x,))
        groups[find(y)].update((y,))
    apart = {frozenset((find(x), find(y))) for x, y, s in rows if not s}
    same_pairs = {frozenset(p) for g in groups.values() for p in itertools.combinations(sorted(g), 2)}
    diff_pairs = {frozenset((a, b)) for ga, gb in map(tuple, apart)
                  for a in groups[ga] for b in groups[gb]}
    return same_pairs, diff_pairs


def real_groups(part_held_out: bool, clips: list, stills: list,
                pairs: tuple[set, set] | None) -> list[Group]:
    same = Group("same person (clip segments)", True)
    other_clips = Group("other people (clip pairs)", False)
    other_stills = Group("other people (still pairs)", False)
    scale = Group("same person, other photos (stills)", True)
    firsts: dict[str, Person] = {}
    frames: dict[str, list[FrameObs]] = {}
    for clip in clips:
        if clip.held_out != part_held_out:
            continue
        raw = clip.frames()
        frames[clip.id] = []
        for k, seg in enumerate(clip.segments):
            obs = track(clip.cut(raw, seg, FPS))
            frames[clip.id] += obs
            run = same_person(f"{clip.id} {seg.start_s:g}-{seg.end_s:g} s {seg.action}", obs)
            if run is not None:
                same.runs.append(run)
            if k == 0 and (got := learn(obs)) is not None:
                firsts[clip.id] = got[0]
    for a, b in itertools.permutations(firsts, 2):
        pa = firsts[a]
        other_clips.add(f"{a} -> {b}", [j for o in frames[b] if (j := judge(pa, o, pa.last)) is not None])
    groups = [same, other_clips]
    if pairs is not None:
        seen = {s.path.name: s for s in stills
                if s.source == "deepface" and s.held_out == part_held_out}
        persons: dict[str, tuple[Person, FrameObs]] = {}
        for name, s in seen.items():
            o = still_obs(s.rgb())
            if o.mesh is not None and (p := still_person(o)) is not None:
                persons[name] = (p, o)
        for group, labelled in ((scale, pairs[0]), (other_stills, pairs[1])):
            for pair in sorted(map(sorted, labelled)):
                if all(n in persons for n in pair):
                    (px, _), (_, oy) = persons[pair[0]], persons[pair[1]]
                    j = judge(px, oy, px.last)
                    if j is not None:
                        group.add(" -> ".join(pair), [j])
        groups += [other_stills, scale]
    return groups


def synthetic_groups() -> list[Group]:
    same = Group("same person (synthetic sequences)", True)
    mirror = Group("other face (astronaut mirrored)", False)
    again = Group("astronaut, another photo (seeds)", False)
    for ch in CHALLENGES:
        for seed in range(SEEDS):
            obs = track(list(make_sequence("live", ch, seed)))
            run = same_person(f"{ch} {seed}", obs)
            if run is not None:
                same.runs.append(run)
            got = learn(obs)
            if got is None:
                continue
            p = got[0]
            for s in range(10, 10 + SEEDS):
                img = make_selfie(s, size=(640, 360))
                for group, shown in ((again, img), (mirror, np.ascontiguousarray(img[:, ::-1]))):
                    j = judge(p, still_obs(shown), p.last)
                    if j is not None:
                        group.add(f"{ch} {seed} / selfie {s}", [j])
    return [same, mirror, again]


# -- timing ----------------------------------------------------------------------------------------
class BoxOnlyAnalyser:
    """The binding before this change, for timing only: after the pass, a face box overlapping
    the previous one by BIND_IOU is the person (no texture read, no judging)."""

    def __init__(self, challenge: Challenge) -> None:
        self.checker = LivenessChecker(challenge, CFG)
        self.box: tuple[int, int, int, int] | None = None

    def __call__(self, image: np.ndarray, t: float) -> bool:
        obs = self.checker.observe(image, t, texture=False)
        q = assess_selfie(image, list(obs.faces))
        st = self.checker.update_obs(obs)
        if st.verdict != Verdict.PASSED or q.face is None:
            return False
        if self.box is None:
            ok = obs.box is not None and one_face(obs.box, q.face)
        else:
            ok = iou(q.face, self.box) >= BIND_IOU
        self.box = q.face if ok else self.box
        return ok and q.ok


def timing() -> None:
    before: list[float] = []
    after: list[float] = []
    for ch in CHALLENGES:
        for seed in range(2):
            seq = list(make_sequence("live", ch, seed, size=(1280, 720)))
            old, new = BoxOnlyAnalyser(Challenge(ch)), SelfieAnalyser(Challenge(ch))
            for f, t in seq:
                for impl, out in ((old, before), (new, after)):
                    t0 = time.perf_counter()
                    impl(f, t)
                    out.append(time.perf_counter() - t0)
    for name, xs in (("box overlap only (before)", before), ("identity followed (now)", after)):
        ms = 1000 * np.array(xs)
        print(f"  {name:<28} median {np.median(ms):5.1f} ms  mean {ms.mean():5.1f}  p95 "
              f"{np.percentile(ms, 95):5.1f}  ({len(ms)} frames, 1280 x 720)")


# -- main ------------------------------------------------------------------------------------------
def report(title: str, groups: list[Group]) -> None:
    print(f"\n=== {title} ===")
    print_distributions(groups)
    print(f"\nat the shipped thresholds (link >= {CFG.same_link}; near frontal, within "
          f"{CFG.same_pose_deg:g} deg: base >= {CFG.same_base}, shape <= {CFG.same_shape}; "
          f"{MAX_ODD} odd frames in a row skipped, one more restarts):")
    print_rates(groups, CFG)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--synthetic", action="store_true", help="synthetic material and timing only")
    args = ap.parse_args()
    report("synthetic (kiosk.testdata.selfies)", synthetic_groups())
    if not args.synthetic:
        try:
            clips = [c for c in load_clips() if not c.attack]
            stills = list(load_stills())
        except FileNotFoundError as e:
            print(f"bench_selfie_binding: {e}", file=sys.stderr)
            return 2
        pairs = deepface_pairs() if DEEPFACE.is_dir() else None
        if pairs is None:
            print(f"(no {DEEPFACE}: the still pairs are left out)")
        tuning = real_groups(False, clips, stills, pairs)
        report("real, tuning part", tuning)
        sweep(tuning[:3])
        report("real, held-out part (reported, never tuned on)", real_groups(True, clips, stills, pairs))
    print("\n=== ms per analysed selfie frame (same frames, same process) ===")
    timing()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
