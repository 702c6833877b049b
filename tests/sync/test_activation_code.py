"""The self-service activation code: format, typo check, derived values (sync/wire/activation.py)."""

from __future__ import annotations

import itertools

import pytest

from sync.wire.activation import (
    ALPHABET,
    CODE_CHARS,
    ActivationCodeError,
    mask_email,
    new_code,
    new_ref,
    parse_code,
    valid_cic,
)
from sync.wire.enrollment import CodeFormatError
from sync.wire.enrollment import parse_code as parse_enroll_code


def test_a_code_prints_in_three_groups_and_parses_back_in_any_case_and_spacing() -> None:
    code = new_code("K7")
    assert len(code.text) == CODE_CHARS and code.text.startswith("K7")
    assert code.display.count("-") == 2 and all(len(g) == 4 for g in code.display.split("-"))
    assert parse_code(code.display) == code
    assert parse_code(" " + code.display.lower().replace("-", " ") + " ") == code
    # Crockford's readings: O is 0, I and L are 1.
    typed = code.text.replace("0", "O").replace("1", "I")
    assert parse_code(typed) == code


def test_the_typo_check_catches_one_wrong_character_and_a_swap_of_neighbours() -> None:
    code = new_code("AB")
    text = code.text
    missed = 0
    for i, c in itertools.product(range(CODE_CHARS), ALPHABET):
        if c == text[i]:
            continue
        typo = text[:i] + c + text[i + 1:]
        try:
            parse_code(typo)
        except ActivationCodeError:
            continue
        # The only blind spot: a 0 for a Z or the reverse (their values differ by 31).
        assert {c, text[i]} == {"0", "Z"}
        missed += 1
    assert missed <= CODE_CHARS
    for i in range(CODE_CHARS - 1):
        a, b = text[i], text[i + 1]
        if a == b or {a, b} == {"0", "Z"}:
            continue
        with pytest.raises(ActivationCodeError):
            parse_code(text[:i] + b + a + text[i + 2:])


def test_wrong_lengths_and_an_enrollment_code_are_not_activation_codes_and_the_reverse() -> None:
    with pytest.raises(ActivationCodeError, match="12 caracteres") as e:
        parse_code("ABCD-EFGH")
    assert e.value.kind == "length"
    good = new_code("K7").text
    with pytest.raises(ActivationCodeError, match="no es correcto") as e:
        parse_code(good[:-1] + ("0" if good[-1] != "0" else "1"))
    assert e.value.kind == "check"
    with pytest.raises(ActivationCodeError, match="12 caracteres"):
        parse_code("7KQ2-M9XB-T4RP-3HDA-0ZCW")            # an enrollment code's shape
    with pytest.raises(CodeFormatError):
        parse_enroll_code(new_code("K7").display)          # and the enrollment parser refuses ours


def test_the_derived_values_bind_the_code_to_one_device_and_one_card() -> None:
    code = new_code("K7")
    again = parse_code(code.display)
    assert code.code_id() == again.code_id() and len(code.code_id()) == 64
    assert code.text not in code.code_id()
    mac = code.binding_mac("dev-0001", "123456789")
    assert mac == again.binding_mac("dev-0001", "123456789")
    assert mac != code.binding_mac("dev-0002", "123456789")
    assert mac != code.binding_mac("dev-0001", "123456780")
    # The separator keeps device and CIC apart: no shifting of characters between them.
    assert code.binding_mac("dev-00011", "23456789") != code.binding_mac("dev-0001", "123456789")
    assert new_code("K7").code_id() != code.code_id()


def test_refs_avoid_the_ones_taken_and_run_out_clearly() -> None:
    taken = {a + b for a in ALPHABET for b in ALPHABET} - {"Q5"}
    assert new_ref(taken) == "Q5"
    with pytest.raises(ValueError):
        new_ref(taken | {"Q5"})
    with pytest.raises(ValueError):
        new_code("K")


def test_what_a_screen_shows_of_an_address_and_a_cic() -> None:
    assert mask_email("carla.r@gmail.com") == "c•••@g•••.com"
    assert mask_email("x@localhost") == "x•••@l•••"
    assert valid_cic("123456789") and valid_cic("1234567890")
    assert not valid_cic("12345678") and not valid_cic("12345678A")
