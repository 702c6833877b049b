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

import numpy as np
from PIL import Image

from kiosk.cli.scan import load_rgb
from kiosk.vision.card import CardFind, find_card, straighten
from kiosk.vision.card_verify import aspect_batch, inside_frame, order_corners, plausible_batch
from kiosk.vision.integrity import check_integrity
from kiosk.vision.integrity_tilt import MIN_FRAMES, TILT_MAX_DEG, tilt_evidence, with_tilt

SEQUENCE = "sequence.json"


MAX_FRAMES = 240           # 16 s at 15 fps: a tilt takes one or two
MAX_PIXELS = 4096 * 3072   # per frame, 12.6 Mpx (the Pi HQ sensor is 4056 x 3040)
MAX_TOTAL_PIXELS = 400_000_000  # the whole clip in memory: ~1.2 GB of RGB
ASPECT_MIN = 0.5           # a given outline's agreement with ID-1 (card_verify.aspect_batch): ~15 %


class SequenceError(ValueError):
    """The folder or its sequence.json cannot be used (the message is one Spanish line)."""


@dataclass
class Clip:
    frames: list[np.ndarray]
    given: list[np.ndarray | None]   # the outline given for each frame, or None
    fps: float | None
    focal: float | None


def _shown(name: str) -> str:
    """A frame name as it can be printed: escaped when it holds what a terminal cannot show."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return ascii(name)[1:-1]
    return name if name.isprintable() else ascii(name)[1:-1]


def _finite(v: object) -> float | None:
    """A JSON number as a finite float, or None (booleans, text, 1e400, a 400-digit integer)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    try:
        f = float(v)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def _number(v: object, what: str) -> float | None:
    if v is None:
        return None
    f = _finite(v)
    if f is None or f <= 0:
        raise SequenceError(f"{SEQUENCE}: «{what}» debe ser un número positivo")
    return f


def _quads(corners: object, n: int, shape: tuple[int, ...]) -> list[np.ndarray | None]:
    """The given outlines, in TL, TR, BR, BL order, each a card-shaped quadrilateral inside the
    frame (a wrong outline would straighten the table and read as a flat card)."""
    what = f"{SEQUENCE}: «corners» debe dar 4 esquinas [x, y] por cuadro"
    if corners is None:
        return [None] * n
    if not isinstance(corners, list) or len(corners) != n:
        raise SequenceError(what)
    out: list[np.ndarray | None] = []
    for i, quad in enumerate(corners):
        if not (isinstance(quad, list) and len(quad) == 4
                and all(isinstance(p, list) and len(p) == 2 for p in quad)):
            raise SequenceError(what)
        values = [_finite(v) for p in quad for v in p]
        if any(v is None for v in values):
            raise SequenceError(what)
        q = order_corners(np.array(values, np.float32).reshape(4, 2))
        # The finder's own tests for an outline: in the frame and not running out of it, a
        # convex quadrilateral of some size, and ID-1's proportions.
        if not (inside_frame(q, shape, 0.02 * shape[1]) and plausible_batch(q[None], shape, 0.01)[0]
                and aspect_batch(q[None], shape)[0] >= ASPECT_MIN):
            raise SequenceError(f"{SEQUENCE}: el contorno del cuadro {i + 1} no es el de una credencial "
                                "entera dentro de la imagen")
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
    except (RecursionError, ValueError):  # nested too deep; an integer past Python's digit limit
        raise SequenceError(f"{SEQUENCE} no es JSON válido") from None
    if not isinstance(spec, dict):
        raise SequenceError(f"{SEQUENCE}: se esperaba un objeto JSON")
    return spec


def _frame_size(path: Path) -> tuple[int, int] | None:
    """(w, h) from the file's header, before anything is decoded; None if Pillow cannot tell."""
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


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
    paths = []
    for n in names:  # the frames are the folder's: no absolute paths, no way out of it
        try:
            inside = not Path(n).is_absolute() and (folder / n).resolve().is_relative_to(root)
        except (OSError, ValueError, RuntimeError):  # a NUL in the name, a symlink loop
            raise SequenceError(f"{SEQUENCE}: «{_shown(n)}» no es un nombre de archivo válido") from None
        if not inside:
            raise SequenceError(f"{SEQUENCE}: «{_shown(n)}» no está dentro de la carpeta")
        paths.append(folder / n)
    fps, focal = _number(spec.get("fps"), "fps"), _number(spec.get("focal_px"), "focal_px")
    frames: list[np.ndarray] = []
    total = 0
    for n, path in zip(names, paths, strict=True):
        size = _frame_size(path)
        if size is not None and size[0] * size[1] > MAX_PIXELS:
            raise SequenceError(f"{_shown(n)}: imagen demasiado grande ({size[0]}x{size[1]}; "
                                "a lo más 12,6 Mpx)")
        try:
            f = load_rgb(path)
        except ValueError as e:
            raise SequenceError(f"{_shown(n)}: {e}") from None
        if f.shape[0] * f.shape[1] > MAX_PIXELS:
            raise SequenceError(f"{_shown(n)}: imagen demasiado grande ({f.shape[1]}x{f.shape[0]}; "
                                "a lo más 12,6 Mpx)")
        if frames and f.shape != frames[0].shape:
            raise SequenceError("los cuadros no tienen todos el mismo tamaño")
        total += f.shape[0] * f.shape[1]
        if total > MAX_TOTAL_PIXELS:
            raise SequenceError("demasiados píxeles en la secuencia (a lo más 400 Mpx en total)")
        frames.append(f)
    w = frames[0].shape[1]
    if focal is not None and not 0.2 * w <= focal <= 10 * w:  # a 6-136 degree field
        raise SequenceError(f"{SEQUENCE}: «focal_px» fuera de lo posible para cuadros de {w} px de ancho")
    return Clip(frames, _quads(spec.get("corners"), len(names), frames[0].shape), fps, focal)


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
            # A card running out of the frame is not a whole outline (nor for the kiosk).
            q = None if hint is None or hint.touches_border else np.asarray(hint.corners, np.float32)
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
    if s["tilt_deg"] is None:
        lines.append("  inclinación: no medible con estos contornos")
    elif s["frames"] < MIN_FRAMES:
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
