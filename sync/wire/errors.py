"""Error types of the wire format: records, envelopes, acks.

Every error names the problem in plain words so an operator (or the
auxiliary's screen) can tell a wrong key from a full disk.
"""

from __future__ import annotations

import enum


class SyncError(Exception):
    """Base class of every error raised by ``sync``'s record/outbox layers."""


# --- records, envelopes -------------------------------------------------------------------


class RecordFormatError(SyncError):
    """A record's bytes are not a valid record of a version we read."""


class EnvelopeError(SyncError):
    """An envelope failed to parse, verify or open (server side)."""


class EnvelopeFormatError(EnvelopeError):
    """The envelope's bytes are not a well-formed envelope."""


class EnvelopeSignatureError(EnvelopeError):
    """The device signature over the envelope does not verify."""


class EnvelopeDecryptError(EnvelopeError):
    """HPKE open failed: wrong server key, tampered ciphertext or context."""


# --- acknowledgements -------------------------------------------------------------------


class AckReason(enum.Enum):
    BAD_FORMAT = "malformed acknowledgement"
    BAD_SIGNATURE = "acknowledgement signature does not verify with a trusted server key"
    WRONG_DEVICE = "acknowledgement names another device"
    UNKNOWN_RECORD = "acknowledgement names a record that is not in the outbox"
    HASH_MISMATCH = "acknowledgement's envelope hash differs from the envelope we sent"
    FOLIO_MISMATCH = "acknowledgement's folio differs from the record's folio"


class AckRejected(SyncError):
    """An acknowledgement was refused; nothing was erased."""

    def __init__(self, reason: AckReason, detail: str = "") -> None:
        self.reason = reason
        msg = reason.value + (f": {detail}" if detail else "")
        super().__init__(msg)
