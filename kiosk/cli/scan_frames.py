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
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from kiosk.cli.scan import load_rgb
from kiosk.vision.card import CardFind, find_card, straighten
from kiosk.vision.integrity import check_integrity
from kiosk.vision.integrity_tilt import tilt_evidence, with_tilt

SEQUENCE = "sequence.json"


class SequenceError(ValueError):
    """The folder or its sequence.json cannot be used (the message is one Spanish line)."""


def _number(v: object, what: str) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0:
        raise SequenceError(f"{SEQUENCE}: «{what}» debe ser un número positivo")
    return float(v)


Sequence = tuple[list[np.ndarray], list[np.ndarray | None], float | None, float | None]


def read_sequence(folder: Path) -> Sequence:
    """Frames (RGB), the given outlines (None where not given), fps and focal length."""
    if not folder.is_dir():
        raise SequenceError("no existe la carpeta")
    try:
        spec = json.loads((folder / SEQUENCE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SequenceError(f"falta {SEQUENCE} en la carpeta") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SequenceError(f"{SEQUENCE} no es JSON válido ({e})") from None
    names = spec.get("frames") if isinstance(spec, dict) else None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise SequenceError(f"{SEQUENCE}: «frames» debe ser una lista de nombres de archivo")
    fps, focal = _number(spec.get("fps"), "fps"), _number(spec.get("focal_px"), "focal_px")
    corners = spec.get("corners")
    quads: list[np.ndarray | None] = [None] * len(names)
    if corners is not None:
        try:
            arr = np.asarray(corners, np.float32)
        except (TypeError, ValueError):
            arr = np.zeros(0, np.float32)
        if arr.shape != (len(names), 4, 2) or not np.isfinite(arr).all():
            raise SequenceError(f"{SEQUENCE}: «corners» debe dar 4 esquinas [x, y] por cuadro")
        quads = list(arr)
    frames = []
    for n in names:
        try:
            frames.append(load_rgb(folder / n))
        except ValueError as e:
            raise SequenceError(f"{n}: {e}") from None
    if any(f.shape != frames[0].shape for f in frames):
        raise SequenceError("los cuadros no tienen todos el mismo tamaño")
    return frames, quads, fps, focal


def scan_frames(folder: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        frames, given, fps, focal = read_sequence(Path(folder))
    except SequenceError as e:
        return {"frames_dir": folder, "error": str(e)}
    quads: list[np.ndarray | None] = []
    hint: CardFind | None = None
    for f, q in zip(frames, given, strict=True):
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
    out["tilt"] = {"judged": tilt.judged, "flat": tilt.flat,
                   "scores": {k: round(float(v), 5) for k, v in tilt.scores.items()}}
    out["integrity"] = {"verdict": both.verdict, "passed": both.passed, "reason": both.reason,
                        "still_verdict": still.verdict,
                        "scores": {k: round(float(v), 4) for k, v in still.scores.items()}}
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
    if not t["judged"]:
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
