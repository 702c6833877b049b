"""Outbox schema (version 1), connection PRAGMAs and SQLite error translation."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import sqlcipher3

from sync.outbox.errors import OutboxCorruptError, OutboxDiskFullError, OutboxError, OutboxReadOnlyError

SCHEMA_VERSION = 1

CONNECTION_PRAGMAS = (
    "PRAGMA cipher_log_level = NONE",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA secure_delete = ON",
    "PRAGMA temp_store = MEMORY",
)

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE folio_prefix (prefix TEXT PRIMARY KEY, first_seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE stats (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  pending INTEGER NOT NULL, in_flight INTEGER NOT NULL,
  put_total INTEGER NOT NULL, acked_total INTEGER NOT NULL);
INSERT INTO stats VALUES (1, 0, 0, 0, 0);
CREATE TABLE outbox (
  seq INTEGER PRIMARY KEY,
  record_id BLOB NOT NULL UNIQUE CHECK (length(record_id) = 16),
  folio TEXT NOT NULL UNIQUE,
  process_id TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  state INTEGER NOT NULL DEFAULT 0 CHECK (state IN (0, 1)),
  attempts INTEGER NOT NULL DEFAULT 0,
  last_attempt_ms INTEGER,
  envelope_sha256 BLOB NOT NULL CHECK (length(envelope_sha256) = 32),
  envelope_len INTEGER NOT NULL,
  envelope BLOB NOT NULL CHECK (length(envelope) = envelope_len));
CREATE INDEX outbox_state_seq ON outbox (state, seq);
CREATE INDEX outbox_state_attempt ON outbox (state, last_attempt_ms);
CREATE INDEX outbox_created ON outbox (created_ms);
CREATE TRIGGER outbox_ins AFTER INSERT ON outbox BEGIN
  UPDATE stats SET pending = pending + (NEW.state = 0), in_flight = in_flight + (NEW.state = 1),
                   put_total = put_total + 1;
END;
CREATE TRIGGER outbox_del AFTER DELETE ON outbox BEGIN
  UPDATE stats SET pending = pending - (OLD.state = 0), in_flight = in_flight - (OLD.state = 1),
                   acked_total = acked_total + 1;
END;
CREATE TRIGGER outbox_upd AFTER UPDATE OF state ON outbox BEGIN
  UPDATE stats SET pending = pending - (OLD.state = 0) + (NEW.state = 0),
                   in_flight = in_flight - (OLD.state = 1) + (NEW.state = 1);
END;
"""


def statements(script: str) -> Iterator[str]:
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlcipher3.complete_statement(buf):
            yield buf
            buf = ""
    if buf.strip():
        raise ValueError(f"incomplete SQL statement: {buf!r}")


def error_code(e: sqlcipher3.Error) -> int:
    return int(getattr(e, "sqlite_errorcode", 0) or 0) & 0xFF


def fs_readonly(directory: Path) -> bool:
    try:
        return bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def translate(e: sqlcipher3.Error, p: Path) -> OutboxError:
    code = error_code(e)
    if code == sqlcipher3.SQLITE_FULL:
        return OutboxDiskFullError(f"no space left for the outbox {p}; nothing was written")
    if code == sqlcipher3.SQLITE_READONLY or fs_readonly(p.parent):
        return OutboxReadOnlyError(f"the outbox {p} is read-only ({e})")
    if code in (sqlcipher3.SQLITE_CORRUPT, sqlcipher3.SQLITE_NOTADB):
        return OutboxCorruptError(f"the outbox {p} is corrupted ({e})")
    if code == sqlcipher3.SQLITE_IOERR:
        try:
            if os.statvfs(p.parent).f_bavail == 0:
                return OutboxDiskFullError(f"no space left for the outbox {p} ({e})")
        except OSError:
            pass
    if code == sqlcipher3.SQLITE_CANTOPEN:
        return OutboxError(f"cannot open the outbox {p} ({e})")
    return OutboxError(f"outbox {p}: {e}")
