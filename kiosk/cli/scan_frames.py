"""`fieldkit-kiosk scan --frames DIR`: the integrity check with the tilt evidence, from files.

DIR holds the frames of a short clip of one side of the card tilted a little by hand,
taken with the exposure held, and `sequence.json` (docs/cli.md):

    {"frames": ["000.png", "001.png", ...],     in time order, paths relative to DIR
     "fps": 15,                                 optional, reported only
     "focal_px": 1062.4,                        optional: the camera's focal length in
                                                pixels of these frames (else a 62-degree field)
     "corners": [[[x, y] x 4] per frame]}       optional: the card's outline in each frame
                                                (TL, TR, BR, BL); else the card finder's

The still check runs on the first frame whose card is found; the tilt evidence on every
frame whose card is found (kiosk.vision.integrity_tilt). File reading lives here.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import cv2
import numpy as np

from kiosk.cli.scan import load_rgb
from kiosk.vision.card import CardFind, find_card, straighten
from kiosk.vision.card_verify import order_corners
from kiosk.vision.integrity import check_integrity
from kiosk.vision.integrity_tilt import MIN_FRAMES, TILT_MAX_DEG, tilt_evidence, with_tilt

SEQUENCE = "sequence.json"


MAX_FRAMES = 240           # 16 s at 15 fps: a tilt takes one or two
MAX_PIXELS = 4096 * 3072   # per frame (the Pi HQ sensor is 4056 x 3040)


class SequenceError(ValueError):
    """The folder or its sequence.json cannot be used (the message is one Spanish line)."""


@dataclass
class Clip:
    frames: list[np.ndarray]
    given: list[np.ndarray | None]   # the outline given for each frame, or None
    fps: float | None
    focal: float | None


def _number(v: object, what: str) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not (math.isfinite(v) and v > 0):
        raise SequenceError(f"{SEQUENCE}: «{what}» debe ser un número positivo")
    return float(v)


def _quads(corners: object, n: int, size: tuple[int, int]) -> list[np.ndarray | None]:
    """The given outlines, in TL, TR, BR, BL order, each a convex quadrilateral of some size
    inside the frame (a wrong outline would straighten the table and read as a flat card)."""
    what = f"{SEQUENCE}: «corners» debe dar 4 esquinas [x, y] por cuadro"
    if corners is None:
        return [None] * n
    if not isinstance(corners, list) or len(corners) != n:
        raise SequenceError(what)
    w, h = size
    out: list[np.ndarray | None] = []
    for i, quad in enumerate(corners):
        if not (isinstance(quad, list) and len(quad) == 4 and all(
                isinstance(p, list) and len(p) == 2 and all(
                    isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in p)
                for p in quad)):
            raise SequenceError(what)
        q = order_corners(np.array(quad, np.float32))
        margin = 0.02 * w
        inside = (q[:, 0] >= -margin).all() and (q[:, 0] <= w + margin).all() \
            and (q[:, 1] >= -margin).all() and (q[:, 1] <= h + margin).all()
        if not inside or not cv2.isContourConvex(q) or cv2.contourArea(q) < 0.01 * w * h:
            raise SequenceError(f"{SEQUENCE}: el contorno del cuadro {i + 1} no es el de una credencial "
                                "dentro de la imagen")
        out.append(q)
    return out


def _read_spec(folder: Path) -> dict[str, Any]:
    try:
        text = (folder / SEQUENCE).read_text(encoding="utf-8-sig")  # a BOM from Windows editors
    except FileNotFoundError:
        raise SequenceError(f"falta {SEQUENCE} en la carpeta") from None
    except (OSError, UnicodeDecodeError):
        raise SequenceError(f"no se puede leer {SEQUENCE}") from None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as e:
        raise SequenceError(f"{SEQUENCE} no es JSON válido (línea {e.lineno}, columna {e.colno})") from None
    except RecursionError:
        raise SequenceError(f"{SEQUENCE} no es JSON válido (anidado en exceso)") from None
    if not isinstance(spec, dict):
        raise SequenceError(f"{SEQUENCE}: se esperaba un objeto JSON")
    return spec


def read_sequence(folder: Path) -> Clip:
    """The clip a folder holds; SequenceError (one Spanish line) when it cannot be used."""
    if not folder.is_dir():
        raise SequenceError("no existe la carpeta")
    spec = _read_spec(folder)
    names = spec.get("frames")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise SequenceError(f"{SEQUENCE}: «frames» debe ser una lista de nombres de archivo")
    if len(names) > MAX_FRAMES:
        raise SequenceError(f"{SEQUENCE}: más de {MAX_FRAMES} cuadros")
    root = folder.resolve()
    for n in names:  # the frames are the folder's: no absolute paths, no way out of it
        if Path(n).is_absolute() or not (folder / n).resolve().is_relative_to(root):
            raise SequenceError(f"{SEQUENCE}: «{n}» no está dentro de la carpeta")
    fps, focal = _number(spec.get("fps"), "fps"), _number(spec.get("focal_px"), "focal_px")
    frames: list[np.ndarray] = []
    for n in names:
        try:
            f = load_rgb(folder / n)
        except ValueError as e:
            raise SequenceError(f"{n}: {e}") from None
        if f.shape[0] * f.shape[1] > MAX_PIXELS:
            raise SequenceError(f"{n}: imagen demasiado grande ({f.shape[1]}x{f.shape[0]})")
        if frames and f.shape != frames[0].shape:
            raise SequenceError("los cuadros no tienen todos el mismo tamaño")
        frames.append(f)
    h, w = frames[0].shape[:2]
    if focal is not None and not 0.2 * w <= focal <= 10 * w:  # a 3-160 degree field
        raise SequenceError(f"{SEQUENCE}: «focal_px» fuera de lo posible para cuadros de {w} px de ancho")
    return Clip(frames, _quads(spec.get("corners"), len(names), (w, h)), fps, focal)


def _scores(scores: dict[str, float], digits: int) -> dict[str, float | None]:
    """Rounded; a value that is not a finite number is null (JSON has no NaN)."""
    return {k: round(float(v), digits) if math.isfinite(v) else None for k, v in scores.items()}


def scan_frames(folder: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        clip = read_sequence(Path(folder))
    except SequenceError as e:
        return {"frames_dir": folder, "error": str(e)}
    frames, fps, focal = clip.frames, clip.fps, clip.focal
    quads: list[np.ndarray | None] = []
    hint: CardFind | None = None
    for f, q in zip(frames, clip.given, strict=True):
        if q is None:
            hint = find_card(f, hint=hint, layout=False)
            q = None if hint is None else np.asarray(hint.corners, np.float32)
        quads.append(q)
    found = [i for i, q in enumerate(quads) if q is not None]
    out: dict[str, Any] = {"frames_dir": folder, "error": None, "frames": len(frames), "found": len(found),
                           "fps": fps, "size": [frames[0].shape[1], frames[0].shape[0]]}
    if not found:
        out.update(tilt=None, integrity=None, seconds=round(time.perf_counter() - t0, 3))
        return out
    first = quads[found[0]]
    assert first is not None
    still = check_integrity(straighten(frames[found[0]], first))
    tilt = tilt_evidence([frames[i] for i in found], [q for q in quads if q is not None], focal)
    both = with_tilt(still, tilt)
    out["tilt"] = {"judged": tilt.judged, "flat": tilt.flat, "scores": _scores(tilt.scores, 5)}
    out["integrity"] = {"verdict": both.verdict, "passed": both.passed, "reason": both.reason,
                        "still_verdict": still.verdict, "scores": _scores(still.scores, 4)}
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


def format_frames_text(d: dict[str, Any]) -> str:
    if d.get("error"):
        return f"{d['frames_dir']}: ERROR: {d['error']}"
    lines = [f"{d['frames_dir']}: {d['frames']} cuadros, credencial encontrada en {d['found']}"]
    t, i = d["tilt"], d["integrity"]
    if t is None:
        lines.append("  integridad: no se encontró la credencial")
        return "\n".join(lines)
    s = t["scores"]
    if s["frames"] < MIN_FRAMES:
        lines.append(f"  inclinación: la credencial se encontró en menos de {MIN_FRAMES} cuadros; "
                     "no se puede juzgar")
    elif not t["judged"] and s["tilt_deg"] > TILT_MAX_DEG:
        lines.append(f"  inclinación: {s['tilt_deg']:.1f}° (demasiada para una mano: algún contorno "
                     "está mal; no se juzga)")
    elif not t["judged"]:
        lines.append(f"  inclinación: {s['tilt_deg']:.1f}° (no basta para juzgar; incline más la credencial)")
    else:
        said = "no responde a la luz (plana)" if t["flat"] else "responde a la luz"
        lines.append(f"  inclinación: {s['tilt_deg']:.1f}°, respuesta a la luz "
                     f"{s['response'] * 1000:.2f} por mil por grado: {said}")
    lines.append("  integridad: " + ("original" if i["passed"] else f"{i['verdict']}: {i['reason']}"))
    return "\n".join(lines)


def run_frames(folders: list[str], as_json: bool, out: TextIO | None = None) -> int:
    """Scan each folder in order; 1 if any could not be read, else 0."""
    out = out or sys.stdout
    failed = False
    for folder in folders:
        d = scan_frames(folder)
        failed |= bool(d.get("error"))
        print(json.dumps(d, ensure_ascii=False) if as_json else format_frames_text(d), file=out, flush=True)
    return 1 if failed else 0
