"""Synthetic stylus signatures and the signature stroke file format.

A signature file is UTF-8 JSON (what `fieldkit-kiosk capture --signature`
reads and `fieldkit-testdata signatures` writes):

    {"width": 600, "height": 200, "has_pressure": true,
     "strokes": [[{"x": 12.5, "y": 80.0, "t_ms": 0, "pressure": 0.41}, ...], ...]}

`x`, `y` in pad pixels (0 <= x <= width, 0 <= y <= height), `t_ms` in ms since
the signature's first point (non-decreasing), `pressure` 0..1 or null when the
input had none. It maps one to one onto `sync.wire.record.Signature`.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

from sync.wire.record import Point, Signature

PAD_W, PAD_H = 600, 200
SAMPLE_MS = 8              # a stylus digitizer reports at ~125 Hz


class SignatureFileError(ValueError):
    """The file is not a signature stroke file (message in Spanish)."""


def make_signature(seed: int, width: int = PAD_W, height: int = PAD_H, pressure: bool = True) -> Signature:
    """A plausible handwritten signature: 2-4 strokes of cursive loops drifting right, then an
    underline. Deterministic for a seed."""
    rng = random.Random(f"firma:{seed}")
    strokes: list[tuple[Point, ...]] = []
    t = 0
    x = rng.uniform(0.06, 0.12) * width
    n_words = rng.randint(2, 3)
    base = rng.uniform(0.45, 0.6) * height
    for _ in range(n_words):
        n = rng.randint(60, 110)
        amp = rng.uniform(0.12, 0.25) * height
        loops = rng.uniform(3.0, 6.0)
        advance = rng.uniform(0.18, 0.28) * width
        slant = rng.uniform(0.1, 0.35)
        phase = rng.uniform(0, math.tau)
        pts = []
        for i in range(n):
            u = i / (n - 1)
            yy = base - amp * math.sin(math.tau * loops * u + phase) * (0.6 + 0.4 * math.sin(math.pi * u))
            xx = x + advance * u + amp * 0.35 * math.cos(math.tau * loops * u + phase) + slant * (base - yy)
            p = 0.35 + 0.45 * math.sin(math.pi * u) + rng.uniform(-0.05, 0.05) if pressure else None
            pts.append(Point(_clip(xx, width), _clip(yy, height), t, None if p is None else _unit(p)))
            t += SAMPLE_MS + rng.randint(-2, 2)
        strokes.append(tuple(pts))
        x += advance + rng.uniform(0.02, 0.05) * width
        t += rng.randint(120, 300)  # pen lifted
    # The underline flourish.
    x0, x1 = rng.uniform(0.05, 0.15) * width, min(x, 0.95 * width)
    y0 = min(base + rng.uniform(0.2, 0.3) * height, 0.95 * height)
    n = rng.randint(25, 40)
    pts = []
    for i in range(n):
        u = i / (n - 1)
        p = 0.6 - 0.4 * u if pressure else None
        pts.append(Point(_clip(x0 + (x1 - x0) * u, width), _clip(y0 - 6 * math.sin(math.pi * u), height), t,
                         None if p is None else _unit(p)))
        t += SAMPLE_MS // 2 + 1
    strokes.append(tuple(pts))
    return Signature(width, height, tuple(strokes), has_pressure=pressure)


def _clip(v: float, hi: float) -> float:
    return round(min(max(v, 0.0), float(hi)), 1)


def _unit(v: float) -> float:
    return round(min(max(v, 0.0), 1.0), 3)


def signature_to_json(sig: Signature) -> dict[str, Any]:
    return {"width": sig.width, "height": sig.height, "has_pressure": sig.has_pressure,
            "strokes": [[{"x": p.x, "y": p.y, "t_ms": p.t_ms, "pressure": p.pressure} for p in st]
                        for st in sig.strokes]}


def signature_from_json(data: Any) -> Signature:
    """Parse and check a signature object; SignatureFileError (Spanish) when malformed."""
    try:
        w, h = int(data["width"]), int(data["height"])
        strokes_in = data["strokes"]
        if w <= 0 or h <= 0 or not isinstance(strokes_in, list):
            raise ValueError("tamaño del recuadro o trazos no válidos")
        has_pressure = bool(data.get("has_pressure", False))
        strokes = []
        last_t = 0
        for st in strokes_in:
            pts = []
            for q in st:
                x, y, t = float(q["x"]), float(q["y"]), int(q["t_ms"])
                pr = q.get("pressure")
                if not (0 <= x <= w and 0 <= y <= h):
                    raise ValueError(f"punto ({x}, {y}) fuera del recuadro {w}x{h}")
                if t < last_t:
                    raise ValueError("los tiempos t_ms deben ir en aumento")
                if pr is not None and not 0 <= float(pr) <= 1:
                    raise ValueError("la presión debe estar entre 0 y 1")
                last_t = t
                pts.append(Point(x, y, t, None if pr is None else float(pr)))
            if pts:
                strokes.append(tuple(pts))
    except (KeyError, TypeError, ValueError) as e:
        raise SignatureFileError(f"archivo de firma no válido: {e}") from None
    return Signature(w, h, tuple(strokes), has_pressure=has_pressure)


def read_signature_file(path: str | Path) -> Signature:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SignatureFileError(f"no existe el archivo de firma {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SignatureFileError(f"no se pudo leer la firma {path}: {e}") from None
    return signature_from_json(data)


def write_signatures(out: Path, n: int, seed: int = 0, pressure: bool = True) -> list[str]:
    """`out/signature-<i>.json` for i < n; returns the file names."""
    out.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        name = f"signature-{i:03d}.json"
        sig = make_signature(seed + i, pressure=pressure)
        (out / name).write_text(json.dumps(signature_to_json(sig)), encoding="utf-8")
        names.append(name)
    return names
