"""QR decoding behind one function: zxing-cpp first, pyzbar (libzbar0) as fallback.

`decode_qr(frame, crop)` tries cheap things first and stops as soon as every
QR symbol zxing-cpp can *locate* has been decoded (zxing-cpp returns located
but undecodable symbols when asked, `return_errors=True`, which tells us
when to keep trying and where to look):

 1. the straightened crop, grey, as is;
 2. each located-but-failed symbol cut out with a margin, upscaled to about
    6 px per module, then as is / CLAHE / unsharp mask / Otsu; the same
    pieces with pyzbar;
 3. the whole crop with CLAHE, sharpened, with zxing-cpp's global-histogram
    binariser, and with pyzbar;
 4. where the card's layout prints its codes and none was read (small modules
    blurred past what a binariser undoes; zxing-cpp then does not even locate
    them): the place cut from the camera frame through the frame-to-card
    `homography` when given (else from the crop), deconvolved for a few
    defocus and motion blurs and read again (kiosk.vision.qr_deblur);
 5. the whole frame (the crop may have cut a code or the card was not found),
    as is and with CLAHE, both decoders.

Every decoded code is returned once, with its raw bytes (the dense G/H codes
are opaque binary) and, when the bytes are UTF-8 text, the text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp
from pyzbar import pyzbar

from kiosk.vision import qr_deblur

_QR = zxingcpp.BarcodeFormat.QRCode
_CLAHE = cv2.createCLAHE(clipLimit=2.5, tileGridSize=(8, 8))


@dataclass(frozen=True)
class QrCode:
    data: bytes                       # raw payload bytes
    text: str | None                  # the payload as text when it is UTF-8, else None
    decoder: str                      # "zxing" or "zbar"
    stage: str                        # which preprocessing read it
    box: tuple[int, int, int, int]    # x, y, w, h in the image it was read from (crop or frame)
    source: str                       # "card" (straightened crop) or "frame"

    @property
    def is_binary(self) -> bool:
        return self.text is None


@dataclass(frozen=True)
class QrResult:
    codes: list[QrCode]
    located: int                      # symbols zxing-cpp located (decoded or not), at best
    stages_tried: int

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.codes if c.text is not None]

    @property
    def payloads(self) -> list[bytes]:
        return [c.data for c in self.codes]


def _gray(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def _text_of(data: bytes) -> str | None:
    try:
        t = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return t if t.isprintable() else None


@dataclass
class _Raw:
    data: bytes
    box: tuple[int, int, int, int]
    ok: bool


def _zxing(g: np.ndarray, binarizer: zxingcpp.Binarizer = zxingcpp.Binarizer.LocalAverage,
           quick: bool = False) -> list[_Raw]:
    out = []
    # quick (live preview, on the straightened card): no rotated, downscaled or inverted passes.
    # formats: a BarcodeFormat converts implicitly to BarcodeFormats; the stubs miss that
    for r in zxingcpp.read_barcodes(g, formats=_QR,  # type: ignore[arg-type]
                                    try_rotate=not quick, try_downscale=not quick,
                                    try_invert=not quick, binarizer=binarizer, return_errors=True):
        p = r.position
        xs = [p.top_left.x, p.top_right.x, p.bottom_right.x, p.bottom_left.x]
        ys = [p.top_left.y, p.top_right.y, p.bottom_right.y, p.bottom_left.y]
        box = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
        out.append(_Raw(bytes(r.bytes), box, r.valid and not r.error))
    return out


def _zbar(g: np.ndarray) -> list[_Raw]:
    out = []
    for r in pyzbar.decode(g, symbols=[pyzbar.ZBarSymbol.QRCODE]):
        x, y, w, h = r.rect
        out.append(_Raw(_canonical(r.data), (x, y, w, h), True))
    return out


def _clahe(g: np.ndarray) -> np.ndarray:
    return _CLAHE.apply(g)


def _sharpen(g: np.ndarray, sigma: float = 2.0, amount: float = 0.8) -> np.ndarray:
    """Unsharp mask; the strong settings undo much of a defocus blur on the modules."""
    blur = cv2.GaussianBlur(g, (0, 0), sigma)
    return cv2.addWeighted(g, 1 + amount, blur, -amount, 0)


def _otsu(g: np.ndarray) -> np.ndarray:
    return cv2.threshold(cv2.GaussianBlur(g, (3, 3), 0), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]


def _adaptive(g: np.ndarray) -> np.ndarray:
    block = max(15, (min(g.shape[:2]) // 12) | 1)
    return cv2.adaptiveThreshold(g, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, block, 5)


def _canonical(data: bytes) -> bytes:
    """zbar hands binary QR content back as Latin-1 text re-encoded in UTF-8 (control bytes
    included): undo that, so its bytes are zxing-cpp's raw ones and one symbol is one code."""
    try:
        t = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    if any(ord(c) > 127 for c in t) and all(ord(c) < 256 for c in t):
        return t.encode("latin-1")
    return data


