"""Read SQLCipher 4 pages with our own code (defaults: 4096-byte pages, AES-256-CBC,
HMAC-SHA512, 16-byte IV + 64-byte HMAC reserved at the end of each page, raw key).

Used to tell a wrong key from a corrupted file, and by the tests to look at what is
really on disk: decrypted pages (free pages included) of the DB and of the WAL.

Page layout (page number n, 1-based; ``key`` is the raw 32-byte key):
  page 1 starts with the 16-byte salt; the encrypted area is [16, 4016) on page 1 and
  [0, 4016) elsewhere; then IV (16 bytes) and HMAC (64 bytes).
  HMAC key = PBKDF2-HMAC-SHA512(key, salt XOR 0x3a, 2 iterations, 32 bytes)
  HMAC = HMAC-SHA512(hmac key, encrypted area || IV || n as uint32 LE)
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PAGE = 4096
SALT = 16
IV = 16
MAC = 64
RESERVE = IV + MAC
SQLITE_MAGIC = b"SQLite format 3\x00"
WAL_HEADER = 32
WAL_FRAME_HEADER = 24


def hmac_key(key: bytes, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha512", key, bytes(b ^ 0x3A for b in salt), 2, 32)


@dataclass(frozen=True, slots=True)
class Page:
    pgno: int
    plain: bytes  # the full decrypted page, as SQLite sees it (page 1 with its magic)
    hmac_ok: bool


def decrypt_page(raw: bytes, pgno: int, key: bytes, mac_key: bytes) -> Page:
    if len(raw) != PAGE:
        raise ValueError("short page")
    start = SALT if pgno == 1 else 0
    body, iv, mac = raw[start : PAGE - RESERVE], raw[PAGE - RESERVE : PAGE - MAC], raw[-MAC:]
    calc = hmac.new(mac_key, raw[start : PAGE - MAC] + struct.pack("<I", pgno), "sha512")
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    plain = dec.update(body) + dec.finalize()
    if pgno == 1:
        plain = SQLITE_MAGIC + plain
    return Page(pgno, plain + bytes(RESERVE), hmac.compare_digest(calc.digest(), mac))


def read_salt(db_path: str | os.PathLike[str]) -> bytes:
    with open(db_path, "rb") as f:
        return f.read(SALT)


def db_pages(db_path: str | os.PathLike[str], key: bytes) -> Iterator[Page]:
    with open(db_path, "rb") as f:
        first = f.read(PAGE)
        if len(first) < PAGE:
            return
        mk = hmac_key(key, first[:SALT])
        yield decrypt_page(first, 1, key, mk)
        pgno = 2
        while len(raw := f.read(PAGE)) == PAGE:
            yield decrypt_page(raw, pgno, key, mk)
            pgno += 1


def wal_pages(wal_path: str | os.PathLike[str], key: bytes, salt: bytes) -> Iterator[Page]:
    """Every frame in the WAL file, valid or stale (stale frames are exactly what we want
    to inspect: old page versions that SQLite would no longer read)."""
    try:
        with open(wal_path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return
    mk = hmac_key(key, salt)
    off = WAL_HEADER
    while off + WAL_FRAME_HEADER + PAGE <= len(data):
        pgno = struct.unpack(">I", data[off : off + 4])[0]
        raw = data[off + WAL_FRAME_HEADER : off + WAL_FRAME_HEADER + PAGE]
        if pgno >= 1:
            yield decrypt_page(raw, pgno, key, mk)
        off += WAL_FRAME_HEADER + PAGE


def page1_header_plausible(plain: bytes) -> bool:
    """Page size 4096, file format 1/2, reserve 80, payload fractions 64/32/32."""
    return plain[16:18] == b"\x10\x00" and plain[18] in (1, 2) and plain[19] in (1, 2) and \
        plain[20:24] == bytes([RESERVE, 64, 32, 32])


def key_matches(db_path: str | os.PathLike[str], key: bytes, max_pages: int = 64) -> bool:
    """True if ``key`` is this file's key: page 1 decrypts to a SQLite header, or any of the
    first pages (of the DB or its WAL) passes its HMAC. With a wrong key neither happens
    (chance 2^-48 and 2^-512)."""
    salt = read_salt(db_path)
    for n, page in enumerate(db_pages(db_path, key)):
        if page.hmac_ok or (page.pgno == 1 and page1_header_plausible(page.plain)):
            return True
        if n >= max_pages:
            break
    for n, page in enumerate(wal_pages(f"{os.fspath(db_path)}-wal", key, salt)):
        if page.hmac_ok:
            return True
        if n >= max_pages:
            break
    return False
