"""Outbox schema (version 1), connection PRAGMAs, SQLite error translation, and the file
steps that put a new outbox in place whole (a private temporary file, then a hard link)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import sqlcipher3

from sync.outbox.errors import (
    OutboxCorruptError,
    OutboxDiskFullError,
    OutboxError,
    OutboxReadOnlyError,
    OutboxStateError,
)

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


def write_schema(conn: sqlcipher3.Connection, device_id: str, folio_prefix: str,
                 now_ms: int) -> None:
    """The tables and their first rows, inside the caller's transaction."""
    for stmt in statements(SCHEMA):  # not executescript: it would COMMIT
        conn.execute(stmt)
    conn.executemany("INSERT INTO meta VALUES (?, ?)", [
        ("schema_version", SCHEMA_VERSION), ("device_id", device_id),
        ("folio_prefix", folio_prefix), ("next_seq", 1), ("created_ms", now_ms)])
    conn.execute("INSERT INTO folio_prefix VALUES (?, 1)", (folio_prefix,))


def half_made(p: Path) -> OutboxCorruptError:
    # Only a creator older than the build-then-link one of Outbox.create leaves these.
    return OutboxCorruptError(
        f"{p} is a half-made outbox with no tables (its creation was cut short); it holds "
        "no records: move it aside and the kiosk makes a new one when it starts")


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


def make_private_file(p: Path) -> bool:
    """Make the (empty) file ``p`` 0600 and, if missing, its folder 0700, whatever the umask.
    SQLite gives the -wal and -shm files it makes later the main file's mode, so they are
    0600 too. False when the folder is on read-only media."""
    try:
        if not p.parent.is_dir():
            with contextlib.suppress(FileExistsError):  # another creator made it meanwhile
                p.parent.mkdir(parents=True, mode=0o700)
                os.chmod(p.parent, 0o700)  # mkdir's mode is filtered by the umask
        if fs_readonly(p.parent):
            return False
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise OutboxStateError(f"{p} already exists; refusing to create an outbox over it") from None
    except OSError as e:
        raise OutboxError(f"cannot create the outbox {p}: {e}") from e
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return True


def remove_db_files(p: Path) -> None:
    """Remove ``p`` and its -wal and -shm, where they exist."""
    for name in (str(p), f"{p}-wal", f"{p}-shm"):
        Path(name).unlink(missing_ok=True)


def _fsync(p: Path, flags: int) -> None:
    fd = os.open(p, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(tmp: Path, p: Path) -> bool:
    """Give the finished, closed database ``tmp`` the name ``p`` and make that durable;
    False (and ``tmp`` left as it is) when ``p`` already exists.

    A hard link, not os.replace: just as atomic (``p`` appears whole or not at all), but it
    never replaces, so when two creators race the first outbox stays (its creator may already
    have saved records in it; os.replace under an open connection made the loser's reads
    "file is not a database" in the race test). The data dir is ext4 or f2fs
    (docs/deploy-pi.md, "Stopping and power loss"): both have hard links.
    """
    # The last close removes -wal and -shm; a WAL would not follow the file to its name.
    if any(Path(f"{tmp}{s}").exists() for s in ("-wal", "-shm")):
        raise OutboxError(f"the new outbox {tmp} kept its WAL after closing")
    try:
        _fsync(tmp, os.O_RDONLY)
        os.link(tmp, p)
    except FileExistsError:
        return False
    except OSError as e:
        raise OutboxError(f"cannot put the new outbox in place at {p}: {e}") from e
    tmp.unlink()
    _fsync(p.parent, os.O_RDONLY | os.O_DIRECTORY)  # the new name and the old one's removal
    return True
