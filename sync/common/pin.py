"""Operator PINs, stored only as scrypt hashes: `scrypt$n$r$p$salt_hex$hash_hex`."""

from __future__ import annotations

import hashlib
import hmac
import os

N, R, P = 2**14, 8, 1  # ~20 ms here; a Pi 4 takes a few times that, once per unlock


def hash_pin(pin: str, *, salt: bytes | None = None, n: int = N, r: int = R, p: int = P) -> str:
    if not (pin.isdigit() and 4 <= len(pin) <= 12):
        raise ValueError("el PIN debe tener de 4 a 12 dígitos")
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    """Constant-time check of `pin` against a stored hash; False on any malformed hash."""
    try:
        scheme, n, r, p, salt_hex, hash_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(hash_hex)
        digest = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt_hex), n=int(n), r=int(r),
                                p=int(p), dklen=len(expected), maxmem=256 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, expected)
