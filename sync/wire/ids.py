"""Record identifiers: UUIDv7 (RFC 9562), time-ordered and sortable as bytes."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_last_rand_a = 0


def uuid7(now_ms: int | None = None) -> uuid.UUID:
    """A new UUIDv7: 48-bit Unix ms, version 7, 12-bit counter, variant, 62 random bits.

    Within one process ids are strictly increasing: when the clock does not move (or
    goes back) the 12-bit ``rand_a`` field is used as a counter (RFC 9562 §6.2, method 1),
    spilling into the timestamp when it overflows.
    """
    global _last_ms, _last_rand_a
    with _lock:
        ms = int(time.time() * 1000) if now_ms is None else now_ms
        if ms > _last_ms:
            rand_a = int.from_bytes(os.urandom(2), "big") & 0x7FF  # leave room to count
        else:
            ms = _last_ms
            rand_a = _last_rand_a + 1
            if rand_a > 0xFFF:
                ms += 1
                rand_a = 0
        _last_ms, _last_rand_a = ms, rand_a
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)


def uuid7_time_ms(u: uuid.UUID) -> int:
    """The Unix-ms timestamp carried by a UUIDv7."""
    if u.version != 7:
        raise ValueError(f"not a UUIDv7: {u}")
    return u.int >> 80
