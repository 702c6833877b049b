"""Folios: format, check character, fleet-unique prefixes, never reused."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.outbox.errors import OutboxStateError
from sync.outbox.outbox import Outbox
from sync.wire.folio import ALPHABET, FolioError, check_char, make_folio, parse_folio
from tests.helpers.outbox import make_keys, new_outbox, tiny_record


def test_format_and_parse() -> None:
    f = make_folio("7KQ2", 42)
    assert f == f"7KQ2-00042-{check_char('7KQ200042')}"
    p = parse_folio(f)
    assert (p.prefix, p.seq, p.text) == ("7KQ2", 42, f)
    assert parse_folio(" " + f.lower().replace("0", "o") + " ").text == f  # typed by a person
    assert make_folio("AB", 1234567).startswith("AB-1234567-")
    for bad in ("7KQ2-0042-1", "7KQ2_00042_1", "7KQI-00042-1", "", "X-00001-1"):
        with pytest.raises(FolioError):
            parse_folio(bad)
    for bad_prefix in ("I", "ABCDEFG", "AB-C", "ab"):
        with pytest.raises(FolioError):
            make_folio(bad_prefix, 1)
    with pytest.raises(FolioError):
        make_folio("7KQ2", 0)


def test_check_character_catches_every_single_substitution() -> None:
    for seq in (1, 42, 99999, 123456):
        f = make_folio("7KQ2", seq)
        for i, ch in enumerate(f):
            if ch == "-":
                continue
            pool = "0123456789" if f.index("-") < i < f.rindex("-") else ALPHABET
            for c in pool:
                if c != ch:
                    with pytest.raises(FolioError):
                        parse_folio(f[:i] + c + f[i + 1 :])


def test_check_character_catches_adjacent_swaps_of_digits() -> None:
    missed = 0
    total = 0
    for seq in range(1, 3000, 7):
        f = make_folio("7KQ2", seq)
        digits = f.split("-")[1]
        for i in range(len(digits) - 1):
            if digits[i] == digits[i + 1]:
                continue
            total += 1
            swapped = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
            try:
                parse_folio(f"7KQ2-{swapped}-{f[-1]}")
                missed += 1
            except FolioError:
                pass
    assert total > 1000 and missed == 0


def test_sequence_never_reused_after_erase_and_reopen(tmp_path: Path) -> None:
    keys = make_keys()
    ob, key = new_outbox(tmp_path, keys, prefix="7KQ2")
    first = [ob.put(tiny_record(seed=i), keys.sealer()).folio for i in range(3)]
    assert [parse_folio(f).seq for f in first] == [1, 2, 3]
    for item in ob.next_batch(10):
        ob.acknowledge(keys.ack_for(item), keys.verifier())
    assert ob.folios() == []
    ob.close()
    ob = Outbox.open(ob.path, key)
    nxt = ob.put(tiny_record(seed=9), keys.sealer()).folio
    assert parse_folio(nxt).seq == 4 and nxt not in first
    ob.close()


def test_new_prefix_after_reenrollment_and_no_prefix_reuse(tmp_path: Path) -> None:
    keys = make_keys()
    ob, _ = new_outbox(tmp_path, keys, prefix="7KQ2")
    a = ob.put(tiny_record(seed=1), keys.sealer()).folio
    ob.set_folio_prefix("9ZZ3")
    b = ob.put(tiny_record(seed=2), keys.sealer()).folio
    assert a.startswith("7KQ2-") and b.startswith("9ZZ3-") and ob.folio_prefix == "9ZZ3"
    with pytest.raises(OutboxStateError):
        ob.set_folio_prefix("7KQ2")
    with pytest.raises(FolioError):
        ob.set_folio_prefix("bad prefix")
    assert ob.folios() == [a, b]
    ob.close()
