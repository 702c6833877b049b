# Frozen image profiles of 2026-12-07 (every record until then: JPEG through OpenCV, quality and
# optimised Huffman tables only), kept as the baseline for bench/bench_codecs.py and for any
# bench that builds old-style records in the same process:
#
#     imaging.encode_image(rgb, kind, PROFILES_V1[kind])   # the live encoder, old profile
#     encode_v1(rgb, kind)                                 # a verbatim copy of the old encoder
#
# Both give the same bytes (bench/bench_codecs.py checks it each run). Do not edit the numbers
# or encode_v1, so the benches keep comparing against the same reference.

from __future__ import annotations

import cv2
import numpy as np

from sync.wire.imaging import ImageProfile
from sync.wire.record import EncodedImage, ImageKind

PROFILES_V1: dict[ImageKind, ImageProfile] = {
    ImageKind.CARD_BACK: ImageProfile(720, 454, 40, "jpeg"),
    ImageKind.CARD_FRONT: ImageProfile(640, 404, 40, "jpeg"),
    ImageKind.FACE_CROP: ImageProfile(160, 200, 60, "jpeg"),
    ImageKind.SELFIE: ImageProfile(320, 320, 50, "jpeg"),
}


def _fit(img: np.ndarray, max_w: int, max_h: int) -> np.ndarray:
    h, w = img.shape[:2]
    scale = min(max_w / w, max_h / h, 1.0)
    if scale >= 1.0:
        return img
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def encode_v1(rgb: np.ndarray, kind: ImageKind) -> EncodedImage:
    """Resize (never enlarge) and JPEG-encode an RGB uint8 image, in memory (as of 2026-12-07)."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError("expected an RGB uint8 image of shape (h, w, 3)")
    p = PROFILES_V1[kind]
    img = _fit(rgb, p.max_width, p.max_height)
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(
        ".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, p.quality, cv2.IMWRITE_JPEG_OPTIMIZE, 1]
    )
    if not ok:
        raise ValueError("JPEG encoding failed")
    return EncodedImage(kind, "image/jpeg", img.shape[1], img.shape[0], buf.tobytes())
