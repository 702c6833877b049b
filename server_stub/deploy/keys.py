"""Server key files: the HPKE sealing key pair and the Ed25519 ack-signing key.

Sealing key files are one line each; their format is defined (and read) in
``sync.wire.sealing``, shared with the device. The raw layouts are those of
``sync.wire.sealing.ServerPublicKey`` and ``sync.wire.envelope_open.ServerPrivateKey``.
Signing keys are ordinary PEM.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from sync.wire.envelope_open import ServerPrivateKey
from sync.wire.sealing import (
    SEAL_PRIVATE_TAG,
    SEAL_PUBLIC_TAG,
    ServerPublicKey,
    format_seal_key_line,
    parse_seal_key_line,
    read_seal_public_file,
)


class KeyFileError(ValueError):
    """A key file is missing, malformed or readable by others."""


def write_private(path: Path, data: bytes) -> Path:
    """Create with 0600 from the first byte (no window where the key is readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def _read_private(path: Path) -> bytes:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no existe") from None
    if st.st_mode & 0o077:
        raise KeyFileError(f"{path}: modo {stat.S_IMODE(st.st_mode):04o}; una clave privada debe ser 0600")
    return path.read_bytes()


# --- sealing (HPKE) -----------------------------------------------------------------------


def write_seal_keys(private_path: Path, public_path: Path, key: ServerPrivateKey) -> None:
    write_private(private_path, format_seal_key_line(SEAL_PRIVATE_TAG, key.suite, key.raw).encode())
    pub = key.public_key()
    public_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.write_text(format_seal_key_line(SEAL_PUBLIC_TAG, pub.suite, pub.raw))


def load_seal_private(path: Path) -> ServerPrivateKey:
    text = _read_private(path).decode("ascii", "replace")  # raises KeyFileError naming the file
    try:
        suite, raw = parse_seal_key_line(text, SEAL_PRIVATE_TAG)
    except ValueError as e:
        raise KeyFileError(f"{path}: {e}") from None
    want = 32 if suite.kem_id == 0x0020 else 96
    if len(raw) != want:
        raise KeyFileError(f"{path}: una clave privada {suite.name} tiene {want} bytes, no {len(raw)}")
    return ServerPrivateKey(suite, raw)


def load_seal_public(path: Path) -> ServerPublicKey:
    try:
        return read_seal_public_file(path)
    except ValueError as e:
        raise KeyFileError(str(e)) from None


# --- signing (Ed25519) --------------------------------------------------------------------


def write_sign_keys(private_path: Path, public_path: Path, key: ed25519.Ed25519PrivateKey) -> None:
    write_private(private_path, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    public_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.write_bytes(ed25519_public_pem(key.public_key()))


def ed25519_public_pem(pub: ed25519.Ed25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_sign_private(path: Path) -> ed25519.Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(_read_private(path), password=None)
    except ValueError as e:
        raise KeyFileError(f"{path}: no es una clave PEM: {e}") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyFileError(f"{path}: se esperaba una clave Ed25519, no {type(key).__name__}")
    return key


def parse_ed25519_public(data: bytes, where: str = "<clave>") -> ed25519.Ed25519PublicKey:
    """PEM SubjectPublicKeyInfo, or the raw 32 bytes (binary or 64 hex digits)."""
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text)
        except ValueError as e:
            raise KeyFileError(f"{where}: PEM no válido: {e}") from None
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise KeyFileError(f"{where}: se esperaba una clave pública Ed25519, no {type(key).__name__}")
        return key
    raw = data if len(data) == 32 else None
    if raw is None and len(text) == 64:
        try:
            raw = bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raw = None
    if raw is None:
        raise KeyFileError(f"{where}: se esperaba PEM o 32 bytes de clave Ed25519")
    return ed25519.Ed25519PublicKey.from_public_bytes(raw)


def load_ed25519_public(path: Path) -> ed25519.Ed25519PublicKey:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise KeyFileError(f"{path}: {e.strerror}") from None
    return parse_ed25519_public(data, str(path))