class _Collector:
    def __init__(self) -> None:
        self.codes: dict[bytes, QrCode] = {}
        self.failed: list[tuple[tuple[int, int, int, int], str]] = []   # (box, source)
        self.located = 0
        self.stages = 0

    def add(self, raws: list[_Raw], decoder: str, stage: str, source: str,
            to_image: Callable[[tuple[int, int, int, int]], tuple[int, int, int, int]] | None = None,
            ) -> None:
        self.stages += 1
        for r in raws:
            box = to_image(r.box) if to_image else r.box
            if r.ok and r.data and r.data not in self.codes:
                self.codes[r.data] = QrCode(r.data, _text_of(r.data), decoder, stage, box, source)

    def note_located(self, raws: list[_Raw], source: str) -> None:
        self.located = max(self.located, len(raws))
        ok = {r.data for r in raws if r.ok}
        self.failed = [(r.box, source) for r in raws if not r.ok and r.data not in ok]

    def done(self) -> bool:
        # A dense (binary) code means a G/H back, which also carries the public URL code:
        # keep looking until that one is read too (or the stages run out).
        binary_only = all(c.text is None for c in self.codes.values())
        return bool(self.codes) and len(self.codes) >= self.located and not binary_only


def _piece(g: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray, int, int, float] | None:
    """A located symbol cut out with a margin and scaled to ~360 px."""
    x, y, w, h = box
    m = int(max(w, h) * 0.25) + 4
    x0, y0 = max(0, x - m), max(0, y - m)
    x1, y1 = min(g.shape[1], x + w + m), min(g.shape[0], y + h + m)
    piece = g[y0:y1, x0:x1]
    if piece.shape[0] < 8 or piece.shape[1] < 8:
        return None
    f = min(4.0, max(1.0, 360.0 / max(1, max(piece.shape[:2]))))
    if f > 1.01:
        piece = cv2.resize(piece, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
    return piece, x0, y0, f


def _stages(g: np.ndarray) -> Iterator[tuple[str, str, Callable[[], list[_Raw]]]]:
    yield "nitidez", "zxing", lambda: _zxing(_sharpen(g))
    yield "clahe", "zxing", lambda: _zxing(_clahe(g))
    yield "nitidez_fuerte", "zxing", lambda: _zxing(_sharpen(g, 3.0, 1.5))
    yield "nitidez_alta", "zxing", lambda: _zxing(_sharpen(g, 2.0, 2.0))
    yield "histograma", "zxing", lambda: _zxing(g, zxingcpp.Binarizer.GlobalHistogram)
    yield "tal_cual", "zbar", lambda: _zbar(g)
    yield "nitidez_fuerte", "zbar", lambda: _zbar(_sharpen(g, 3.0, 1.5))
    yield "ampliada", "zxing", lambda: _zxing(_sharpen(cv2.resize(g, None, fx=1.5, fy=1.5,
                                                                  interpolation=cv2.INTER_CUBIC), 3.0, 2.0))
    yield "adaptativa", "zxing", lambda: _zxing(_adaptive(g))


def _try_pieces(col: _Collector, g: np.ndarray, source: str) -> None:
    for box, src in list(col.failed):
        if src != source:
            continue
        cut = _piece(g, box)
        if cut is None:
            continue
        piece, x0, y0, f = cut

        def back(b: tuple[int, int, int, int], x0: int = x0, y0: int = y0, f: float = f
                 ) -> tuple[int, int, int, int]:
            return (int(b[0] / f) + x0, int(b[1] / f) + y0, int(b[2] / f), int(b[3] / f))

        before = len(col.codes)
        for stage, fn in (("recorte", lambda p: p), ("recorte_nitidez", _sharpen),
                          ("recorte_fuerte", lambda p, f=f: _sharpen(p, 3.0 * f / 2, 1.5)),
                          ("recorte_clahe", _clahe), ("recorte_otsu", _otsu)):
            img = fn(piece)
            col.add(_zxing(img), "zxing", stage, source, back)
            if len(col.codes) > before:
                break
            col.add(_zbar(img), "zbar", stage, source, back)
            if len(col.codes) > before:
                break


def _centre(box: tuple[int, int, int, int]) -> tuple[float, float]:
    return box[0] + box[2] / 2, box[1] + box[3] / 2


def _upright(col: _Collector, places: list[qr_deblur.Box]) -> bool | None:
    """Which way up the crop shows the card, from the codes read or located on it: the place
    nearest a code's centre is one of the upright ones (the first half) or a turned one."""
    seen = [_centre(c.box) for c in col.codes.values() if c.source == "card"]
    seen += [_centre(b) for b, src in col.failed if src == "card"]
    if not seen:
        return None
    votes = 0
    for cx, cy in seen:
        d = [math.hypot(cx - x - side / 2, cy - y - side / 2) for x, y, side in places]
        votes += 1 if int(np.argmin(d)) < len(places) // 2 else -1
    return None if votes == 0 else votes > 0


def _try_places(col: _Collector, crop: np.ndarray, frame: np.ndarray | None,
                homography: np.ndarray | None) -> None:
    """Stage 4: the layout's places where no code was read, deblurred (kiosk.vision.qr_deblur)."""
    h, w = crop.shape[:2]
    if min(h, w) < 32:
        return                                # no card's layout in a picture this small
    upright = _upright(col, qr_deblur.places(w, h, None))
    if frame is not None and homography is not None:
        src, to_card = frame, np.asarray(homography, np.float64)
    else:
        # The crop was upsampled from the frame (~12 px/mm against a camera's 5-8): at half size
        # the blur is about the size the PSFs are made for.
        src = cv2.resize(crop, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        to_card = np.array([[w / (w // 2), 0, 0], [0, h / (h // 2), 0], [0, 0, 1]], np.float64)
    try:
        inverse = np.linalg.inv(to_card)
    except np.linalg.LinAlgError:
        return
    sh, sw = src.shape[:2]
    for x, y, side in qr_deblur.places(w, h, upright):
        if any(x <= cx <= x + side and y <= cy <= y + side
               for cx, cy in (_centre(c.box) for c in col.codes.values() if c.source == "card")):
            continue
        # A code the frame's edge cuts is beyond any deblurring (the place's margin may be cut).
        m = side * qr_deblur.MARGIN / (1 + 2 * qr_deblur.MARGIN)
        x0, y0, x1, y1 = x + m, y + m, x + side - m, y + side - m
        corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)
        at = cv2.perspectiveTransform(corners.reshape(-1, 1, 2), inverse).reshape(-1, 2)
        if (at[:, 0] < 0).any() or (at[:, 1] < 0).any() or (at[:, 0] > sw).any() or (at[:, 1] > sh).any():
            continue
        before = len(col.codes)
        for stage, view, back in qr_deblur.deblurred_views(src, to_card, (x, y, side), w):
            def to_crop(b: tuple[int, int, int, int], m: np.ndarray = back) -> tuple[int, int, int, int]:
                return (int(m[0, 0] * b[0] + m[0, 2]), int(m[1, 1] * b[1] + m[1, 2]),
                        int(m[0, 0] * b[2]), int(m[1, 1] * b[3]))
            col.add(_zxing(view, quick=True), "zxing", "lugar_" + stage, "card", to_crop)
            if len(col.codes) > before:
                break


def decode_qr(frame: np.ndarray | None, crop: np.ndarray | None = None, fast: bool = False, *,
              homography: np.ndarray | None = None, deblur: bool = True) -> QrResult:
    """Every QR code on the card: on the straightened `crop` first, then on `frame`.

    `fast=True` (live preview) stops after the first pass on the crop, or on
    the frame when there is no crop. `homography` (3x3, frame px -> crop px:
    the one the crop was straightened with) lets stage 4 go back to the
    frame's own pixels; without it stage 4 works on the crop. `deblur=False`
    leaves stage 4 out (hundreds of ms where nothing is there to read).
    """
    col = _Collector()
    for source, img in (("card", crop), ("frame", frame)):
        if img is None:
            continue
        g = _gray(img)
        first = _zxing(g, quick=fast)
        col.add(first, "zxing", "tal_cual", source)
        col.note_located(first, source)
        if fast or col.done():
            break
        _try_pieces(col, g, source)
        if col.done():
            break
        for stage, decoder, fn in _stages(g):
            if source == "frame" and (stage in ("ampliada", "adaptativa", "nitidez_alta", "histograma")
                                      or (crop is not None and decoder == "zbar")):
                continue                 # the frame is big: the crop had these chances already
            raws = fn()
            col.add(raws, decoder, stage, source)
            if decoder == "zxing" and len(raws) > col.located:
                col.note_located(raws, source)
                _try_pieces(col, g, source)
            if col.done():
                break
        if source == "card" and deblur and not col.done():
            _try_places(col, g, None if frame is None else _gray(frame), homography)
        if col.done():
            break
    return QrResult(list(col.codes.values()), col.located, col.stages)
