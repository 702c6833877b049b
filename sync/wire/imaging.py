"""Image encoding for records: the smallest JPEG/PNG that keeps each image useful.

Profiles were chosen by measurement (tests/sync/test_record_images.py re-reads the
stored images): the back of the card must still yield its QR code(s) and MRZ,
the selfie must still show a findable face. Encoding happens in memory only;
nothing here touches the disk.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sync.wire.record import EncodedImage, ImageKind, Signature


@dataclass(frozen=True, slots=True)
class JpegProfile:
    max_width: int
    max_height: int
    quality: int


# Chosen by measurement on the synthetic cards (bench/bench_save.py prints the sizes):
# ID-1 aspect 85.60 x 53.98 mm = 1.586. The back at 720 px (~215 dpi) still gives all three
# QRs of a G/H card (the dense ones at ~3 px per module) and a clean MRZ at quality 40;
# 560 px was the smallest that still decoded every QR, so 720 keeps a margin for real
# camera crops. The front needs only to be legible to a person; the selfie only needs a
# face a detector (and a reviewer) can find.
PROFILES: dict[ImageKind, JpegProfile] = {
    ImageKind.CARD_BACK: JpegProfile(720, 454, 40),
    ImageKind.CARD_FRONT: JpegProfile(640, 404, 40),
    ImageKind.FACE_CROP: JpegProfile(160, 200, 60),
    ImageKind.SELFIE: JpegProfile(320, 320, 50),
}


def _fit(img: np.ndarray, max_w: int, max_h: int) -> np.ndarray:
    h, w = img.shape[:2]
    scale = min(max_w / w, max_h / h, 1.0)
    if scale >= 1.0:
        return img
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def encode_jpeg(rgb: np.ndarray, kind: ImageKind, profile: JpegProfile | None = None
                ) -> EncodedImage:
    """Resize (never enlarge) and JPEG-encode an RGB uint8 image, in memory."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError("expected an RGB uint8 image of shape (h, w, 3)")
    p = profile or PROFILES[kind]
    img = _fit(rgb, p.max_width, p.max_height)
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(
        ".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, p.quality, cv2.IMWRITE_JPEG_OPTIMIZE, 1]
    )
    if not ok:
        raise ValueError("JPEG encoding failed")
    return EncodedImage(kind, "image/jpeg", img.shape[1], img.shape[0], buf.tobytes())


def render_signature(sig: Signature, max_width: int = 480) -> EncodedImage:
    """Render strokes black on white, 1-bit-ish greyscale PNG, at most ``max_width`` wide."""
    scale = min(1.0, max_width / max(sig.width, 1))
    w, h = max(1, round(sig.width * scale)), max(1, round(sig.height * scale))
    canvas = np.full((h, w), 255, np.uint8)
    for stroke in sig.strokes:
        pts = [(round(p.x * scale), round(p.y * scale)) for p in stroke]
        if len(pts) == 1:
            cv2.circle(canvas, pts[0], 1, 0, -1)
        for (a, pa), (b, _) in zip(zip(pts, stroke, strict=True),
                                   zip(pts[1:], stroke[1:], strict=True), strict=False):
            thick = 2
            if sig.has_pressure and pa.pressure is not None:
                thick = 1 + round(3 * pa.pressure)
            cv2.line(canvas, a, b, 0, thick, cv2.LINE_8)
    # Two grey levels compress best; the PNG stays greyscale for any viewer.
    canvas = np.where(canvas < 128, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".png", canvas, [cv2.IMWRITE_PNG_COMPRESSION, 9,
                                            cv2.IMWRITE_PNG_BILEVEL, 1])
    if not ok:
        raise ValueError("PNG encoding failed")
    return EncodedImage(ImageKind.SIGNATURE, "image/png", w, h, buf.tobytes())


def decode_image(img: EncodedImage) -> np.ndarray:
    """Decode a stored image back to RGB (or greyscale for PNG signatures)."""
    arr = cv2.imdecode(np.frombuffer(img.data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ValueError(f"cannot decode {img.kind} image")
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    return arr
