"""SERVER ONLY: open and verify envelopes. Device code must never import this module.

It needs the server's sealing *private* key, which exists only on the server.
``server_stub`` uses it; ``kiosk`` and the device's sync agent do not.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519

from sync.wire import envelope as env
from sync.wire.envelope import HYBRID, SuiteSpec
from sync.wire.errors import (
    EnvelopeDecryptError,
    EnvelopeFormatError,
    EnvelopeSignatureError,
    RecordFormatError,
)
from sync.wire.record import Record, decode_record
from sync.wire.sealing import ServerPublicKey, hpke_suite


@dataclass(frozen=True)
class ServerPrivateKey:
    """The server's sealing private key.

    Storage form (server-internal, not a wire format): X25519 = 32-byte private key;
    MLKEM768-X25519 = 64-byte ML-KEM seed (d||z) followed by the 32-byte X25519 key.
    """

    suite: SuiteSpec
    raw: bytes

    @classmethod
    def generate(cls, suite: SuiteSpec = HYBRID) -> ServerPrivateKey:
        x = x25519.X25519PrivateKey.generate().private_bytes_raw()
        if suite.kem_id == 0x0020:
            return cls(suite, x)
        return cls(suite, mlkem.MLKEM768PrivateKey.generate().private_bytes_raw() + x)

    def hpke_key(self) -> x25519.X25519PrivateKey | hpke.MLKEM768X25519PrivateKey:
        if self.suite.kem_id == 0x0020:
            return x25519.X25519PrivateKey.from_private_bytes(self.raw)
        return hpke.MLKEM768X25519PrivateKey(
            mlkem.MLKEM768PrivateKey.from_seed_bytes(self.raw[:64]),
            x25519.X25519PrivateKey.from_private_bytes(self.raw[64:]),
        )

    def public_key(self) -> ServerPublicKey:
        xpub = x25519.X25519PrivateKey.from_private_bytes(self.raw[-32:]).public_key()
        raw = xpub.public_bytes_raw()
        if self.suite.kem_id != 0x0020:
            m = mlkem.MLKEM768PrivateKey.from_seed_bytes(self.raw[:64]).public_key()
            raw = m.public_bytes_raw() + raw
        return ServerPublicKey(self.suite, raw)


@dataclass(frozen=True, slots=True)
class OpenedEnvelope:
    header: env.EnvelopeHeader
    record: Record
    sha256: bytes  # what the ack must quote
    plaintext: bytes  # the record's CBOR exactly as the device sealed it


DeviceKeyLookup = Callable[[str], ed25519.Ed25519PublicKey | None]


def verify_envelope(data: bytes, device_keys: DeviceKeyLookup) -> env.EnvelopeHeader:
    """Parse and check the device signature; no decryption."""
    header, body, sig = env.parse(data)
    pub = device_keys(header.device_id)
    if pub is None:
        raise EnvelopeSignatureError(f"unknown device {header.device_id!r}")
    try:
        pub.verify(sig, env.SIGN_CONTEXT + body)
    except InvalidSignature:
        raise EnvelopeSignatureError("device signature does not verify") from None
    return header


def open_envelope(data: bytes, server_keys: Iterable[ServerPrivateKey],
                  device_keys: DeviceKeyLookup) -> OpenedEnvelope:
    """Verify the signature, open the HPKE ciphertext, decode and cross-check the record."""
    header = verify_envelope(data, device_keys)
    key = next((k for k in server_keys
                if k.public_key().key_id == header.key_id and k.suite == header.suite), None)
    if key is None:
        raise EnvelopeDecryptError(f"no server key with id {header.key_id.hex()}")
    info = env.hpke_info(header.record_id, header.device_id)
    try:
        plaintext = hpke_suite(header.suite).decrypt(header.enc + header.ct, key.hpke_key(), info)
    except (InvalidTag, ValueError) as e:
        raise EnvelopeDecryptError(f"HPKE open failed: {type(e).__name__}") from None
    try:
        record = decode_record(plaintext)
    except RecordFormatError as e:
        raise EnvelopeFormatError(f"sealed record is malformed: {e}") from e
    if (record.record_id != header.record_id or record.device_id != header.device_id
            or record.folio != header.folio):
        raise EnvelopeFormatError("sealed record disagrees with the envelope header")
    return OpenedEnvelope(header, record, env.envelope_hash(data), plaintext)


def record_id_of(data: bytes) -> uuid.UUID:
    """Record id from an envelope without verifying it (for logging only)."""
    return env.parse(data)[0].record_id
