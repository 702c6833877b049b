"""The stored images stay useful: the QR codes and the MRZ still read from the stored back
of the card, the face is still found in the stored selfie, the signature still shows.

Images go the whole way first: encode (the profiles of sync/wire/imaging.py, AVIF and WebP
today) -> record -> seal -> outbox -> server open. The QR is read with both decoders the
project ships (zxing-cpp, and pyzbar over libzbar0), the MRZ with the project's own reader
(kiosk.mrz): it must read exactly as from the full-quality original, every check digit valid.
Tesseract, which stood in before that reader landed, is no yardstick: it reads 14 of 20
generated MRZs (seeds 20-39) from the lossless original. tests/sync/test_record_codecs.py
reads every model E-H.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import zxingcpp
from pyzbar import pyzbar

from kiosk.mrz.reader import read_mrz
from sync.wire.imaging import PROFILES, decode_image
from sync.wire.record import ImageKind, Record
from tests.helpers.outbox import card_record, make_keys, new_outbox

SEEDS = [31, 32, 33]


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Record, dict, Record]]:
    """(original record, card truth, record as the server opened it from the outbox)."""
    keys = make_keys()
    ob, _ = new_outbox(tmp_path_factory.mktemp("img"), keys)
    out = []
    for seed in SEEDS:
        rec, truth = card_record(seed)
        ob.put(rec, keys.sealer())
        out.append((rec, truth))
    items = ob.next_batch(10)
    opened = [keys.open(i.envelope).record for i in items]
    ob.close()
    return [(r, t, o) for (r, t), o in zip(out, opened, strict=True)]


def _truth_payloads(truth: dict) -> set[bytes]:
    return {bytes.fromhex(q["payload"]) if q["mode"] == "bytes" else q["payload"].encode()
            for q in truth["qr"]}


def test_stored_images_are_the_images_that_were_saved(stored) -> None:  # type: ignore[no-untyped-def]
    for rec, _, opened in stored:
        assert opened.images == rec.images
        back = opened.image(ImageKind.CARD_BACK)
        profile = PROFILES[ImageKind.CARD_BACK]
        assert back.media_type == profile.media_type and back.width <= profile.max_width


def test_qr_codes_read_from_stored_back_with_zxing(stored) -> None:  # type: ignore[no-untyped-def]
    for _, truth, opened in stored:
        img = decode_image(opened.image(ImageKind.CARD_BACK))
        got = {r.bytes for r in zxingcpp.read_barcodes(img)}
        want = _truth_payloads(truth)
        assert len(want) == 3 and want <= got, f"seed {truth['card_id']}: {len(want - got)} missing"


def test_qr_codes_read_from_stored_back_with_zbar(stored) -> None:  # type: ignore[no-untyped-def]
    for _, truth, opened in stored:
        img = decode_image(opened.image(ImageKind.CARD_BACK))
        got = set()
        for r in pyzbar.decode(img):
            got.add(r.data)
            # zbar hands binary QR content back as Latin-1 text re-encoded in UTF-8.
            with contextlib.suppress(UnicodeDecodeError, UnicodeEncodeError):
                got.add(r.data.decode("utf-8").encode("latin-1"))
        assert _truth_payloads(truth) <= got


def test_mrz_reads_from_stored_back(stored) -> None:  # type: ignore[no-untyped-def]
    for rec, truth, opened in stored:
        got = read_mrz(decode_image(opened.image(ImageKind.CARD_BACK)))
        assert got is not None and got.checks_ok
        assert list(got.lines) == truth["mrz"] == list(rec.credential.mrz)


def test_face_found_in_stored_selfie(stored) -> None:  # type: ignore[no-untyped-def]
    cascade = cv2.CascadeClassifier(
        str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"))
    assert not cascade.empty()
    for _, _, opened in stored:
        selfie = decode_image(opened.image(ImageKind.SELFIE))
        assert max(selfie.shape[:2]) <= PROFILES[ImageKind.SELFIE].max_width
        faces = cascade.detectMultiScale(cv2.cvtColor(selfie, cv2.COLOR_RGB2GRAY), 1.1, 5,
                                         minSize=(40, 40))
        assert len(faces) >= 1
        # The astronaut's face is in the upper middle of the frame.
        x, _, w, _ = max(faces, key=lambda f: f[2] * f[3])
        assert w >= 60 and 0.25 < (x + w / 2) / selfie.shape[1] < 0.75


def test_face_crop_and_signature_png_decode(stored) -> None:  # type: ignore[no-untyped-def]
    for rec, _, opened in stored:
        face = decode_image(opened.image(ImageKind.FACE_CROP))
        assert face.ndim == 3 and 100 <= face.shape[0] <= 200
        sig_img = opened.image(ImageKind.SIGNATURE)
        assert sig_img.media_type == "image/png" and sig_img.data.startswith(b"\x89PNG")
        sig = decode_image(sig_img)
        ink = np.argwhere(sig < 128)
        assert len(ink) > 300  # three strokes of ink
        # The ink lies where the strokes were drawn (scaled to the PNG's width).
        s = sig_img.width / rec.signature.width
        xs = [p.x * s for st in rec.signature.strokes for p in st]
        assert abs(ink[:, 1].min() - min(xs)) < 6 and abs(ink[:, 1].max() - max(xs)) < 6
