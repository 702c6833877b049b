"""kiosk/capture/fit.py: a record is made to fit the largest envelope, never refused for size."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from kiosk.capture.fit import fit_record
from sync.wire.record import Point, Signature, encode_record
from tests.helpers.outbox import card_record, tiny_record


def test_a_record_that_fits_is_returned_unchanged() -> None:
    rec, _ = card_record(1)
    assert fit_record(rec) is rec


def test_images_shrink_round_by_round_and_still_decode() -> None:
    rec, _ = card_record(2)
    size = len(encode_record(rec))
    small = fit_record(rec, size * 6 // 10)
    assert len(encode_record(small)) <= size * 6 // 10
    for before, after in zip(rec.images, small.images, strict=True):
        assert after.kind == before.kind
        if after.media_type == "image/jpeg":
            img = cv2.imdecode(np.frombuffer(after.data, np.uint8), cv2.IMREAD_COLOR)
            assert img is not None and img.shape[:2] == (after.height, after.width)
    assert small.signature == rec.signature and small.credential == rec.credential


def test_an_endless_signature_is_thinned_keeping_every_strokes_ends() -> None:
    long = tuple(tuple(Point(float(i % 600), float(j), i) for i in range(20_000)) for j in range(5))
    rec = replace(tiny_record(), signature=Signature(600, 200, long))
    limit = len(encode_record(rec)) // 3
    small = fit_record(rec, limit)
    assert len(encode_record(small)) <= limit
    for a, b in zip(rec.signature.strokes, small.signature.strokes, strict=True):
        assert (b[0], b[-1]) == (a[0], a[-1]) and len(b) < len(a)


def test_a_limit_below_what_can_be_had_is_an_error_not_a_loop() -> None:
    with pytest.raises(ValueError, match="cannot be made smaller"):
        fit_record(tiny_record(), 100)
