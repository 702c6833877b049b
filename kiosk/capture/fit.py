"""A record that fits the largest legal envelope, whatever was captured.

The device never turns a citizen away over size: when a record's encoding is larger than
``MAX_RECORD_BYTES`` (sync/wire/envelope.py) its JPEG images are re-encoded smaller, round
after round, and as a last resort the signature's strokes are thinned (every other point
kept, the ends always). With the image profiles of sync/wire/imaging.py a record is
~100 KB, so this only acts on pathological input (a signature drawn for many minutes).
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from sync.wire.envelope import MAX_RECORD_BYTES
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
    if img.media_type != "image/jpeg" or min(img.width, img.height) * SCALE_PER_ROUND < MIN_SIDE:
        return img
    bgr = cv2.imdecode(np.frombuffer(img.data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        return img
    w, h = round(img.width * SCALE_PER_ROUND), round(img.height * SCALE_PER_ROUND)
    small = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_OPTIMIZE, 1])
    return replace(img, width=w, height=h, data=buf.tobytes()) if ok else img


def _thin(sig: Signature) -> Signature:
    def half(stroke: tuple[Point, ...]) -> tuple[Point, ...]:
        if len(stroke) <= 2:
            return stroke
        kept = stroke[::2]
        return kept if kept[-1] == stroke[-1] else (*kept, stroke[-1])
    return replace(sig, strokes=tuple(half(s) for s in sig.strokes))
