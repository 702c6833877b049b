"""Acknowledgements: signed by the server, verified by the device before any erase.

    ack  = CBOR array(2) [ body: bstr, signature: bstr(64) ]
    body = CBOR encoding of array(9) [
             1,                          ; ack format version
             record_id:       bstr(16),
             device_id:       tstr,
             folio:           tstr,
             received_ms:     uint,      ; Unix ms when the server stored it
             verdict:         tstr,      ; e.g. "recibido", "en_lista_nominal", ...
             receipt_id:      tstr,
             envelope_sha256: bstr(32),  ; SHA-256 of the envelope bytes it stored
             server_key_id:   bstr(8) ]  ; SHA-256(raw Ed25519 public key)[:8]
    signature = Ed25519(server ack key, SIGN_CONTEXT || body)

The device-side checks that need the outbox (unknown record, envelope hash, folio)
are in ``Outbox.acknowledge``; this module checks format, signature and device.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from sync.wire.envelope import split_signed
from sync.wire.errors import AckReason, AckRejected

ACK_VERSION = 1
SIGN_CONTEXT = b"fieldkit/v1/ack\x00"
MAX_ACK_BYTES = 4096


def server_key_id(pub: ed25519.Ed25519PublicKey) -> bytes:
    return hashlib.sha256(pub.public_bytes_raw()).digest()[:8]


@dataclass(frozen=True, slots=True)
class Ack:
    record_id: uuid.UUID
    device_id: str
    folio: str
    received_ms: int
    verdict: str
    receipt_id: str
    envelope_sha256: bytes
    server_key_id: bytes = b""


def _body(a: Ack) -> bytes:
    return cbor2.dumps([ACK_VERSION, a.record_id.bytes, a.device_id, a.folio, a.received_ms,
                        a.verdict, a.receipt_id, a.envelope_sha256, a.server_key_id])


def sign_ack(ack: Ack, server_key: ed25519.Ed25519PrivateKey) -> bytes:
    """SERVER side: serialise and sign an ack (``server_key_id`` is filled in)."""
    if len(ack.envelope_sha256) != 32:
        raise ValueError("envelope_sha256 must be 32 bytes")
    kid = server_key_id(server_key.public_key())
    body = _body(Ack(ack.record_id, ack.device_id, ack.folio, ack.received_ms, ack.verdict,
                     ack.receipt_id, ack.envelope_sha256, kid))
    return cbor2.dumps([body, server_key.sign(SIGN_CONTEXT + body)])


def parse_ack(data: bytes) -> tuple[Ack, bytes, bytes]:
    """(ack, body, signature) without verifying; raises AckRejected(BAD_FORMAT)."""
    bad = AckRejected(AckReason.BAD_FORMAT)
    if len(data) > MAX_ACK_BYTES:
        raise bad
    try:
        body, sig = split_signed(data)
        b = cbor2.loads(body)
    except AckRejected:
        raise
    except Exception:
        raise bad from None
    if not isinstance(b, list) or len(b) != 9 or b[0] != ACK_VERSION:
        raise bad
    _, rid, dev, folio, received, verdict, receipt, digest, kid = b
    if not (isinstance(rid, bytes) and len(rid) == 16 and isinstance(dev, str)
            and isinstance(folio, str) and isinstance(received, int)
            and not isinstance(received, bool) and isinstance(verdict, str)
            and isinstance(receipt, str) and isinstance(digest, bytes) and len(digest) == 32
            and isinstance(kid, bytes) and len(kid) == 8):
        raise bad
    ack = Ack(uuid.UUID(bytes=rid), dev, folio, received, verdict, receipt, digest, kid)
    if _body(ack) != body:
        raise bad
    return ack, body, sig


class AckVerifier:
    """Device side: accepts only acks signed by a trusted server key and naming this device."""

    def __init__(self, device_id: str, trusted: Iterable[ed25519.Ed25519PublicKey]) -> None:
        self.device_id = device_id
        self._keys = {server_key_id(k): k for k in trusted}
        if not self._keys:
            raise ValueError("at least one trusted server ack key is required")

    def verify(self, data: bytes) -> Ack:
        ack, body, sig = parse_ack(data)
        key = self._keys.get(ack.server_key_id)
        if key is None:
            raise AckRejected(AckReason.BAD_SIGNATURE, "unknown server key")
        try:
            key.verify(sig, SIGN_CONTEXT + body)
        except InvalidSignature:
            raise AckRejected(AckReason.BAD_SIGNATURE) from None
        if ack.device_id != self.device_id:
            raise AckRejected(AckReason.WRONG_DEVICE, ack.device_id)
        return ack
