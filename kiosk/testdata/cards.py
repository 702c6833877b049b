"""Synthetic INE voter cards (front and back), marked MUESTRA.

Layout after docs/credential.md: models E-H carry a TD1 MRZ and QR code(s)
on the back (E/F one public QR; G/H a small public QR and two dense ones whose
real content is compressed and encrypted, here random bytes); the older IFE
models C/D have neither and exist here only as negative samples.
All positions are fractions of the ID-1 card so the numbers can be checked
against the doc.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cache

import cv2
import numpy as np
import segno
from PIL import Image, ImageDraw

from kiosk.mrz.parse import compose_ine_td1
from kiosk.testdata.assets import CARD_H, CARD_W, face_photo, font, guilloche, ocrb
from kiosk.testdata.roll import Citizen, generate_roll

WATERMARK = "MUESTRA"
TINTS = {
    "C": (200, 215, 235), "D": (215, 200, 225), "E": (235, 200, 215),
    "F": (215, 230, 210), "G": (240, 205, 215), "H": (240, 210, 200),
}
QR_MODELS = ("E", "F", "G", "H")


@dataclass
class QrTruth:
    role: str          # "publico" (URL) or "denso1"/"denso2" (opaque bytes)
    mode: str          # "text" or "bytes"
    payload: str       # the text, or the bytes as lowercase hex
    box: list[int]     # x, y, w, h on the card back, pixels

    def payload_bytes(self) -> bytes:
        return bytes.fromhex(self.payload) if self.mode == "bytes" else self.payload.encode()


@dataclass
class CardSides:
    front: np.ndarray   # RGB uint8, CARD_H x CARD_W
    back: np.ndarray
    citizen: Citizen
    qr: list[QrTruth] = field(default_factory=list)
    mrz: list[str] | None = None
    face_box: list[int] = field(default_factory=list)      # on the front
    mrz_box: list[int] | None = None                       # on the back


def _fx(x: float) -> int:
    return round(x * CARD_W)


def _fy(y: float) -> int:
    return round(y * CARD_H)


def public_qr_url(c: Citizen, rng: random.Random) -> str:
    """The small public QR's URL (form from DESIGN.md; its digits are opaque to us)."""
    date = f"{c.anio_emision}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    # 24 digits read as OCR (13) + 2 + CIC (9): an inference (docs/credential.md).
    return (f"http://qr.ine.mx/{c.ocr}{c.emision}{c.cic}"
            f"/{date}/P/{rng.randint(0, 999999):06d}")


def _qr_image(payload: str | bytes, size_px: int) -> np.ndarray:
    # A fixed mask pattern skips segno's pure-Python search over all eight
    # (most of the render time); any mask gives a valid code.
    qr = segno.make_qr(payload, error="m", mode="byte" if isinstance(payload, bytes) else None,
                       mask=len(payload) % 8)
    m = np.array(list(qr.matrix_iter(scale=1, border=2)), dtype=np.uint8)
    module = max(2, size_px // m.shape[0])
    return np.where(np.kron(m, np.ones((module, module), np.uint8)) > 0, 0, 255).astype(np.uint8)


def _paste_gray(canvas: np.ndarray, img: np.ndarray, x: int, y: int) -> list[int]:
    h, w = img.shape[:2]
    canvas[y:y + h, x:x + w] = img[..., None] if img.ndim == 2 else img
    return [x, y, w, h]


def _face(rng: random.Random, w: int, h: int) -> np.ndarray:
    img = face_photo()
    if rng.random() < 0.5:
        img = img[:, ::-1]
    hsv = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2HSV).astype(np.int16)
    hsv[..., 0] = (hsv[..., 0] + rng.randint(-6, 6)) % 180
    hsv[..., 2] = np.clip(hsv[..., 2] * rng.uniform(0.85, 1.1), 0, 255)
    img = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    # A light photo-studio background, as on the card.
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


def _signature(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    pts, x, y = [], x0 + 5.0, (y0 + y1) / 2
    vy = 0.0
    while x < x1 - 5:
        vy = 0.7 * vy + rng.uniform(-6, 6)
        y = min(max(y + vy, y0 + 3), y1 - 3)
        x += rng.uniform(3, 9)
        pts.append((x, y))
    draw.line(pts, fill=(20, 30, 90), width=3, joint="curve")


@cache
def _watermark_layer(size: int, angle: float) -> Image.Image:
    f = font(size, bold=True)
    w = int(f.getlength(WATERMARK)) + 20
    layer = Image.new("RGBA", (w, size + 30), (0, 0, 0, 0))
    ImageDraw.Draw(layer).text((10, 5), WATERMARK, font=f, fill=(205, 20, 30, 95))
    return layer.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)


