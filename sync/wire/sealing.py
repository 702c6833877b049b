"""Device side of sealing: HPKE-seal a record to the server and sign the envelope.

The device holds only the server's *public* sealing key, so nothing here (or
anywhere on the device) can open what was sealed. The server's open lives in
``sync.wire.envelope_open``, which device code must not import.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519

from sync.wire import envelope as env
from sync.wire.envelope import SuiteSpec
from sync.wire.record import Record, encode_record

# Sealing keys are not X.509-shaped (X-Wing has no PKCS#8 form in every OpenSSL), so their
# files are one line each (docs/server.md, "Key files"):
#     fieldkit-seal-public-v1 <suite> <base64 raw public key>
#     fieldkit-seal-private-v1 <suite> <base64 raw private key>   (server only, mode 0600)
SEAL_PUBLIC_TAG = "fieldkit-seal-public-v1"
SEAL_PRIVATE_TAG = "fieldkit-seal-private-v1"

_KEMS = {0x647A: hpke.KEM.MLKEM768_X25519, 0x0020: hpke.KEM.X25519}
_KDFS = {0x0001: hpke.KDF.HKDF_SHA256}
_AEADS = {0x0002: hpke.AEAD.AES_256_GCM}
MLKEM768_PUB_LEN = 1184
X25519_LEN = 32


def hpke_suite(spec: SuiteSpec) -> hpke.Suite:
    return hpke.Suite(_KEMS[spec.kem_id], _KDFS[spec.kdf_id], _AEADS[spec.aead_id])


def enc_length(spec: SuiteSpec) -> int:
    return _KEMS[spec.kem_id].enc_length()


@dataclass(frozen=True, slots=True)
class ServerPublicKey:
    """The server's sealing public key as provisioned: suite + raw bytes.

    Raw form: X25519 = the 32-byte public key; MLKEM768-X25519 = the 1184-byte
    ML-KEM-768 encapsulation key followed by the 32-byte X25519 key (1216 bytes,
    the X-Wing public key layout).
    """

    suite: SuiteSpec
    raw: bytes

    def __post_init__(self) -> None:
        want = {0x647A: MLKEM768_PUB_LEN + X25519_LEN, 0x0020: X25519_LEN}[self.suite.kem_id]
        if len(self.raw) != want:
            raise ValueError(f"{self.suite.name} public key must be {want} bytes")

    @property
    def key_id(self) -> bytes:
        return env.key_id(self.suite.kem_id, self.raw)

    def hpke_key(self) -> x25519.X25519PublicKey | hpke.MLKEM768X25519PublicKey:
        if self.suite.kem_id == 0x0020:
            return x25519.X25519PublicKey.from_public_bytes(self.raw)
        return hpke.MLKEM768X25519PublicKey(
            mlkem.MLKEM768PublicKey.from_public_bytes(self.raw[:MLKEM768_PUB_LEN]),
            x25519.X25519PublicKey.from_public_bytes(self.raw[MLKEM768_PUB_LEN:]),
        )


def format_seal_key_line(tag: str, suite: SuiteSpec, raw: bytes) -> str:
    """One line of a sealing key file."""
    return f"{tag} {suite.name} {base64.b64encode(raw).decode()}\n"


def parse_seal_key_line(text: str, tag: str) -> tuple[SuiteSpec, bytes]:
    """Suite and raw key bytes of a sealing key file's text; ValueError says what is wrong."""
    parts = text.split()
    if len(parts) != 3 or parts[0] != tag:
        raise ValueError(f"se esperaba una línea '{tag} <suite> <base64>'")
    try:
        return env.suite_by_name(parts[1]), base64.b64decode(parts[2], validate=True)
    except (ValueError, binascii.Error) as e:
        raise ValueError(str(e)) from None


def read_seal_public(text: str) -> ServerPublicKey:
    """The server's sealing public key from its file's text."""
    suite, raw = parse_seal_key_line(text, SEAL_PUBLIC_TAG)
    return ServerPublicKey(suite, raw)


def read_seal_public_file(path: Path) -> ServerPublicKey:
    """The server's sealing public key file: the one reader, device and server alike.
    ValueError says what is wrong, naming the file."""
    try:
        return read_seal_public(path.read_text("ascii"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from None


@dataclass(frozen=True, slots=True)
class SealedEnvelope:
    data: bytes  # the envelope, exactly as stored and sent
    sha256: bytes  # envelope_hash(data), quoted back by the server's ack
    header: env.EnvelopeHeader


class Sealer:
    """Seals records for one device. Holds the device's signing key, never a way to open."""

    def __init__(self, device_id: str, signing_key: ed25519.Ed25519PrivateKey,
                 server_key: ServerPublicKey) -> None:
        if not device_id:
            raise ValueError("device_id must not be empty")
        self.device_id = device_id
        self._signing_key = signing_key
        self.server_key = server_key
        self._suite = hpke_suite(server_key.suite)
        self._pub = server_key.hpke_key()
        self._enc_len = enc_length(server_key.suite)

    def seal(self, record: Record, created_ms: int | None = None) -> SealedEnvelope:
        if record.device_id != self.device_id:
            raise ValueError(f"record names device {record.device_id!r}, not {self.device_id!r}")
        plaintext = encode_record(record)
        info = env.hpke_info(record.record_id, self.device_id)
        out = self._suite.encrypt(plaintext, self._pub, info)
        header = env.EnvelopeHeader(
            record_id=record.record_id,
            device_id=self.device_id,
            folio=record.folio,
            created_ms=int(time.time() * 1000) if created_ms is None else created_ms,
            suite=self.server_key.suite,
            key_id=self.server_key.key_id,
            enc=out[: self._enc_len],
            ct=out[self._enc_len :],
        )
        body = env.encode_body(header)
        sig = self._signing_key.sign(env.SIGN_CONTEXT + body)
        data = env.join(body, sig)
        return SealedEnvelope(data, env.envelope_hash(data), header)
