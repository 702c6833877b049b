"""Names the MRZ cut: read from a card's back as the MRZ gives them, flagged, shown with "…"."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kiosk.cardread.credential import IneFields, display_name, ine_fields
from kiosk.mrz.parse import mrz_name, parse_ine_mrz
from kiosk.testdata.roll import generate_roll
from tests.helpers.kiosk import back_reading, card
from tests.helpers.long_names import LINE3, NOMBRES, NOMBRES_READ, PATERNO, long_name_card, long_name_reading

FIELDS = IneFields(cic="123456789", ocr="0901123456789", seccion="0901", identificador="123456789",
                   fecha_nacimiento="1990-01-01", sexo="M", vigencia=2030, emision="01",
                   apellido_paterno="MUESTRA", apellido_materno="PRUEBA", nombres="PERSONA EJEMPL")


def _full_mrz_name(citizen: dict) -> str:
    return (f"{mrz_name(citizen['apellido_paterno'])}<{mrz_name(citizen['apellido_materno'])}"
            f"<<{mrz_name(citizen['nombres'])}")


@pytest.mark.parametrize(("change", "shown"), [
    ({}, "PERSONA EJEMPL MUESTRA PRUEBA"),
    ({"name_truncated": True}, "PERSONA EJEMPL… MUESTRA PRUEBA"),
    # No given names, the line ending in "<<": the surnames ended, the given names were cut away.
    ({"name_truncated": True, "nombres": ""}, "… MUESTRA PRUEBA"),
    ({"name_truncated": True, "nombres": "", "apellido_materno": ""}, "… MUESTRA"),
    # The surnames filled the line: the cut may have fallen on the last surname read.
    ({"name_truncated": True, "surname_cut": True, "nombres": ""}, "MUESTRA PRUEBA…"),
    ({"name_truncated": True, "surname_cut": True, "nombres": "", "apellido_materno": ""}, "MUESTRA…"),
    ({"nombres": "", "apellido_materno": ""}, "MUESTRA"),
])
def test_display_name_marks_the_part_that_may_be_cut(change: dict, shown: str) -> None:
    assert display_name(replace(FIELDS, **change)) == shown


def test_display_name_of_nothing_read_is_empty() -> None:
    assert display_name(None) == ""


def test_a_card_whose_name_is_longer_than_the_field_reads_as_cut() -> None:
    _, _, truth = long_name_card()
    assert len(_full_mrz_name(truth["citizen"])) > 30 and truth["mrz"][2] == LINE3
    r = long_name_reading()
    assert r.accepted and r.fields is not None and r.mrz is not None and r.mrz.lines[2] == LINE3
    f = r.fields
    # Stored as the MRZ gives it (a prefix of the real given names), flagged, shown with "…".
    assert (f.apellido_paterno, f.nombres, f.name_truncated) == (PATERNO, NOMBRES_READ, True)
    assert NOMBRES.startswith(f.nombres)
    assert display_name(f) == "PERSONA EJEMPL… MUESTRA PRUEBA"


def test_the_generators_own_cards_hold_cut_and_whole_names() -> None:
    # Long names are common in the synthetic roll (two given names, two long surnames).
    fulls = [_full_mrz_name({"apellido_paterno": c.apellido_paterno, "apellido_materno": c.apellido_materno,
                             "nombres": c.nombres}) for c in generate_roll(200, 0)]
    assert sum(len(n) > 30 for n in fulls) >= 10
    for seed, cut in ((1, False), (3, True)):
        _, _, truth = card(seed)
        assert (len(_full_mrz_name(truth["citizen"])) > 30) is cut     # what this seed is for
        f = back_reading(seed).fields
        assert f is not None and f.name_truncated is cut
        assert ("…" in display_name(f)) is cut


@pytest.mark.parametrize(("line3", "shown"), [
    # The surnames fill 28 characters and "<<" follows: only the given names can be missing.
    ("MUESTRALARGOAPELLIDO<PRUEBAS<<", "… MUESTRALARGOAPELLIDO PRUEBAS"),
    # One '<' left: the cut may fall just after a space inside the second surname.
    ("MUESTRALARGOAPELLIDO<PRUEBASX<", "MUESTRALARGOAPELLIDO PRUEBASX…"),
    # A full line with no given names: the last surname may itself be cut.
    ("MUESTRALARGOAPELLIDO<PRUEBASXY", "MUESTRALARGOAPELLIDO PRUEBASXY…"),
])
def test_a_line_with_no_given_names_marks_where_the_cut_can_be(line3: str, shown: str) -> None:
    _, _, truth = card(1)
    lines = [*truth["mrz"][:2], line3]
    f = ine_fields(parse_ine_mrz(lines), 2026)
    assert f.nombres == "" and f.name_truncated
    assert display_name(f) == shown
