"""Self-service activation codes, shared by the device and the server (docs/self-service.md).

A citizen at a self-service device asks for a code by showing the back of the card and typing
an e-mail; the server e-mails the code; the citizen types it on the same device within 24 hours
and gives the support. The server is the authority: the device keeps no secret of the code,
only its one-character typo check, so a held tablet cannot test guesses offline.

- Code: 12 Crockford base32 characters in three groups of four, ``K7Q2-M9XB-T4RC``:
  ``ref`` (2 characters, public: which of the device's pending activations the code answers;
  the server chooses it unique among the device's live activations and tells the device),
  ``secret`` (9 characters, 45 bits), ``check`` (1 character: a weighted sum of the 11 others
  modulo 31, catching any one wrong character and any swap of two neighbours, except a 0 taken
  for a Z or the reverse, whose values differ by exactly 31).
- The server stores no code: ``code_id`` = HKDF(code, "activation-id") finds it, and
  ``binding_mac`` = HMAC(HKDF(code, "activation-mac"), context || device || 0 || CIC) proves
  that a record typed it on the device and for the card it was issued to.

Differences from the enrollment code (sync/wire/enrollment.py), whose HKDF and HMAC pattern
this reuses with its own salt and contexts: shorter (a citizen types it), no CA fingerprint
part (the device is already enrolled and pins the CA), a public ``ref`` and a typo check; no
MAC travels: the typed code goes sealed to the server inside the record (``act``), and the
server recomputes the binding.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32, as folios and enrollment codes
REF_CHARS = 2
SECRET_CHARS = 9
CODE_CHARS = REF_CHARS + SECRET_CHARS + 1
HKDF_SALT = b"fieldkit/v1/activation"
BINDING_CONTEXT = b"fieldkit/v1/activation-binding\x00"
PROTOCOL_VERSION = 1
CODE_TTL_MS = 24 * 3600 * 1000
PATH = "/v1/activations"
CAPTURED_BY_CITIZEN = "ciudadano"  # the record's `by` for a self-service support
_FIX = str.maketrans({"I": "1", "L": "1", "O": "0", "U": "V"})
_CIC = re.compile(r"^\d{9,10}$")


class ActivationCodeError(ValueError):
    """Not a well-formed activation code: its str() is a Spanish sentence, `kind` says which
    problem ("length": not 12 characters of the alphabet; "check": the typo check fails)."""

    def __init__(self, text: str, kind: str) -> None:
        super().__init__(text)
        self.kind = kind


def check_char(body: str) -> str:
    """The typo check of the first 11 characters: sum of (position + 1) x value, mod 31.

    31 is prime and larger than any weight, so one wrong character or two swapped neighbours
    change the sum unless the two values differ by 31 (0 and Z)."""
    total = sum((i + 1) * ALPHABET.index(c) for i, c in enumerate(body))
    return ALPHABET[total % 31]


@dataclass(frozen=True)
class ActivationCode:
    ref: str
    secret: str

    @property
    def text(self) -> str:
        """The 12 characters, no dashes: what the record carries."""
        body = self.ref + self.secret
        return body + check_char(body)

    @property
    def display(self) -> str:
        t = self.text
        return "-".join(t[i:i + 4] for i in range(0, CODE_CHARS, 4))

    def code_id(self) -> str:
        return _hkdf(self.text, b"activation-id").hex()

    def binding_mac(self, device_id: str, cic: str) -> str:
        key = _hkdf(self.text, b"activation-mac")
        msg = BINDING_CONTEXT + device_id.encode() + b"\x00" + cic.encode()
        return hmac.new(key, msg, hashlib.sha256).hexdigest()


def _hkdf(code: str, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, HKDF_SALT, info).derive(code.encode("ascii"))


def new_code(ref: str) -> ActivationCode:
    if len(ref) != REF_CHARS or any(c not in ALPHABET for c in ref):
        raise ValueError(f"ref must be {REF_CHARS} Crockford characters")
    return ActivationCode(ref, "".join(secrets.choice(ALPHABET) for _ in range(SECRET_CHARS)))


def new_ref(taken: set[str] | frozenset[str] = frozenset()) -> str:
    """A ref not among `taken` (the device's live activations); ValueError when all are taken."""
    free = [a + b for a in ALPHABET for b in ALPHABET if a + b not in taken]
    if not free:
        raise ValueError("no free activation ref")
    return secrets.choice(free)


def normalise(text: str) -> str:
    return "".join(c for c in text.upper().translate(_FIX) if c not in "- \t")


def parse_code(text: str) -> ActivationCode:
    """A typed code (any case, dashes and spaces ignored, I/L/O taken as 1/1/0)."""
    s = normalise(text)
    if len(s) != CODE_CHARS or any(c not in ALPHABET for c in s):
        raise ActivationCodeError("el código de activación tiene 12 caracteres (3 grupos de 4)", "length")
    if check_char(s[:-1]) != s[-1]:
        raise ActivationCodeError("el código no es correcto: revise cada carácter", "check")
    return ActivationCode(s[:REF_CHARS], s[REF_CHARS:-1])


def valid_cic(cic: str) -> bool:
    return bool(_CIC.match(cic))


def mask_email(address: str) -> str:
    """What a screen may show of the address a code went to: ``c•••@g•••.com``."""
    user, _, domain = address.partition("@")
    host, dot, tld = domain.rpartition(".")
    if not host:
        host, dot, tld = domain, "", ""
    return f"{user[:1]}•••@{host[:1]}•••{dot}{tld}"
