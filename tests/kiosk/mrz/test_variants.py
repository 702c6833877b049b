"""The reader across OCR-B renderings (cap height, pitch, weight) and its check-digit rescue.

The renderings are the project's own backs reprinted by tests.helpers.mrz_variants.
"""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.mrz import parse as M
from kiosk.mrz.decide import decide
from kiosk.mrz.glyphs import ALPHABET
from kiosk.mrz.reader import _find_lines, _gray_1024, glyph_size, read_mrz
from kiosk.testdata.cards import sample_card
from tests.helpers.mrz_variants import MrzStyle, random_variant, reprint_mrz, variant_back

STYLES = {
    "small caps, thin": MrzStyle(cap=0.84, pitch_mm=2.50, weight=-0.9),
    "small caps, bold, blurred": MrzStyle(cap=0.86, pitch_mm=2.60, weight=1.2, blur=1.2),
    "tall caps, thin": MrzStyle(cap=1.12, pitch_mm=2.46, weight=-0.7),
    "tall caps, bold": MrzStyle(cap=1.13, pitch_mm=2.56, weight=1.3),
    "as generated, wide pitch": MrzStyle(cap=1.0, pitch_mm=2.62, blur=0.7),
}


@pytest.mark.parametrize("name", list(STYLES))
def test_reads_backs_printed_at_other_cap_heights_and_weights(name: str) -> None:
    for seed, model in ((5100, "E"), (5101, "H")):
        back, lines = variant_back(seed, STYLES[name], model)
        r = read_mrz(back)
        assert r is not None and list(r.lines) == lines and r.checks_ok, (name, r and r.lines)


def test_glyph_size_is_measured_on_the_line() -> None:
    # The generator prints cap height 1.02 pitch, as the glyph table; size is relative to it,
    # and is the ink's height: a bolder print's strokes add their extra width top and bottom.
    pitch = 2.54 * 1024 / 85.6
    for cap, weight in ((0.84, 0.0), (1.02, 0.0), (1.12, 0.0), (0.9, 1.0), (1.08, -0.8)):
        back, _ = variant_back(5102, MrzStyle(cap=cap, weight=weight))
        gray = _gray_1024(back)
        got = glyph_size(gray, _find_lines(gray), [pitch] * 3)
        assert abs(got - cap / 1.02) < 0.04 + 2 * abs(weight) / pitch, (cap, weight, got)


def test_random_renderings_read_right_or_not_at_all() -> None:
    right = 0
    for seed in range(300, 312):
        back, lines, style = random_variant(seed)
        r = read_mrz(back)
        assert r is not None
        if r.checks_ok:
            assert list(r.lines) == lines, (seed, style, r.lines)
            right += 1
    assert right >= 11


LOOKALIKES = M.compose_ine_td1(
    cic="885308853", ocr="5880385083585", birth_date="880530", sex="H", expiry_date="351231",
    emision="08", extra="58358", apellido_paterno="FEPOD", apellido_materno="QODEF",
    nombres="PEFO DOQ",
)


@pytest.mark.parametrize("style", [MrzStyle(cap=0.85), MrzStyle(cap=1.12), MrzStyle(cap=1.0, weight=1.2),
                                   MrzStyle(cap=0.9, weight=-0.8, blur=1.0)])
def test_lookalikes_are_told_apart(style: MrzStyle) -> None:
    # F/P/E, O/D/Q in the names (no check digit guards them), 8/5/3/0 in the numbers.
    _, back, _ = sample_card(5103, "G")
    r = read_mrz(reprint_mrz(back, list(LOOKALIKES), style))
    assert r is not None and list(r.lines) == list(LOOKALIKES) and r.checks_ok and not r.corrections


# -- the check-digit rescue, on scores made by hand ---------------------------------------------

def _scores(lines: list[str]) -> list[np.ndarray]:
    """Scores of a confident read of `lines`: 0.9 for the printed character, 0.4 elsewhere."""
    out = []
    for ln in lines:
        sc = np.full((30, len(ALPHABET)), 0.4, np.float32)
        for i, c in enumerate(ln):
            sc[i, ALPHABET.index(c)] = 0.9
        out.append(sc)
    return out


def _set(sc: np.ndarray, pos: int, scores: dict[str, float]) -> None:
    for c, v in scores.items():
        sc[pos, ALPHABET.index(c)] = v


def _truth() -> list[str]:
    return list(M.compose_ine_td1(
        cic="123456789", ocr="1234567890123", birth_date="900101", sex="M", expiry_date="301231",
        emision="01", extra="12345", apellido_paterno="MUESTRA", apellido_materno="PRUEBA",
        nombres="ANA"))


def _wrong_but_passing(truth: str, p: int) -> tuple[str, int, str]:
    """A wrong digit at CIC position p, and another CIC position q and digit that make the CIC's
    check digit pass again (a second wrong digit)."""
    for wrong in "0123456789":
        if wrong == truth[p]:
            continue
        for q in range(5, 14):
            if q == p:
                continue
            for d in "0123456789":
                t = list(truth)
                t[p], t[q] = wrong, d
                if d != truth[q] and M.check_digit("".join(t[5:14])) == t[14]:
                    return wrong, q, d
    raise AssertionError("no such pair")


def test_a_clear_rescue_is_taken() -> None:
    truth = _truth()
    sc = _scores(truth)
    p = 8
    wrong = "3" if truth[0][p] != "3" else "4"
    _set(sc[0], p, {wrong: 0.9, truth[0][p]: 0.87})
    lines, corrections, ok = decide(sc)
    assert list(lines) == truth and ok and len(corrections) == 1


def test_a_rescue_with_a_rival_as_cheap_is_refused() -> None:
    truth = _truth()
    sc = _scores(truth)
    p = 8
    wrong, q, d = _wrong_but_passing(truth[0], p)
    # The true digit at p is a close runner-up; so is a wrong digit at q that passes the check
    # as well, a little cheaper. The cheapest rescue would be a wrong read with valid checks.
    _set(sc[0], p, {wrong: 0.9, truth[0][p]: 0.87})
    _set(sc[0], q, {d: 0.88})
    lines, _, ok = decide(sc)
    assert not ok
    assert not (ok and list(lines) != truth)


def test_a_rescue_far_below_the_best_is_refused() -> None:
    truth = _truth()
    sc = _scores(truth)
    p = 8
    wrong = "3" if truth[0][p] != "3" else "4"
    _set(sc[0], p, {wrong: 0.9, truth[0][p]: 0.81})     # 0.09 below: a guess, not a read
    _, corrections, ok = decide(sc)
    assert not ok and not corrections


def test_after_a_rescue_another_near_tie_makes_the_read_untrusted() -> None:
    truth = _truth()
    sc = _scores(truth)
    p = 8
    wrong = "3" if truth[0][p] != "3" else "4"
    _set(sc[0], p, {wrong: 0.9, truth[0][p]: 0.88})
    # Line 2's birth date: a digit whose runner-up is nearly as good (the same confusion,
    # possibly elsewhere and cancelling in a check digit).
    other = "8" if truth[1][2] != "8" else "6"
    _set(sc[1], 2, {other: 0.89})
    lines, corrections, ok = decide(sc)
    assert corrections and not ok
    # Without the near tie the same rescue is trusted.
    _set(sc[1], 2, {other: 0.4})
    lines, corrections, ok = decide(sc)
    assert ok and list(lines) == truth
