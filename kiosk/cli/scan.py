"""`fieldkit-kiosk scan IMAGE... [--json]`: run the card vision on image files.

(`scan --frames DIR`, the integrity check with the tilt evidence on a clip: kiosk/cli/scan_frames.py.)

The testers' tool for "why won't this card read": for each file it prints the
card's corners, the reading path that read it (the kiosk's and `capture`'s own:
`kiosk.cardread.reading`), the side shown, the frame-quality verdict, the QR codes,
the MRZ lines, the parsed fields, the model and the verdict with its reason code
(docs/cli.md has the JSON shape). File reading lives here; kiosk.vision only sees arrays. Vision
hands up codes; the texts printed beside them come from the kiosk's catalogues (kiosk.i18n).
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import cv2
import numpy as np

from kiosk.cardread.credential import BackReading, read_back
from kiosk.cardread.reasons import Notice
from kiosk.i18n import render
from kiosk.vision.face import find_card_photo
from kiosk.vision.integrity import check_integrity
from sync.common.msg import Msg


def load_rgb(path: str | Path) -> np.ndarray:
    """An image file as RGB uint8; ValueError if it cannot be read as an image."""
    p = Path(path)
    try:
        if not p.exists():
            raise ValueError("no existe el archivo")
        if not p.is_file():
            raise ValueError("no es un archivo")
        data = np.fromfile(p, np.uint8)
    except OSError:  # permissions, a name too long
        raise ValueError("no se puede leer el archivo") from None
    try:
        img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except cv2.error:  # e.g. a header claiming more pixels than OpenCV decodes
        img = None
    if img is None:
        raise ValueError("no es una imagen que se pueda leer")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _notice(n: Notice) -> dict[str, str]:
    return {"code": n.code, "message": render(Msg(n.msg_code))}


def reading_to_dict(r: BackReading) -> dict[str, Any]:
    q = r.quality
    return {
        "corners": None if r.find is None else [[round(float(x), 1), round(float(y), 1)]
                                                for x, y in r.find.corners],
        "quality": {"ok": q.ok, "reasons": q.reasons, "messages": [render(Msg(c)) for c in q.codes],
                    "metrics": {k: round(v, 4) for k, v in q.metrics.items()}},
        "path": r.path or None,
        # How the outline was found and whether the card's segmentation agrees with it (an
        # outline it disagrees with is not straightened unasked: docs/vision.md).
        "outline": None if r.find is None else {
            "method": r.find.method, "trusted": r.find.trusted,
            "segmentation": None if r.find.segmented is None else round(float(r.find.segmented), 4)},
        "side": r.side or None,
        "model": r.model,
        "accepted": r.accepted,
        "refusal": None if r.refusal is None else _notice(r.refusal),
        "flags": [_notice(f) for f in r.flags],
        "qr": [{"text": c.text, "bytes_hex": None if c.text is not None else c.data.hex(),
                "decoder": c.decoder, "stage": c.stage, "source": c.source} for c in r.qr.codes],
        "mrz": None if r.mrz is None else {"lines": list(r.mrz.lines), "checks_ok": r.mrz.checks_ok,
                                           "corrections": r.mrz.corrections},
        "fields": None if r.fields is None else dict(r.fields.__dict__),
        "cross_check": r.cross_check,
        **capture2_to_dict(r.card),
    }


def capture2_to_dict(card: np.ndarray | None) -> dict[str, Any]:
    """Integrity verdict and printed portrait on the straightened card (front or back)."""
    if card is None:
        return {"integrity": None, "card_photo": None}
    integ = check_integrity(card)
    photo = find_card_photo(card)
    return {
        "integrity": {"verdict": integ.verdict, "passed": integ.passed, "reason": integ.reason,
                      "scores": {k: round(float(v), 4) for k, v in integ.scores.items()}},
        "card_photo": None if photo is None else {"box": [int(v) for v in photo.box],
                                                  "face": [int(v) for v in photo.face]},
    }


def scan_file(path: str, now_year: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        img = load_rgb(path)
    except ValueError as e:
        return {"file": path, "error": str(e)}
    out: dict[str, Any] = {"file": path, "error": None, "size": [img.shape[1], img.shape[0]]}
    out.update(reading_to_dict(read_back(img, now_year=now_year)))
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


def format_text(d: dict[str, Any]) -> str:
    if d.get("error"):
        return f"{d['file']}: ERROR: {d['error']}"
    lines = [f"{d['file']}:"]
    c = d["corners"]
    lines.append("  esquinas: " + ("no se encontró la credencial" if c is None else
                                   " ".join(f"({x:.0f},{y:.0f})" for x, y in c)))
    q = d["quality"]
    lines.append("  calidad: " + ("buena" if q["ok"] else "; ".join(q["messages"])))
    paths = {"contorno": "contorno de la credencial", "imagen_completa": "la imagen es la credencial",
             "banda_mrz": "banda MRZ, sin contorno"}
    lines.append("  lectura: " + (paths.get(d["path"], d["path"]) if d["path"] else "ninguna"))
    o = d.get("outline")
    if o and o["segmentation"] is not None:
        lines.append("  contorno: " + ("confirmado por la segmentación" if o["trusted"] else
                                       "la segmentación no lo confirma"))
    lines.append(f"  modelo: {d['model']}")
    for code in d["qr"]:
        shown = code["text"] if code["text"] is not None else f"<{len(code['bytes_hex']) // 2} bytes>"
        lines.append(f"  QR ({code['decoder']}, {code['stage']}, {code['source']}): {shown}")
    if not d["qr"]:
        lines.append("  QR: ninguno")
    if d["mrz"]:
        ok = "dígitos verificadores válidos" if d["mrz"]["checks_ok"] else "dígitos verificadores NO válidos"
        lines.append(f"  MRZ ({ok}):")
        lines += [f"    {ln}" for ln in d["mrz"]["lines"]]
        if d["mrz"]["corrections"]:
            lines.append("    correcciones: " + "; ".join(d["mrz"]["corrections"]))
    else:
        lines.append("  MRZ: no encontrada")
    if d["fields"]:
        lines += [f"  {k}: {v}" for k, v in d["fields"].items()]
    if d["cross_check"]:
        lines.append("  QR vs MRZ: " + ", ".join(f"{k} {'sí' if v else 'NO'}"
                                                  for k, v in d["cross_check"].items()))
    if d["integrity"]:
        i = d["integrity"]
        lines.append("  integridad: " + ("original" if i["passed"] else f"{i['verdict']}: {i['reason']}"))
    if d["card_photo"]:
        lines.append(f"  fotografía impresa: {d['card_photo']['box']}")
    verdict = "ACEPTADA" if d["accepted"] else f"RECHAZADA: {d['refusal']['message']}"
    lines.append(f"  veredicto: {verdict}")
    lines += [f"  aviso: {f['message']}" for f in d["flags"]]
    return "\n".join(lines)


def run(paths: list[str], as_json: bool, now_year: int | None = None, out: TextIO | None = None) -> int:
    """Scan each file in order; 1 if any file could not be read, else 0."""
    out = out or sys.stdout
    year = now_year or _dt.date.today().year
    failed = False
    for p in paths:
        d = scan_file(p, year)
        failed |= bool(d.get("error"))
        print(json.dumps(d, ensure_ascii=False) if as_json else format_text(d), file=out, flush=True)
    return 1 if failed else 0
