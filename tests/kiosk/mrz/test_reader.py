"""The OCR-B template reader: glyph table, exact reads, look-alike correction by field type."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from kiosk.mrz import parse as M
from kiosk.mrz.glyphs import glyphs
from kiosk.mrz.reader import ine_charsets, read_mrz
from kiosk.testdata.assets import CARD_H, CARD_W, ocrb
from kiosk.testdata.cards import sample_card
from tests.helpers.vision import render_ocrb_glyphs


def test_embedded_glyphs_equal_a_fresh_rendering_of_the_font() -> None:
    fresh = render_ocrb_glyphs()
    assert np.abs(fresh.astype(int) - glyphs().astype(int)).max() <= 1


@pytest.mark.parametrize("model", ["E", "F", "G", "H"])
def test_reads_flat_backs_exactly(model: str) -> None:
    for seed in (5000, 5001):
        _, back, truth = sample_card(seed, model)
        r = read_mrz(back)
        assert r is not None and list(r.lines) == truth["mrz"] and r.checks_ok and not r.corrections


def test_reads_a_card_held_upside_down() -> None:
    _, back, truth = sample_card(5002, "G")
    r = read_mrz(cv2.rotate(back, cv2.ROTATE_180))
    assert r is not None and list(r.lines) == truth["mrz"]


def test_no_mrz_on_an_ife_back() -> None:
    _, back, _ = sample_card(5003, "C")
    assert read_mrz(back) is None


def _redraw(back: np.ndarray, lines: list[str]) -> np.ndarray:
    """The back with its MRZ band repainted with `lines` (as kiosk.testdata.cards draws it)."""
    img = Image.fromarray(back)
    d = ImageDraw.Draw(img)
    fx, fy = (lambda x: round(x * CARD_W)), (lambda y: round(y * CARD_H))
    d.rectangle((fx(0.035), fy(0.66), fx(0.965), fy(0.97)), fill=(250, 250, 248))
    for i, line in enumerate(lines):
        d.text((fx(0.055), fy(0.685 + 0.089 * i)), line, font=ocrb(42), fill=(10, 10, 10))
    return np.asarray(img)


def test_letters_printed_where_digits_belong_are_read_as_the_digits() -> None:
    _, back, truth = sample_card(5004, "E")
    l1, l2, l3 = truth["mrz"]
    look = str.maketrans({"0": "O", "1": "I", "5": "S", "8": "B", "2": "Z"})
    # Every look-alike digit of the CIC and OCR printed as its letter.
    bad1 = l1[:5] + l1[5:15].translate(look) + l1[15:17] + l1[17:].translate(look)
    assert bad1 != l1
    r = read_mrz(_redraw(back, [bad1, l2, l3]))
    assert r is not None and list(r.lines) == truth["mrz"] and r.checks_ok


def test_a_smudged_digit_is_rescued_by_its_check_digit() -> None:
    _, back, truth = sample_card(5005, "G")
    img = back.copy()
    # Blot the middle of the third CIC digit (line 1, position 8) with the band's white.
    x = round(0.055 * CARD_W + 7 * 0.89 * CARD_W / 30)
    y = round(0.685 * CARD_H)
    img[y + 12:y + 24, x + 4:x + 26] = (250, 250, 248)
    r = read_mrz(img)
    assert r is not None and list(r.lines) == truth["mrz"] and r.checks_ok


def test_field_types_cover_the_ine_layout() -> None:
    l1, l2, l3 = ine_charsets()
    assert len(l1) == len(l2) == len(l3) == 30
    line2 = M.compose_ine_td1(cic="000000000", ocr="0" * 13, birth_date="000101", sex="M",
                              expiry_date="301231", emision="01", extra="00000",
                              apellido_paterno="A", apellido_materno="B", nombres="C")[1]
    assert all(c in allowed for c, allowed in zip(line2, l2, strict=True))
