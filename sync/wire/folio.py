"""Folios: short, human-readable, fleet-unique receipt numbers.

``PREFIX-SEQUENCE-C``: the prefix is allocated by the server at enrollment
(Crockford base32, 2-6 characters; a wiped, re-enrolled device gets a new one), the
sequence is a per-outbox counter that is never decremented (at least 5 decimal digits),
and C is a Luhn mod 32 check character over prefix and sequence, in Crockford base32.
Example: ``7KQ2-00042-6``. A single mistyped character is always caught by the check
character, and so is a swap of two adjacent characters unless they are ``0`` and ``Z``
(Luhn mod 32's one blind pair; the sequence is digits only, where every swap is caught).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
_PREFIX_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{2,6}$")
_FOLIO_RE = re.compile(r"^([0-9A-HJKMNP-TV-Z]{2,6})-([0-9]{5,12})-([0-9A-HJKMNP-TV-Z])$")
SEQ_DIGITS = 5


class FolioError(ValueError):
    """A folio or prefix that is malformed or fails its check character."""


def validate_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not _PREFIX_RE.match(prefix):
        raise FolioError(
            f"folio prefix {prefix!r} must be 2-6 Crockford base32 characters (no I, L, O, U)"
        )
    return prefix


def check_char(body: str) -> str:
    """Luhn mod N (N = 32) check character over ``body`` (Crockford characters)."""
    n = len(ALPHABET)
    factor = 2
    total = 0
    for ch in reversed(body):
        addend = factor * _INDEX[ch]
        factor = 1 if factor == 2 else 2
        total += addend // n + addend % n
    return ALPHABET[(n - total % n) % n]


def make_folio(prefix: str, seq: int) -> str:
    validate_prefix(prefix)
    if seq < 1:
        raise FolioError(f"folio sequence must be >= 1, got {seq}")
    digits = f"{seq:0{SEQ_DIGITS}d}"
    return f"{prefix}-{digits}-{check_char(prefix + digits)}"


@dataclass(frozen=True, slots=True)
class Folio:
    prefix: str
    seq: int
    text: str


def normalize(text: str) -> str:
    """Upper-case, drop spaces, and map the Crockford look-alikes (O->0, I/L->1)."""
    t = text.strip().upper().replace(" ", "")
    return t.replace("O", "0").replace("I", "1").replace("L", "1")


def parse_folio(text: str) -> Folio:
    """Parse a folio typed by a person; raises FolioError if malformed or misspelt."""
    t = normalize(text)
    m = _FOLIO_RE.match(t)
    if not m:
        raise FolioError(f"{text!r} is not a folio (expected e.g. 7KQ2-00042-6)")
    prefix, digits, check = m.groups()
    if check_char(prefix + digits) != check:
        raise FolioError(f"{text!r}: check character does not match (typo?)")
    return Folio(prefix, int(digits), t)
