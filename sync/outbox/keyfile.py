"""The outbox key file: 32 random bytes as 64 hex digits, mode 0600, made at provisioning."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from sync.outbox.errors import KeyFileError

KEY_LEN = 32
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def create_key_file(path: str | os.PathLike[str]) -> bytes:
    """Write a new random key; refuses to overwrite an existing file. Returns the key."""
    key = os.urandom(KEY_LEN)
    p = Path(path)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"key file {p} already exists; refusing to overwrite it") from None
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, key.hex().encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    dfd = os.open(p.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return key


def load_key(path: str | os.PathLike[str]) -> bytes:
    """Read and validate the key file: regular file, no group/other access, 64 hex digits."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise KeyFileError(f"outbox key file {p} does not exist") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(f"outbox key file {p} is not a regular file")
    if st.st_mode & 0o077:
        raise KeyFileError(
            f"outbox key file {p} has mode {stat.S_IMODE(st.st_mode):04o}; it must be 0600"
        )
    with open(p, "rb") as f:
        text = f.read(256).decode("ascii", errors="replace").strip()
    if not _HEX64.match(text):
        raise KeyFileError(f"outbox key file {p} must hold exactly 64 hex digits")
    return bytes.fromhex(text)


def key_pragma(key: bytes) -> str:
    """``PRAGMA key = "x'…'"`` built only from validated bytes (never from caller text)."""
    if not isinstance(key, bytes) or len(key) != KEY_LEN:
        raise KeyFileError("outbox key must be exactly 32 bytes")
    return f"PRAGMA key = \"x'{key.hex()}'\""
