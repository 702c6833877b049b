"""Server commands (wipe, config update): signed by the server, verified by the device.

    command = CBOR array(2) [ body: bstr, signature: bstr(64) ]
    body    = CBOR encoding of array(9) [
                1,                     ; command format version
                command_id: bstr(16),  ; random
                device_id:  tstr,      ; the one device it is for
                seq:        uint,      ; per device, strictly increasing (replay guard)
                issued_ms:  uint,      ; server Unix ms
                expires_ms: uint,      ; server Unix ms; refused after this
                kind:       tstr,      ; "wipe" | "config"
                payload:    bstr,      ; kind-specific (config: UTF-8 JSON), else empty
                server_key_id: bstr(8) ]  ; SHA-256(raw Ed25519 public key)[:8]
    signature = Ed25519(server signing key, COMMAND_CONTEXT || body)

Same key and layout style as acks (sync/wire/ack.py), with its own context string so
an ack can never be replayed as a command or the other way round.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from sync.wire.ack import server_key_id
from sync.wire.envelope import split_signed

COMMAND_VERSION = 1
COMMAND_CONTEXT = b"fieldkit/v1/command\x00"
MAX_COMMAND_BYTES = 256 * 1024
KINDS = ("wipe", "config")
# A command issued "in the future" by more than this (device clock error after
# correction) is refused as well.
FUTURE_SKEW_MS = 10 * 60 * 1000


class CommandRejected(ValueError):
    """Why a command was not acted on (one short line, Spanish)."""


@dataclass(frozen=True, slots=True)
class Command:
    command_id: uuid.UUID
    device_id: str
    seq: int
    issued_ms: int
    expires_ms: int
    kind: str
    payload: bytes = b""
    server_key_id: bytes = b""


def _body(c: Command) -> bytes:
    return cbor2.dumps([COMMAND_VERSION, c.command_id.bytes, c.device_id, c.seq, c.issued_ms,
                        c.expires_ms, c.kind, c.payload, c.server_key_id])


def sign_command(c: Command, key: ed25519.Ed25519PrivateKey) -> bytes:
    """SERVER side."""
    if c.kind not in KINDS:
        raise ValueError(f"unknown command kind {c.kind!r}")
    kid = server_key_id(key.public_key())
    body = _body(Command(c.command_id, c.device_id, c.seq, c.issued_ms, c.expires_ms, c.kind,
                         c.payload, kid))
    return cbor2.dumps([body, key.sign(COMMAND_CONTEXT + body)])


def parse_command(data: bytes) -> tuple[Command, bytes, bytes]:
    bad = CommandRejected("orden mal formada")
    if len(data) > MAX_COMMAND_BYTES:
        raise bad
    try:
        body, sig = split_signed(data, canonical=False)
        b = cbor2.loads(body)
    except CommandRejected:
        raise
    except Exception:
        raise bad from None
    if not isinstance(b, list) or len(b) != 9 or b[0] != COMMAND_VERSION:
        raise bad
    _, cid, dev, seq, issued, expires, kind, payload, kid = b
    ints = (seq, issued, expires)
    if not (isinstance(cid, bytes) and len(cid) == 16 and isinstance(dev, str)
            and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ints)
            and isinstance(kind, str) and isinstance(payload, bytes)
            and isinstance(kid, bytes) and len(kid) == 8):
        raise bad
    cmd = Command(uuid.UUID(bytes=cid), dev, seq, issued, expires, kind, payload, kid)
    if _body(cmd) != body:  # canonical encoding only: one byte string per command
        raise bad
    return cmd, body, sig


def verify_command(data: bytes, device_id: str, trusted: Iterable[ed25519.Ed25519PublicKey],
                   now_server_ms: int, last_seq: int) -> Command:
    """Signature, target device, freshness and replay, in that order."""
    cmd, body, sig = parse_command(data)
    keys = {server_key_id(k): k for k in trusted}
    key = keys.get(cmd.server_key_id)
    if key is None:
        raise CommandRejected("orden firmada con una clave desconocida")
    try:
        key.verify(sig, COMMAND_CONTEXT + body)
    except InvalidSignature:
        raise CommandRejected("firma de la orden no válida") from None
    if cmd.device_id != device_id:
        raise CommandRejected(f"la orden es para otro dispositivo ({cmd.device_id})")
    if cmd.kind not in KINDS:
        raise CommandRejected(f"tipo de orden desconocido {cmd.kind!r}")
    if now_server_ms > cmd.expires_ms:
        raise CommandRejected("orden vencida")
    if cmd.issued_ms > now_server_ms + FUTURE_SKEW_MS:
        raise CommandRejected("orden con fecha futura")
    if cmd.seq <= last_seq:
        raise CommandRejected(f"orden repetida (número {cmd.seq}, ya se aplicó hasta {last_seq})")
    return cmd
