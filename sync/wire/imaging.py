"""Image encoding for records: the smallest image that keeps each one useful, in memory only.

    img = encode_image(rgb, ImageKind.CARD_BACK)     # fitted and encoded with PROFILES[kind]
    rgb = decode_image(img)                          # any media type a record may carry

A record may carry `image/avif`, `image/webp`, `image/jpeg` (every record before these
profiles, and a device whose Pillow cannot write AVIF) and `image/png` (the signature);
`decode_image` reads all four, and every reader of stored images goes through it.

Profiles were chosen by measurement (bench/bench_codecs.py; the figures are in
docs/figures.md): the back must still give its QR codes and its MRZ, the front its text, the
portrait and the selfie the same face landmarks and the same look around the face. AVIF and
WebP are written with Pillow, whose wheels carry libavif (with libaom) and libwebp on x86-64
and on aarch64 (Raspberry Pi OS 64-bit; AVIF from Pillow 11.3); JPEG and PNG with OpenCV.
OpenCV reads them all, Pillow an AVIF where OpenCV was built without it. Nothing here
touches the disk.
"""

from __future__ import annotations

import functools
import io
import logging
from dataclasses import dataclass

import cv2
import numpy as np

from sync.wire.record import EncodedImage, ImageKind, Signature

MEDIA_TYPES = {"jpeg": "image/jpeg", "webp": "image/webp", "avif": "image/avif"}
CODECS = {v: k for k, v in MEDIA_TYPES.items()}
# Every media type a record may carry (docs/protocol.md, "2. The record"); readers take all.
READABLE = frozenset({*MEDIA_TYPES.values(), "image/png"})
_log = logging.getLogger(__name__)
_WARNED: set[str] = set()


@dataclass(frozen=True, slots=True)
class ImageProfile:
    """Fit into max_width x max_height (never enlarged), then encode with `codec` at `quality`
    (the codec's own 0-100 scale). `speed`: AVIF's encoder speed (libaom, 0 slowest and
    smallest .. 10); `method`: WebP's (0 fastest .. 6 slowest and smallest)."""

    max_width: int
    max_height: int
    quality: int
    codec: str = "jpeg"
    speed: int = 8
    method: int = 4

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.codec]


# Chosen by bench/bench_codecs.py (smallest median bytes whose usefulness is not below the
# JPEG profiles' of before, bench/baselines/imaging_v1.py, within the encode-time budget).
# The back at full crop width (1024 px: the dense G/H codes at ~4 px per module) reads more of
# its QR codes from a camera's crop than the old 720 px JPEG, in fewer bytes.
PROFILES: dict[ImageKind, ImageProfile] = {
    ImageKind.CARD_BACK: ImageProfile(1024, 646, 35, "avif", speed=8),
    ImageKind.CARD_FRONT: ImageProfile(640, 404, 25, "webp", method=6),
    ImageKind.FACE_CROP: ImageProfile(160, 200, 55, "avif", speed=6),
    ImageKind.SELFIE: ImageProfile(320, 320, 50, "avif", speed=6),
}
# Where Pillow cannot write a profile's format (AVIF: its wheels before 11.3), the JPEG profiles
# of before: a capture is never refused; the record is larger (~78 KB) and fit_record fits it.
FALLBACK: dict[ImageKind, ImageProfile] = {
    ImageKind.CARD_BACK: ImageProfile(720, 454, 40),
    ImageKind.CARD_FRONT: ImageProfile(640, 404, 40),
    ImageKind.FACE_CROP: ImageProfile(160, 200, 60),
    ImageKind.SELFIE: ImageProfile(320, 320, 50),
}


def _fit(img: np.ndarray, max_w: int, max_h: int) -> np.ndarray:
    h, w = img.shape[:2]
    scale = min(max_w / w, max_h / h, 1.0)
    if scale >= 1.0:
        return img
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


@functools.cache
def can_encode(codec: str) -> bool:
    """Whether this machine's libraries write `codec` ("jpeg", "webp", "avif")."""
    if codec == "jpeg":
        return True
    from PIL import features

    return codec in MEDIA_TYPES and bool(features.check(codec))


def encode_bytes(rgb: np.ndarray, p: ImageProfile) -> bytes:
    """`rgb` (already fitted) as the file bytes of `p`'s codec. Raises ValueError."""
    if p.codec in ("avif", "webp"):
        from PIL import Image

        out = io.BytesIO()
        opts = {"speed": p.speed} if p.codec == "avif" else {"method": p.method}
        try:
            Image.fromarray(np.ascontiguousarray(rgb)).save(out, p.codec.upper(), quality=p.quality, **opts)
        except (OSError, KeyError) as e:   # KeyError: a Pillow built without the codec
            raise ValueError(f"{p.codec} encoding failed: {e}") from e
        return out.getvalue()
    if p.codec != "jpeg":
        raise ValueError(f"unknown codec {p.codec!r}")
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, p.quality, cv2.IMWRITE_JPEG_OPTIMIZE, 1])
    if not ok:
        raise ValueError("jpeg encoding failed")
    return bytes(buf.tobytes())


def encode_image(rgb: np.ndarray, kind: ImageKind, profile: ImageProfile | None = None
                 ) -> EncodedImage:
    """Resize (never enlarge) and encode an RGB uint8 image with the kind's profile, in memory."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError("expected an RGB uint8 image of shape (h, w, 3)")
    p = profile or PROFILES[kind]
    if not can_encode(p.codec):
        if p.codec not in _WARNED:
            _WARNED.add(p.codec)
            _log.warning("this Pillow cannot write %s: those photos stored as JPEG, as before", p.media_type)
        p = FALLBACK[kind]
    img = _fit(rgb, p.max_width, p.max_height)
    return EncodedImage(kind, p.media_type, img.shape[1], img.shape[0], encode_bytes(img, p))


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
    # Two grey levels compress best; the PNG stays greyscale for any viewer. Lossless WebP keeps
    # every pixel in ~14 % fewer bytes (~170 B of a ~52 KB record, bench/bench_codecs.py): not
    # worth a second format for the image every viewer must show as drawn.
    canvas = np.where(canvas < 128, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".png", canvas, [cv2.IMWRITE_PNG_COMPRESSION, 9,
                                            cv2.IMWRITE_PNG_BILEVEL, 1])
    if not ok:
        raise ValueError("PNG encoding failed")
    return EncodedImage(ImageKind.SIGNATURE, "image/png", w, h, buf.tobytes())


def _pillow_decode(data: bytes) -> np.ndarray | None:
    """Pillow's reading, for what this OpenCV build cannot read (an AVIF, where built without)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def decode_image(img: EncodedImage) -> np.ndarray:
    """Decode a stored image of any media type a record may carry (READABLE) to RGB, or to
    greyscale for PNG signatures. Raises ValueError."""
    if img.media_type not in READABLE:
        raise ValueError(f"{img.kind} image has an unknown media type {img.media_type!r}")
    # Photos always come back as 8-bit RGB; a PNG as stored (the signature is greyscale).
    flag = cv2.IMREAD_UNCHANGED if img.media_type == "image/png" else cv2.IMREAD_COLOR
    arr = cv2.imdecode(np.frombuffer(img.data, np.uint8), flag)
    if arr is None:
        got = _pillow_decode(img.data) if img.media_type == "image/avif" else None
        if got is None:
            raise ValueError(f"cannot decode {img.kind} image ({img.media_type})")
        return got
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGB if arr.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return arr
