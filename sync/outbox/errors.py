"""Outbox failures, told apart so callers can say what happened (wrong key, damage, full disk)."""

from __future__ import annotations

from sync.wire.errors import SyncError


class OutboxError(SyncError):
    """Base class of outbox failures."""


class KeyFileError(OutboxError):
    """The outbox key file is missing, too permissive or malformed."""


class OutboxWrongKeyError(OutboxError):
    """The key does not open this outbox (every page fails its HMAC)."""


class OutboxCorruptError(OutboxError):
    """The outbox file is damaged (some pages fail their check, or the b-tree is broken)."""


class OutboxDiskFullError(OutboxError):
    """No space left for the outbox; the failed operation left nothing behind."""


class OutboxReadOnlyError(OutboxError):
    """The outbox (or its file system) is read-only."""


class OutboxStateError(OutboxError):
    """A call that does not fit the outbox's state (e.g. reusing a folio prefix)."""