def _watermark(img: Image.Image, center: tuple[int, int], size: int, angle: float) -> None:
    layer = _watermark_layer(size, angle)
    img.alpha_composite(layer, (center[0] - layer.width // 2, center[1] - layer.height // 2))


def _label_value(d: ImageDraw.ImageDraw, x: float, y: float, label: str, value: str) -> None:
    d.text((_fx(x), _fy(y)), label, font=font(15), fill=(120, 40, 70))
    d.text((_fx(x), _fy(y) + 17), value, font=font(21, bold=True), fill=(15, 15, 15))


def render_front(c: Citizen, rng: random.Random) -> tuple[np.ndarray, list[int]]:
    ife = c.modelo in ("C", "D")
    bg = guilloche(CARD_W, CARD_H, TINTS[c.modelo], ord(c.modelo))
    img = Image.fromarray(bg).convert("RGBA")
    d = ImageDraw.Draw(img)
    d.text((_fx(0.03), _fy(0.035)), "MÉXICO", font=font(22, bold=True), fill=(110, 20, 60))
    d.text((_fx(0.22), _fy(0.035)),
           "INSTITUTO FEDERAL ELECTORAL" if ife else "INSTITUTO NACIONAL ELECTORAL",
           font=font(26, bold=True), fill=(60, 20, 50))
    d.text((_fx(0.22), _fy(0.105)),
           "REGISTRO FEDERAL DE ELECTORES · CREDENCIAL PARA VOTAR" if ife
           else "CREDENCIAL PARA VOTAR", font=font(20), fill=(60, 20, 50))
    # Positions after docs/credential.md section 10 (approximate, from specimens).
    gh = c.modelo in ("G", "H")
    px, py, pw, ph = (_fx(0.03), _fy(0.20), _fx(0.24), _fy(0.50)) if gh else \
        (_fx(0.03), _fy(0.22), _fx(0.25), _fy(0.58))
    img.paste(Image.fromarray(_face(rng, pw, ph)), (px, py))
    face_box = [px, py, pw, ph]
    x = 0.29 if gh else 0.30
    d.text((_fx(x), _fy(0.195)), "NOMBRE", font=font(15), fill=(120, 40, 70))
    for i, line in enumerate((c.apellido_paterno, c.apellido_materno, c.nombres)):
        d.text((_fx(x), _fy(0.23 + 0.055 * i)), line, font=font(23, bold=True), fill=(15, 15, 15))
    d.text((_fx(x), _fy(0.42)), "DOMICILIO", font=font(15), fill=(120, 40, 70))
    words = c.domicilio.split(" COL ")
    dom = [words[0], "COL " + words[1] if len(words) > 1 else "", f"{c.entidad_nombre[:22]}"]
    for i, line in enumerate(dom):
        d.text((_fx(x), _fy(0.455 + 0.045 * i)), line, font=font(18, bold=True), fill=(15, 15, 15))
    _label_value(d, x, 0.595, "CLAVE DE ELECTOR", c.clave_elector)
    _label_value(d, x, 0.665, "CURP", c.curp)
    _label_value(d, 0.63, 0.665, "AÑO DE REGISTRO", f"{c.anio_registro} {c.emision}")
    birth = f"{c.fecha_nacimiento[8:10]}/{c.fecha_nacimiento[5:7]}/{c.fecha_nacimiento[:4]}"
    if gh:
        # G/H: no estado/municipio/localidad; sección and vigencia highlighted;
        # the signature moved to the front, under the photo.
        _label_value(d, x, 0.735, "FECHA DE NACIMIENTO", birth)
        d.text((_fx(x), _fy(0.81)), "SECCIÓN", font=font(15), fill=(120, 40, 70))
        d.text((_fx(x), _fy(0.84)), f"{c.seccion:04d}", font=font(30, bold=True), fill=(15, 15, 15))
        d.text((_fx(0.47), _fy(0.81)), "VIGENCIA", font=font(15), fill=(120, 40, 70))
        d.text((_fx(0.47), _fy(0.84)), f"{c.anio_emision} - {c.vigencia}", font=font(30, bold=True),
               fill=(15, 15, 15))
        _label_value(d, 0.74, 0.195, "SEXO", c.sexo)
        _signature(d, (_fx(0.03), _fy(0.73), _fx(0.27), _fy(0.92)), rng)
        gx, gy, gw, gh_ = _fx(0.80), _fy(0.50), _fx(0.16), _fy(0.32)
    else:
        _label_value(d, 0.74, 0.195, "FECHA DE NACIMIENTO", birth)
        _label_value(d, 0.74, 0.295, "SEXO", c.sexo)
        for cx, label, value in ((0.30, "ESTADO", f"{c.entidad:02d}"),
                                 (0.43, "MUNICIPIO", f"{c.municipio:03d}"),
                                 (0.58, "SECCIÓN", f"{c.seccion:04d}"),
                                 (0.72, "LOCALIDAD", f"{c.localidad:04d}")):
            _label_value(d, cx, 0.735, label, value)
        _label_value(d, 0.30, 0.825, "EMISIÓN", str(c.anio_emision))
        _label_value(d, 0.46, 0.825, "VIGENCIA", str(c.vigencia))
        gx, gy, gw, gh_ = _fx(0.80), _fy(0.48), _fx(0.16), _fy(0.32)
    # Ghost image: a faded grey copy of the photo.
    ghost = cv2.cvtColor(_face(rng, gw, gh_), cv2.COLOR_RGB2GRAY)
    region = np.asarray(img)[gy:gy + gh_, gx:gx + gw, :3].astype(np.float32)
    blended = region * 0.55 + ghost[..., None].astype(np.float32) * 0.45
    img.paste(Image.fromarray(blended.astype(np.uint8)), (gx, gy))
    _watermark(img, (_fx(0.58), _fy(0.52)), 150, 22)
    d.text((_fx(0.80), _fy(0.035)), "MUESTRA · SIN VALIDEZ", font=font(14, bold=True),
           fill=(205, 20, 30))
    return np.asarray(img.convert("RGB")).copy(), face_box


def _fingerprint(d: ImageDraw.ImageDraw, box: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = box
    d.rectangle(box, outline=(90, 60, 80), width=2)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    for r in range(6, int(min(x1 - x0, y1 - y0) / 2) - 4, 6):
        d.ellipse((cx - r * 0.8, cy - r, cx + r * 0.8, cy + r), outline=(70, 70, 80), width=2)


def _marking_boxes(d: ImageDraw.ImageDraw, box: tuple[float, float, float, float]) -> None:
    """The grid of small numbered squares marked at each election."""
    x0, y0, x1, y1 = _fx(box[0]), _fy(box[1]), _fx(box[2]), _fy(box[3])
    cols, rows = 6, 3
    cw, ch = (x1 - x0) / cols, (y1 - y0) / rows
    for r in range(rows):
        for k in range(cols):
            bx, by = x0 + k * cw, y0 + r * ch
            d.rectangle((bx + 2, by + 2, bx + cw - 2, by + ch - 2), outline=(120, 60, 90), width=1)
            d.text((bx + 5, by + 4), f"{r * cols + k + 1:02d}", font=font(11), fill=(120, 60, 90))


def _opaque_block(canvas: np.ndarray, box: tuple[float, float, float, float], rng: random.Random) -> None:
    """A PDF417-like block of random bars (opaque content, not decodable on purpose)."""
    x0, y0, x1, y1 = _fx(box[0]), _fy(box[1]), _fx(box[2]), _fy(box[3])
    rows = (y1 - y0) // 6
    cols = (x1 - x0) // 3
    bits = np.frombuffer(rng.randbytes(rows * cols), np.uint8).reshape(rows, cols) & 1
    block = np.kron(bits, np.ones((6, 3), np.uint8))
    canvas[y0:y0 + block.shape[0], x0:x0 + block.shape[1]] = np.where(block[..., None] > 0, 20, 250)


def _bars(d: ImageDraw.ImageDraw, box: tuple[float, float, float, float], rng: random.Random) -> None:
    x, x1 = _fx(box[0]), _fx(box[2])
    while x < x1:
        w = rng.choice((2, 2, 4, 6))
        d.rectangle((x, _fy(box[1]), x + w - 1, _fy(box[3])), fill=(10, 10, 10))
        x += w + rng.choice((2, 4))


BackRender = tuple[np.ndarray, list[QrTruth], list[str] | None, list[int] | None]


def render_back(c: Citizen, rng: random.Random) -> BackRender:
    """Back side. Positions after docs/credential.md section 10 (approximate).

    Model D is drawn like C (no QR, no MRZ) although the last D cards had both
    (docs/credential.md): both are refused as expired IFE cards either way.
    """
    bg = guilloche(CARD_W, CARD_H, TINTS[c.modelo], 100 + ord(c.modelo))
    canvas = bg.copy()
    qrs: list[QrTruth] = []
    if c.modelo in ("G", "H"):
        specs = [("denso1", 0.04, 0.06, 0.252), ("denso2", 0.31, 0.06, 0.252),
                 ("publico", 0.82, 0.40, 0.139)]
    elif c.modelo in ("E", "F"):
        specs = [("publico", 0.04, 0.06, 0.158)]
        _opaque_block(canvas, (0.23, 0.20, 0.58, 0.44), rng)
    else:
        specs = []
    for role, x, y, size in specs:
        if role == "publico":
            url = public_qr_url(c, rng)
            payload: str | bytes = url
            truth = QrTruth(role, "text", url, [])
        else:
            payload = rng.randbytes(160)
            truth = QrTruth(role, "bytes", payload.hex(), [])
        truth.box = _paste_gray(canvas, _qr_image(payload, _fx(size)), _fx(x), _fy(y))
        qrs.append(truth)
    img = Image.fromarray(canvas).convert("RGBA")
    d = ImageDraw.Draw(img)
    if c.modelo in ("G", "H"):
        _marking_boxes(d, (0.60, 0.06, 0.97, 0.36))
    else:
        _fingerprint(d, (_fx(0.62), _fy(0.06), _fx(0.78), _fy(0.44)))
        _marking_boxes(d, (0.80, 0.06, 0.97, 0.58))
        d.text((_fx(0.04), _fy(0.36)), "FIRMA", font=font(14), fill=(120, 40, 70))
        _signature(d, (_fx(0.04), _fy(0.40), _fx(0.21), _fy(0.58)), rng)
    if c.modelo in ("C", "D"):
        _bars(d, (0.06, 0.70, 0.70, 0.90), rng)
        _watermark(img, (_fx(0.45), _fy(0.35)), 120, 18)
        return np.asarray(img.convert("RGB")).copy(), qrs, None, None
    if c.modelo in ("E", "F"):
        _bars(d, (0.23, 0.06, 0.58, 0.15), rng)
    mrz = list(compose_ine_td1(
        cic=c.cic, ocr=c.ocr,
        birth_date=c.fecha_nacimiento[2:4] + c.fecha_nacimiento[5:7] + c.fecha_nacimiento[8:10],
        sex=c.sexo, expiry_date=f"{c.vigencia % 100:02d}1231", emision=c.emision,
        extra=f"{rng.randint(0, 99999):05d}", apellido_paterno=c.apellido_paterno,
        apellido_materno=c.apellido_materno, nombres=c.nombres,
    ))
    # TD1: OCR-B at 2.54 mm pitch (30 chars = 0.89 of the width), cap height
    # ~2.4 mm, line pitch ~4.8 mm, on a plain light band.
    f = ocrb(42)
    mx = _fx(0.055)
    d.rectangle((_fx(0.035), _fy(0.66), _fx(0.965), _fy(0.97)), fill=(250, 250, 248))
    for i, line in enumerate(mrz):
        d.text((mx, _fy(0.685 + 0.089 * i)), line, font=f, fill=(10, 10, 10))
    mrz_box = [_fx(0.035), _fy(0.66), _fx(0.93), _fy(0.31)]
    _watermark(img, (_fx(0.55), _fy(0.40)), 90, 15)
    d.text((_fx(0.30), _fy(0.55)), "MUESTRA · SIN VALIDEZ", font=font(16, bold=True), fill=(205, 20, 30))
    return np.asarray(img.convert("RGB")).copy(), qrs, mrz, mrz_box


def render_card(c: Citizen, seed: int) -> CardSides:
    rng = random.Random(f"card:{seed}:{c.cic}")
    front, face_box = render_front(c, rng)
    back, qrs, mrz, mrz_box = render_back(c, rng)
    return CardSides(front, back, c, qrs, mrz, face_box, mrz_box)


def truth_of(card: CardSides, card_id: str) -> dict:
    from dataclasses import asdict

    c = card.citizen
    return {
        "card_id": card_id,
        "synthetic": True,
        "watermark": WATERMARK,
        "model": c.modelo,
        "has_qr": bool(card.qr),
        "citizen": asdict(c),
        "front": {"size": [CARD_W, CARD_H], "face_box": card.face_box},
        "back": {"size": [CARD_W, CARD_H], "mrz_box": card.mrz_box},
        "qr": [asdict(q) for q in card.qr],
        "qr_payloads": [q.payload for q in card.qr],
        "mrz": card.mrz,
        "variants": [],
    }


def sample_card(seed: int, model: str | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """One card from a one-citizen roll: (front RGB, back RGB, truth dict).

    By default a model G/H card (three QRs and an MRZ); pass `model` to force one.
    """
    rng = random.Random(f"sample:{seed}")
    c = next(generate_roll(1, seed))
    from dataclasses import replace

    c = replace(c, modelo=model or rng.choice(("G", "H")))
    if c.modelo in QR_MODELS and c.anio_emision < 2014:
        c = replace(c, anio_emision=2019, vigencia=2029)
    card = render_card(c, seed)
    return card.front, card.back, truth_of(card, f"muestra-{seed}")
