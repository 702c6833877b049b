"""ICAO 9303 TD1 check digits: ICAO's own specimen and the INE layout, with the same code."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.mrz.parse import (
    MrzFormatError,
    check_digit,
    compose_ine_td1,
    mrz_name,
    name_cut,
    parse_ine_mrz,
    parse_td1,
)

SPECIMEN = ("I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6",
            "ERIKSSON<<ANNA<MARIA<<<<<<<<<<")


def test_icao_td1_specimen_passes_every_check() -> None:
    td1 = parse_td1(SPECIMEN)
    assert td1.valid, td1.failed_checks
    assert (td1.document_number, td1.birth_date, td1.expiry_date) == ("D23145890", "740812", "120415")
    assert (td1.primary_name, td1.secondary_name) == ("ERIKSSON", "ANNA MARIA")
    assert check_digit("D23145890") == "7" and check_digit("740812") == "2"


@pytest.mark.parametrize("line,pos", [(0, 7), (1, 3), (1, 10), (0, 20)])
def test_one_changed_digit_fails_a_check(line: int, pos: int) -> None:
    lines = list(SPECIMEN)
    c = lines[line][pos]
    lines[line] = lines[line][:pos] + ("1" if c != "1" else "2") + lines[line][pos + 1:]
    assert not parse_td1(lines).valid


def test_malformed_zone_is_refused() -> None:
    with pytest.raises(MrzFormatError):
        parse_td1(SPECIMEN[:2])
    with pytest.raises(MrzFormatError):
        parse_td1((SPECIMEN[0][:29], *SPECIMEN[1:]))
    with pytest.raises(MrzFormatError):
        parse_ine_mrz(SPECIMEN)  # valid ICAO, but not an INE card


digits = st.text("0123456789", min_size=1, max_size=1)


@given(
    cic=st.text("0123456789", min_size=9, max_size=9),
    ocr=st.text("0123456789", min_size=13, max_size=13),
    yy=st.integers(0, 99), mm=st.integers(1, 12), dd=st.integers(1, 28),
    vig=st.integers(0, 99), sex=st.sampled_from("HM"),
    emision=st.text("0123456789", min_size=2, max_size=2),
    extra=st.text("0123456789", min_size=5, max_size=5),
    names=st.lists(st.text("ABCDEFGHIJKLMNÑOPQRSTUVWXYZÁÉ", min_size=1, max_size=12), min_size=3, max_size=3),
)
def test_ine_zone_round_trip(cic, ocr, yy, mm, dd, vig, sex, emision, extra, names) -> None:
    birth = f"{yy:02d}{mm:02d}{dd:02d}"
    lines = compose_ine_td1(cic=cic, ocr=ocr, birth_date=birth, sex=sex, expiry_date=f"{vig:02d}1231",
                            emision=emision, extra=extra, apellido_paterno=names[0],
                            apellido_materno=names[1], nombres=names[2])
    assert all(len(line) == 30 for line in lines) and lines[0].startswith("IDMEX")
    m = parse_ine_mrz(lines)
    assert m.td1.valid, m.td1.failed_checks
    assert (m.cic, m.ocr, m.birth_date, m.sex, m.emision, m.extra) == (cic, ocr, birth, sex, emision, extra)
    assert m.seccion == ocr[:4] and m.identificador == ocr[4:]
    assert m.apellido_paterno == mrz_name(names[0])[:30]


def test_names_are_folded_to_mrz_letters() -> None:
    assert mrz_name("Muñoz de la Peña") == "MUNOZ<DE<LA<PENA"
    assert mrz_name("José-María") == "JOSE<MARIA"


def _ine(paterno: str, materno: str, nombres: str) -> tuple[str, str, str]:
    return compose_ine_td1(cic="123456789", ocr="0901123456789", birth_date="900101", sex="M",
                           expiry_date="301231", emision="01", extra="00000", apellido_paterno=paterno,
                           apellido_materno=materno, nombres=nombres)


@pytest.mark.parametrize(("line3", "cut"), [
    ("MUESTRA<PRUEBA<<PERSONA<<<<<<<", False),   # filler after the given names: whole
    ("MUESTRA<PRUEBA<<PERSONA<EJEMPL", True),    # full: the last given name lost its end
    ("MUESTRAS<PRUEBAS<<PERSONA<EJEM", True),    # exactly full: whole or cut, nobody can tell
    ("MUESTRAS<PRUEBAS<<PERSONA<EJE<", True),    # one '<': a cut may fall just after a space
    ("MUESTRAS<PRUEBAS<<PERSONA<EJ<<", False),   # two '<' after a given name: whole
    ("MUESTRA<PRUEBA<EJEMPLO<SINTET<", True),    # the surnames fill the line: no given names
    ("MUESTRAS<PRUEBAS<EJEMPLOS<A<<<", False),   # no given names, but room for them: whole
    ("MUESTRAS<PRUEBAS<EJEMPLOS<AB<<", True),    # a cut right after "<<" leaves two '<'
    ("ERIKSSON<<ANNA<MARIA<<<<<<<<<<", False),   # ICAO's specimen
])
def test_name_cut_is_what_the_filler_can_prove(line3: str, cut: bool) -> None:
    assert len(line3) == 30 and name_cut(line3) is cut


def test_a_long_name_is_parsed_as_cut_and_a_short_one_as_whole() -> None:
    cut = parse_ine_mrz(_ine("Muestra", "Prueba", "Persona Ejemplo Sintética"))
    assert cut.td1.lines[2] == "MUESTRA<PRUEBA<<PERSONA<EJEMPL"
    assert (cut.nombres, cut.name_truncated, cut.td1.name_truncated) == ("PERSONA EJEMPL", True, True)
    whole = parse_ine_mrz(_ine("Muestra", "Prueba", "Persona"))
    assert (whole.nombres, whole.name_truncated) == ("PERSONA", False)
    assert not parse_td1(SPECIMEN).name_truncated


_name = st.text("ABCDEFGHIJKLMNÑOPQRSTUVWXYZÁÉ -", min_size=1, max_size=16).filter(
    lambda s: bool(mrz_name(s)))


@given(paterno=_name, materno=_name, nombres=_name)
def test_a_name_longer_than_the_field_is_never_cut_silently(paterno: str, materno: str, nombres: str) -> None:
    full = f"{mrz_name(paterno)}<{mrz_name(materno)}<<{mrz_name(nombres)}"
    m = parse_ine_mrz(_ine(paterno, materno, nombres))
    if len(full) > 30:
        assert m.name_truncated
        assert full.startswith(m.td1.lines[2].rstrip("<"))   # what is kept is the name's prefix
    if m.name_truncated:
        assert len(full) >= 29          # only a name that fills the line (or one less) is in doubt
    else:
        assert m.nombres == mrz_name(nombres).replace("<", " ")
