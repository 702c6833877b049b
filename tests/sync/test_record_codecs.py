"""Record images in every media type a device may write (sync/wire/imaging.py).

The stored back still gives its QR codes and its MRZ (the project's own readers) for every
card model; each media type goes through the record and back; a JPEG record of before stays
readable; fit_record shrinks WebP and AVIF as it shrank JPEG, each in its own format; a device
whose Pillow cannot write AVIF stores the JPEGs of before; a typical record built as "Guardar"
builds it is at most 55 KB. (How the profiles were chosen: bench/bench_codecs.py.)
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from kiosk.capture.fit import fit_record
from kiosk.capture.save import SaveContext, build_record
from kiosk.mrz.reader import read_mrz
from kiosk.testdata.selfies import make_selfie
from kiosk.testdata.signatures import make_signature
from kiosk.vision.qr import decode_qr
from sync.wire import imaging
from sync.wire.envelope import MAX_RECORD_BYTES
from sync.wire.imaging import (
    FALLBACK,
    PROFILES,
    READABLE,
    ImageProfile,
    decode_image,
    encode_image,
    render_signature,
)
from sync.wire.record import EncodedImage, ImageKind, Record, decode_record, encode_record
from tests.helpers.kiosk import back_reading, card, make_draft, provision
from tests.helpers.outbox import tiny_record

TYPICAL_MAX = 55_000
QR_PER_MODEL = {"E": 1, "F": 1, "G": 3, "H": 3}
MAGIC = {"image/jpeg": (0, b"\xff\xd8\xff"), "image/webp": (8, b"WEBP"),
         "image/avif": (4, b"ftypavif"), "image/png": (0, b"\x89PNG")}


def _through_the_wire(*images: EncodedImage) -> Record:
    rec = replace(tiny_record(), images=images)
    back = decode_record(encode_record(rec))
    assert back.images == images
    return back


@pytest.mark.parametrize("model", "EFGH")
def test_the_stored_back_gives_its_qr_codes_and_mrz_for_each_model(model: str) -> None:
    reading = back_reading(2, model)
    assert reading.card is not None and reading.mrz is not None
    img = encode_image(reading.card, ImageKind.CARD_BACK)
    assert img.media_type == PROFILES[ImageKind.CARD_BACK].media_type == "image/avif"
    stored = decode_image(_through_the_wire(img).image(ImageKind.CARD_BACK))
    want = {c.data for c in reading.qr.codes}
    assert len(want) == QR_PER_MODEL[model]
    assert want <= {c.data for c in decode_qr(None, stored).codes}
    mrz = read_mrz(stored)
    assert mrz is not None and mrz.checks_ok
    assert list(mrz.lines) == list(reading.mrz.lines) == card(2, model)[2]["mrz"]


@pytest.mark.parametrize("codec", ["jpeg", "webp", "avif"])
def test_each_photo_format_round_trips_through_the_record(codec: str) -> None:
    selfie = make_selfie(1)
    img = encode_image(selfie, ImageKind.SELFIE, ImageProfile(320, 320, 50, codec))
    offset, magic = MAGIC[img.media_type]
    assert img.data[offset:offset + len(magic)] == magic
    got = decode_image(_through_the_wire(img).images[0])
    assert got.shape == (img.height, img.width, 3) and got.dtype == np.uint8
    ref = cv2.resize(selfie, (img.width, img.height), interpolation=cv2.INTER_AREA)
    assert np.abs(got.astype(int) - ref).mean() < 8      # the same picture, not its colours swapped


def test_the_signature_png_round_trips_pixel_for_pixel() -> None:
    img = render_signature(make_signature(4))
    assert img.media_type == "image/png" and img.data.startswith(MAGIC["image/png"][1])
    got = decode_image(_through_the_wire(img).images[0])
    assert got.shape == (img.height, img.width) and set(np.unique(got)) == {0, 255}
    assert np.array_equal(got, decode_image(img))


def test_every_profile_writes_a_media_type_readers_take() -> None:
    assert {p.media_type for p in PROFILES.values()} | {"image/png"} <= READABLE
    with pytest.raises(ValueError, match="unknown media type"):
        decode_image(EncodedImage(ImageKind.SELFIE, "image/heic", 1, 1, b"\x00"))


def _old_jpeg(rgb: np.ndarray, kind: ImageKind, width: int, quality: int) -> EncodedImage:
    """An image as every device wrote it before the AVIF profiles: OpenCV JPEG, optimised."""
    h = round(rgb.shape[0] * width / rgb.shape[1])
    small = cv2.resize(rgb, (width, h), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_OPTIMIZE, 1])
    assert ok
    return EncodedImage(kind, "image/jpeg", width, h, buf.tobytes())


def test_a_jpeg_record_of_before_stays_readable_and_shrinkable() -> None:
    front, back, _ = card(3)
    images = (_old_jpeg(front, ImageKind.CARD_FRONT, 640, 40), _old_jpeg(back, ImageKind.CARD_BACK, 720, 40),
              _old_jpeg(make_selfie(3), ImageKind.SELFIE, 320, 50))
    rec = _through_the_wire(*images)
    for img in rec.images:
        assert decode_image(img).shape == (img.height, img.width, 3)
    stored = decode_image(rec.image(ImageKind.CARD_BACK))
    mrz = read_mrz(stored)
    assert mrz is not None and mrz.checks_ok
    limit = len(encode_record(rec)) * 6 // 10
    small = fit_record(rec, limit)
    assert len(encode_record(small)) <= limit
    assert [i.media_type for i in small.images] == ["image/jpeg"] * 3


def _record_in(codec: str) -> Record:
    front, back, _ = card(4)
    photos = ((front, ImageKind.CARD_FRONT), (back, ImageKind.CARD_BACK), (make_selfie(4), ImageKind.SELFIE))
    return replace(tiny_record(), images=tuple(
        encode_image(rgb, kind, replace(PROFILES[kind], codec=codec)) for rgb, kind in photos))


@pytest.mark.parametrize("codec", ["webp", "avif"])
def test_fit_record_shrinks_webp_and_avif_in_their_own_format(codec: str) -> None:
    rec = _record_in(codec)
    limit = len(encode_record(rec)) * 6 // 10
    small = fit_record(rec, limit)
    assert len(encode_record(small)) <= limit
    assert small.signature == rec.signature and small.credential == rec.credential
    for before, after in zip(rec.images, small.images, strict=True):
        assert after.kind == before.kind and after.media_type == before.media_type == f"image/{codec}"
        assert after.width < before.width and after.height < before.height
        assert decode_image(after).shape == (after.height, after.width, 3)


def test_a_device_whose_pillow_cannot_write_avif_stores_the_jpegs_of_before(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # An older Pillow (before 11.3's wheels) has no AVIF writer; this one has, so say it has not.
    monkeypatch.setattr(imaging, "can_encode", lambda codec: codec != "avif")
    _, back, _ = card(5)
    img = encode_image(back, ImageKind.CARD_BACK)
    assert img.media_type == "image/jpeg" and img.width == FALLBACK[ImageKind.CARD_BACK].max_width
    assert read_mrz(decode_image(img)) is not None


def test_pillow_reads_an_avif_as_opencv_does() -> None:
    # decode_image's way where OpenCV was built without AVIF (this one was not).
    img = encode_image(make_selfie(2), ImageKind.SELFIE)
    by_pillow = imaging._pillow_decode(img.data)
    assert by_pillow is not None
    assert np.abs(by_pillow.astype(int) - decode_image(img)).max() <= 2


def test_a_typical_record_built_as_guardar_builds_it_is_at_most_55_kb(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ctx = SaveContext.from_config(provision(tmp_path).config)
    try:
        records = [build_record(make_draft(seed), ctx) for seed in (1, 2, 3)]
    finally:
        ctx.close()
    for rec in records:
        assert {i.media_type for i in rec.images} == {"image/avif", "image/webp", "image/png"}
        assert len(encode_record(rec)) <= TYPICAL_MAX <= MAX_RECORD_BYTES
