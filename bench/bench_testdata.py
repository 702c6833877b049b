"""How long synthetic cards take: flat cards, and cards with all variants.

    .venv/bin/python bench/bench_testdata.py [N]

Prints ms per card for rendering alone (one process) and the wall time of
`fieldkit-testdata cards` with and without --variants (all cores).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kiosk.testdata.cards import render_card
from kiosk.testdata.roll import generate_roll
from kiosk.testdata.variants import make_variants


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    citizens = list(generate_roll(n, 1))
    t = time.perf_counter()
    cards = [render_card(c, 1) for c in citizens[:20]]
    render_ms = (time.perf_counter() - t) / 20 * 1000
    t = time.perf_counter()
    for i, card in enumerate(cards[:10]):
        make_variants(card.front, card.back, i, card.front, card.back)
    variants_ms = (time.perf_counter() - t) / 10 * 1000
    print(f"render front+back: {render_ms:.0f} ms/card; variants: {variants_ms:.0f} ms/card (one process)")
    binary = Path(sys.executable).parent / "fieldkit-testdata"
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([str(binary), "roll", "--out", f"{d}/roll.csv", "-n", str(n)], check=True,
                       capture_output=True)
        for extra in ([], ["--variants"]):
            cmd = [str(binary), "cards", "--roll", f"{d}/roll.csv", "--out", f"{d}/c{len(extra)}",
                   "-n", str(n), "--json", *extra]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True)
            s = json.loads(out.stdout)
            print(f"fieldkit-testdata cards -n {n} {' '.join(extra) or '(flat)'}: {s['seconds']:.1f} s "
                  f"({s['seconds'] / n * 1000:.0f} ms/card, {s['variants']} variants, {s['workers']} workers)"
                  f" -> 1,000 cards ≈ {s['seconds'] / n * 1000:.0f} s")


if __name__ == "__main__":
    main()
