"""`fieldkit-testdata`: synthetic roll and voter cards for tests and the demo.

    fieldkit-testdata roll  --out roll.csv -n N [--seed S] [--json]
    fieldkit-testdata cards --roll roll.csv --out DIR -n N [--variants] [--seed S] [--jobs J] [--json]
    fieldkit-testdata selfies --out DIR -n N [--kinds K,...] [--seed S] [--json]
    fieldkit-testdata signatures --out DIR -n N [--no-pressure] [--seed S] [--json]

Every image is marked MUESTRA; nothing here is a real card or person.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from kiosk.testdata.roll import Citizen, generate_roll, read_roll, write_roll


def _write_png(path: Path, rgb: np.ndarray) -> None:
    # Level 1: these are test fixtures, write speed matters more than size.
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise OSError(f"no se pudo escribir {path}")


def _write_jpg(path: Path, rgb: np.ndarray) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92]):
        raise OSError(f"no se pudo escribir {path}")


def card_id(c: Citizen) -> str:
    return f"muestra-{c.cic}"


def write_card(args: tuple[Citizen, Path, int, bool]) -> int:
    """Render one citizen's card into out/<card id>/; returns the number of variants."""
    from kiosk.testdata.cards import render_card, truth_of
    from kiosk.testdata.variants import LABELS, make_variants

    c, out, seed, variants = args
    card = render_card(c, seed)
    d = out / card_id(c)
    d.mkdir(parents=True, exist_ok=True)
    _write_png(d / "front.png", card.front)
    _write_png(d / "back.png", card.back)
    truth = truth_of(card, card_id(c))
    if variants and c.modelo not in ("C", "D"):
        # The same citizen on an older IFE card: the "no QR" and "old model" negatives.
        old = render_card(replace(c, modelo="C"), seed)
        vs = make_variants(card.front, card.back, seed * 1_000_003 + int(c.cic),
                           old_front=old.front, old_back=old.back)
        (d / "variants").mkdir(exist_ok=True)
        for v in vs:
            rel = f"variants/{v.name}.jpg"
            _write_jpg(d / rel, v.image)
            truth["variants"].append(v.truth(rel))
        truth["variant_labels"] = list(LABELS)
    (d / "truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
    return len(truth["variants"])


def cmd_roll(ns: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    n = write_roll(Path(ns.out), generate_roll(ns.n, ns.seed))
    summary = {"rows": n, "out": str(ns.out), "seed": ns.seed, "seconds": round(time.perf_counter() - t0, 3)}
    print(json.dumps(summary) if ns.json else f"{n} registros escritos en {ns.out} (semilla {ns.seed})")
    return 0


def cmd_cards(ns: argparse.Namespace) -> int:
    roll_path = Path(ns.roll)
    try:
        citizens = read_roll(roll_path)
    except FileNotFoundError:
        print(f"fieldkit-testdata: no existe el padrón {roll_path}", file=sys.stderr)
        return 2
    except (KeyError, TypeError, ValueError) as e:
        print(f"fieldkit-testdata: {roll_path} no es un padrón sintético válido ({e})", file=sys.stderr)
        return 2
    chosen = citizens[: ns.n]
    if len(chosen) < ns.n:
        print(f"fieldkit-testdata: el padrón tiene {len(citizens)} registros, se pidieron {ns.n}",
              file=sys.stderr)
        return 2
    out = Path(ns.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    jobs = [(c, out, ns.seed, ns.variants) for c in chosen]
    workers = max(1, min(ns.jobs or os.cpu_count() or 1, len(jobs)))
    if workers == 1:
        counts = [write_card(j) for j in jobs]
    else:
        with ProcessPoolExecutor(workers) as pool:
            counts = list(pool.map(write_card, jobs, chunksize=4))
    secs = time.perf_counter() - t0
    summary = {"cards": len(chosen), "variants": sum(counts), "out": str(out), "seed": ns.seed,
               "seconds": round(secs, 3), "workers": workers}
    if ns.json:
        print(json.dumps(summary))
    else:
        print(f"{len(chosen)} credenciales ({sum(counts)} variantes) en {out} en {secs:.1f} s")
    return 0


def cmd_selfies(ns: argparse.Namespace) -> int:
    from kiosk.testdata.selfies import KINDS, write_selfies

    kinds = tuple(k.strip() for k in ns.kinds.split(",") if k.strip())
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        print(f"fieldkit-testdata: tipo de secuencia desconocido {bad}; se admiten {', '.join(KINDS)}",
              file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    entries = write_selfies(Path(ns.out), ns.n, ns.seed, kinds)
    secs = time.perf_counter() - t0
    if ns.json:
        print(json.dumps({"selfies": len(entries), "sequences": len(entries) * len(kinds), "out": ns.out,
                          "seed": ns.seed, "items": entries, "seconds": round(secs, 3)}))
    else:
        print(f"{len(entries)} fotos del rostro y {len(entries) * len(kinds)} secuencias en {ns.out} "
              f"en {secs:.1f} s")
    return 0


def cmd_signatures(ns: argparse.Namespace) -> int:
    from kiosk.testdata.signatures import write_signatures

    t0 = time.perf_counter()
    names = write_signatures(Path(ns.out), ns.n, ns.seed, pressure=not ns.no_pressure)
    secs = time.perf_counter() - t0
    if ns.json:
        print(json.dumps({"signatures": len(names), "out": ns.out, "seed": ns.seed, "files": names,
                          "seconds": round(secs, 3)}))
    else:
        print(f"{len(names)} firmas en {ns.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fieldkit-testdata",
                                description="Datos sintéticos (MUESTRA) para pruebas.")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("roll", help="padrón / lista nominal sintética (CSV)")
    r.add_argument("--out", required=True)
    r.add_argument("-n", type=int, default=1000)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--json", action="store_true", help="resumen en JSON (docs/cli.md)")
    r.set_defaults(func=cmd_roll)
    c = sub.add_parser("cards", help="credenciales sintéticas: front.png, back.png, truth.json")
    c.add_argument("--roll", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("-n", type=int, default=10)
    c.add_argument("--variants", action="store_true",
                   help="también fotos simuladas: genuine, photocopy, screen, print, no_qr, old_model")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--jobs", type=int, default=0, help="procesos (por omisión, uno por núcleo)")
    c.add_argument("--json", action="store_true", help="resumen en JSON (docs/cli.md)")
    c.set_defaults(func=cmd_cards)
    se = sub.add_parser("selfies", help="fotos del rostro y secuencias de cuadros para la prueba de vida")
    se.add_argument("--out", required=True)
    se.add_argument("-n", type=int, default=3)
    se.add_argument("--kinds", default="live",
                    help="secuencias por foto, separadas por comas: "
                    "live, wrong_action, static, moved, tilted")
    se.add_argument("--seed", type=int, default=0)
    se.add_argument("--json", action="store_true", help="resumen en JSON (docs/cli.md)")
    se.set_defaults(func=cmd_selfies)
    sg = sub.add_parser("signatures", help="firmas sintéticas: archivos de trazos JSON")
    sg.add_argument("--out", required=True)
    sg.add_argument("-n", type=int, default=3)
    sg.add_argument("--no-pressure", action="store_true", help="sin presión (como un dedo o un ratón)")
    sg.add_argument("--seed", type=int, default=0)
    sg.add_argument("--json", action="store_true", help="resumen en JSON (docs/cli.md)")
    sg.set_defaults(func=cmd_signatures)
    return p


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    if getattr(ns, "n", 1) < 1:
        print("fieldkit-testdata: -n debe ser al menos 1", file=sys.stderr)
        return 2
    return ns.func(ns)


if __name__ == "__main__":
    sys.exit(main())
