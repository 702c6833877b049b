""""Guardar" latency (figures, not tests): `kiosk.capture.save.save_draft` on full drafts from
generated cards (front, back, face crop, selfie, signature), into a real SQLCipher outbox.

Two kinds of draft, alternating in one process:
- as the kiosk's flow holds them: the back's integrity and the selfie's quality were
  measured on the capture worker thread when each picture was taken;
- baseline: the same drafts without those measurements, so save measures them itself
  (what every save did before they moved to capture time).
Also the parts: JPEG encoding of the five images and the outbox put (serialise + seal + commit).

    .venv/bin/python bench/bench_save.py [--saves 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kiosk.capture.save import SaveContext, build_record, save_draft
from tests.helpers.kiosk import make_draft, provision


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[round(q * (len(s) - 1))] * 1000


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="save_draft latency")
    p.add_argument("--saves", type=int, default=30)
    a = p.parse_args(argv)
    dev = provision(Path(tempfile.mkdtemp(prefix="bench-save-")))
    ctx = SaveContext.from_config(dev.config)
    drafts = [make_draft(i % 8 + 1) for i in range(8)]
    save_draft(drafts[0], ctx)  # warm-up: cascades loaded, outbox open
    times: dict[str, list[float]] = {"measured at capture": [], "baseline (measured at save)": []}
    build: list[float] = []
    for i in range(a.saves):
        d = drafts[i % len(drafts)]
        bare = replace(d, back_integrity=None, selfie_quality=None)
        for name, draft in (("measured at capture", d), ("baseline (measured at save)", bare)):
            t = time.perf_counter()
            save_draft(draft, ctx)
            times[name].append(time.perf_counter() - t)
        t = time.perf_counter()
        build_record(d, ctx)  # images encoded, checks gathered; no seal, no commit
        build.append(time.perf_counter() - t)
    for name, xs in times.items():
        print(f"save_draft {name:28s}: p50 {pct(xs, 0.5):6.1f} ms  p95 {pct(xs, 0.95):6.1f} ms"
              f"  (n={len(xs)})")
    fast, base = times["measured at capture"], times["baseline (measured at save)"]
    print(f"ratio baseline / flow p50: x{statistics.median(base) / statistics.median(fast):.1f}")
    put = statistics.median(fast) - statistics.median(build)
    print(f"of which build_record (JPEG x5 + checks) p50 {pct(build, 0.5):.1f} ms, "
          f"seal + commit ~{put * 1000:.1f} ms")
    print(f"outbox: {ctx.counts().pending} pending")
    ctx.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
