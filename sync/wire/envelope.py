"""Envelope wire format v1 (no keys here): build and parse, shared by device and server.

    envelope = CBOR array(2) [ body: bstr, signature: bstr(64) ]
    body     = CBOR encoding of array(9) [
                 1,                       ; envelope format version
                 record_id:  bstr(16),    ; UUIDv7
                 device_id:  tstr,
                 folio:      tstr,
                 created_ms: uint,        ; Unix ms when sealed
                 suite:      [kem_id, kdf_id, aead_id],   ; HPKE (RFC 9180) ids
                 key_id:     bstr(8),     ; which server sealing key
                 enc:        bstr,        ; HPKE encapsulated key
                 ct:         bstr ]       ; HPKE ciphertext of the CBOR record
    signature = Ed25519(device key, SIGN_CONTEXT || body)
    HPKE info = INFO_CONTEXT || 0x01 || record_id || UTF-8(device_id)   (base mode)

See docs/protocol.md for the byte-level description.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

import cbor2

from sync.wire.errors import EnvelopeFormatError

# --- the outer layer shared by envelopes, acks and commands: CBOR `[body bstr, signature bstr(64)]`.
# One parser for all three, so they refuse the same malformed inputs the same way.
SIG_LEN = 64  # Ed25519


class SignedPairError(ValueError):
    pass


def join_signed(body: bytes, signature: bytes) -> bytes:
    return cbor2.dumps([body, signature])


def split_signed(data: bytes, *, canonical: bool = True) -> tuple[bytes, bytes]:
    """(body, signature); with `canonical`, also refuses trailing or non-canonical bytes."""
    try:
        outer = cbor2.loads(data)
    except Exception as e:
        raise SignedPairError(f"not CBOR: {e}") from e
    if (not isinstance(outer, list) or len(outer) != 2 or not isinstance(outer[0], bytes)
            or not isinstance(outer[1], bytes) or len(outer[1]) != SIG_LEN):
        raise SignedPairError("must be [body bstr, signature bstr(64)]")
    if canonical and cbor2.dumps(outer) != data:
        raise SignedPairError("trailing or non-canonical bytes")
    return outer[0], outer[1]


ENVELOPE_VERSION = 1
SIGN_CONTEXT = b"fieldkit/v1/envelope\x00"
INFO_CONTEXT = b"fieldkit/v1/record\x00"
# The largest legal envelope (docs/protocol.md, "3.4 Envelope"): the HTTPS API refuses a larger
# body (413), the broker a larger packet (max_packet_size, server_stub/deploy/broker.py), the
# server's workers drop and count one. The device never makes one: it shrinks the record first.
MAX_ENVELOPE_BYTES = 8 * 1024 * 1024
# What the envelope adds around the sealed record at most: header (ids, folio, times, suite,
# key id), the HPKE encapsulation (1,120 bytes for MLKEM768-X25519), the AEAD tag, the
# signature and their CBOR framing (~1.4 KB in practice).
ENVELOPE_OVERHEAD_MAX = 4096
MAX_RECORD_BYTES = MAX_ENVELOPE_BYTES - ENVELOPE_OVERHEAD_MAX


@dataclass(frozen=True, slots=True)
class SuiteSpec:
    name: str
    kem_id: int
    kdf_id: int
    aead_id: int

    @property
    def ids(self) -> tuple[int, int, int]:
        return (self.kem_id, self.kdf_id, self.aead_id)


# HPKE ids: KEM 0x647A = MLKEM768-X25519 (X-Wing), 0x0020 = DHKEM(X25519, HKDF-SHA256);
# KDF 0x0001 = HKDF-SHA256; AEAD 0x0002 = AES-256-GCM.
HYBRID = SuiteSpec("mlkem768-x25519", 0x647A, 0x0001, 0x0002)
CLASSIC = SuiteSpec("x25519", 0x0020, 0x0001, 0x0002)
SUITES = {s.name: s for s in (HYBRID, CLASSIC)}
SUITES_BY_IDS = {s.ids: s for s in (HYBRID, CLASSIC)}
DEFAULT_SUITE = HYBRID


def suite_by_name(name: str) -> SuiteSpec:
    try:
        return SUITES[name]
    except KeyError:
        raise ValueError(f"unknown sealing suite {name!r}; known: {sorted(SUITES)}") from None


def hpke_info(record_id: uuid.UUID, device_id: str) -> bytes:
    return INFO_CONTEXT + bytes([ENVELOPE_VERSION]) + record_id.bytes + device_id.encode()


def key_id(kem_id: int, public_raw: bytes) -> bytes:
    """8-byte id of a server sealing key: SHA-256(kem_id as 2 bytes BE || raw public key)."""
    return hashlib.sha256(kem_id.to_bytes(2, "big") + public_raw).digest()[:8]


@dataclass(frozen=True, slots=True)
class EnvelopeHeader:
    record_id: uuid.UUID
    device_id: str
    folio: str
    created_ms: int
    suite: SuiteSpec
    key_id: bytes
    enc: bytes
    ct: bytes


def encode_body(h: EnvelopeHeader) -> bytes:
    return cbor2.dumps([ENVELOPE_VERSION, h.record_id.bytes, h.device_id, h.folio,
                        h.created_ms, list(h.suite.ids), h.key_id, h.enc, h.ct])


def join(body: bytes, signature: bytes) -> bytes:
    return join_signed(body, signature)


def envelope_hash(envelope: bytes) -> bytes:
    """SHA-256 of the envelope bytes exactly as sent; acks quote it."""
    return hashlib.sha256(envelope).digest()


def split(envelope: bytes) -> tuple[bytes, bytes]:
    """Outer layer: (body, signature). Raises EnvelopeFormatError."""
    if len(envelope) > MAX_ENVELOPE_BYTES:
        raise EnvelopeFormatError("envelope too large")
    try:
        return split_signed(envelope)
    except SignedPairError as e:
        raise EnvelopeFormatError(f"envelope: {e}") from e


def parse_body(body: bytes) -> EnvelopeHeader:
    try:
        b = cbor2.loads(body)
    except Exception as e:
        raise EnvelopeFormatError(f"envelope body is not CBOR: {e}") from e
    if not isinstance(b, list) or len(b) != 9 or b[0] != ENVELOPE_VERSION:
        raise EnvelopeFormatError("envelope body must be a version-1 array of 9 items")
    _, rid, dev, folio, created, suite, kid, enc, ct = b
    types_ok = (isinstance(rid, bytes) and len(rid) == 16 and isinstance(dev, str)
                and isinstance(folio, str) and isinstance(created, int)
                and not isinstance(created, bool) and created >= 0
                and isinstance(suite, list) and isinstance(kid, bytes) and len(kid) == 8
                and isinstance(enc, bytes) and isinstance(ct, bytes))
    if not types_ok:
        raise EnvelopeFormatError("envelope body has a field of the wrong type")
    spec = SUITES_BY_IDS.get(tuple(suite))
    if spec is None:
        raise EnvelopeFormatError(f"unsupported HPKE suite {suite}")
    h = EnvelopeHeader(uuid.UUID(bytes=rid), dev, folio, created, spec, kid, enc, ct)
    if encode_body(h) != body:
        raise EnvelopeFormatError("envelope body is not in canonical form")
    return h


def parse(envelope: bytes) -> tuple[EnvelopeHeader, bytes, bytes]:
    """Parse without any key: (header, body, signature). Verifies nothing."""
    body, sig = split(envelope)
    return parse_body(body), body, sig
