"""A record that fits the largest legal envelope, whatever was captured.

The device never turns a citizen away over size: when a record's encoding is larger than
``MAX_RECORD_BYTES`` (sync/wire/envelope.py) its photos are re-encoded smaller, round after
round, each in the format it is stored in (AVIF, WebP or JPEG: `sync.wire.imaging`; JPEG
where this machine cannot write that format), and as a last resort the signature's strokes
are thinned (every other point kept, the ends always). With the image profiles of
sync/wire/imaging.py a record is ~52 KB, so this only acts on pathological input (a
signature drawn for many minutes).
"""

from __future__ import annotations

from dataclasses import replace

import cv2

from sync.wire.envelope import MAX_RECORD_BYTES
from sync.wire.imaging import CODECS, PROFILES, ImageProfile, can_encode, decode_image, encode_image
from sync.wire.record import EncodedImage, Point, Record, Signature, encode_record

SCALE_PER_ROUND = 0.75
QUALITY_PER_ROUND = 10
MIN_QUALITY = 20
MIN_SIDE = 64  # below this an image says nothing; keep it as it is
IMAGE_ROUNDS = 6


def fit_record(record: Record, max_bytes: int = MAX_RECORD_BYTES) -> Record:
    """`record` itself when it fits `max_bytes` encoded, else a smaller copy that does."""
    size = len(encode_record(record))
    rounds = 0
    while size > max_bytes:
        if rounds < IMAGE_ROUNDS:
            quality = max(MIN_QUALITY, 70 - QUALITY_PER_ROUND * (rounds + 1))
            record = replace(record, images=tuple(_shrink(i, quality) for i in record.images))
        else:
            thinner = _thin(record.signature)
            if thinner == record.signature:
                raise ValueError(f"the record cannot be made smaller than {size} bytes")
            record = replace(record, signature=thinner)
        rounds += 1
        size = len(encode_record(record))
    return record


def _shrink(img: EncodedImage, quality: int) -> EncodedImage:
    """A photo 0.75 times smaller, at `quality` or its profile's, whichever is lower (a round's
    60 would grow an image stored at 35). The signature (PNG) and anything unreadable are kept."""
    codec = CODECS.get(img.media_type)
    if codec is None or min(img.width, img.height) * SCALE_PER_ROUND < MIN_SIDE:
        return img
    try:
        rgb = decode_image(img)
    except ValueError:
        return img
    profile = PROFILES.get(img.kind)
    if profile is not None and profile.codec == codec:
        quality = min(quality, profile.quality)
    w, h = round(img.width * SCALE_PER_ROUND), round(img.height * SCALE_PER_ROUND)
    small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    p = ImageProfile(w, h, quality, codec if can_encode(codec) else "jpeg")
    try:
        return encode_image(small, img.kind, p)
    except ValueError:
        return img


def _thin(sig: Signature) -> Signature:
    def half(stroke: tuple[Point, ...]) -> tuple[Point, ...]:
        if len(stroke) <= 2:
            return stroke
        kept = stroke[::2]
        return kept if kept[-1] == stroke[-1] else (*kept, stroke[-1])
    return replace(sig, strokes=tuple(half(s) for s in sig.strokes))
