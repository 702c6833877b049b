"""A synthetic card whose name is longer than the MRZ's 30-character name line, and a draft
made from it. The words are the generator's MUESTRA words, no real person's name."""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np

from kiosk.capture.flow import Draft
from kiosk.capture.save import read_front
from kiosk.cardread.credential import BackReading, read_back
from kiosk.testdata.cards import render_card, truth_of
from kiosk.testdata.roll import generate_roll
from kiosk.vision.integrity import check_integrity
from tests.helpers.kiosk import NOW_YEAR, full_frame_find, make_draft

PATERNO, MATERNO, NOMBRES = "MUESTRA", "PRUEBA", "PERSONA EJEMPLO SINTETICA"
LINE3 = "MUESTRA<PRUEBA<<PERSONA<EJEMPL"   # 41 characters cut to 30: the given names lose "O SINTETICA"
NOMBRES_READ = "PERSONA EJEMPL"


@functools.cache
def long_name_card(seed: int = 7) -> tuple[np.ndarray, np.ndarray, dict]:
    """(front RGB, back RGB, truth) of a current G card named MUESTRA PRUEBA PERSONA EJEMPLO SINTETICA."""
    c = next(generate_roll(1, seed))
    c = replace(c, apellido_paterno=PATERNO, apellido_materno=MATERNO, nombres=NOMBRES, modelo="G",
                anio_emision=2020, vigencia=2030)
    card = render_card(c, seed)
    return card.front, card.back, truth_of(card, f"muestra-nombre-largo-{seed}")


@functools.cache
def long_name_reading(seed: int = 7) -> BackReading:
    _, back, _ = long_name_card(seed)
    return read_back(back, now_year=NOW_YEAR, find=full_frame_find(back))


def long_name_draft(seed: int = 7) -> Draft:
    """`tests.helpers.kiosk.make_draft`'s draft with the long-name card's sides and readings."""
    d = make_draft(seed)
    front, _, truth = long_name_card(seed)
    reading = long_name_reading(seed)
    assert reading.card is not None
    d.model = truth["model"]
    d.front, d.front_reading = front, read_front(front, truth["model"])
    d.back, d.back_reading = reading.card, reading
    d.back_integrity = check_integrity(reading.card)
    return d
