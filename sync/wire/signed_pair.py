"""The outer layer shared by envelopes, acks and commands: CBOR `[body bstr, signature bstr(64)]`.

One parser for all three, so they refuse the same malformed inputs the same way.
"""

from __future__ import annotations

import cbor2

SIG_LEN = 64  # Ed25519


class SignedPairError(ValueError):
    pass


def join(body: bytes, signature: bytes) -> bytes:
    return cbor2.dumps([body, signature])


def split(data: bytes, *, canonical: bool = True) -> tuple[bytes, bytes]:
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
