"""The device outbox: sealed envelopes in a SQLCipher database until the server acks them.

Connection settings (docs/outbox.md): raw key, WAL, synchronous=FULL, secure_delete=ON,
temp_store=MEMORY; SQLCipher 4 defaults otherwise, so any SQLCipher 4 CLI opens it.
Clear metadata in the DB: record id, folio, process, times, sync state, envelope hash.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlcipher3

from sync.outbox import sqlcipher_pages
from sync.outbox.errors import (
    OutboxCorruptError,
    OutboxError,
    OutboxReadOnlyError,
    OutboxStateError,
    OutboxWrongKeyError,
)
from sync.outbox.keyfile import key_pragma, load_key
from sync.outbox.schema import (
    CONNECTION_PRAGMAS,
    SCHEMA_VERSION,
    error_code,
    fs_readonly,
    half_made,
    make_private_file,
    publish,
    remove_db_files,
    translate,
    write_schema,
)
from sync.wire.ack import Ack, AckVerifier
from sync.wire.errors import AckReason, AckRejected
from sync.wire.folio import make_folio, validate_prefix
from sync.wire.record import Record
from sync.wire.sealing import Sealer

PENDING, IN_FLIGHT = 0, 1

@dataclass(frozen=True, slots=True)
class PutResult:
    folio: str
    record_id: uuid.UUID
    seq: int
    envelope_bytes: int


@dataclass(frozen=True, slots=True)
class OutboxItem:
    seq: int
    record_id: uuid.UUID
    folio: str
    process_id: str
    created_ms: int
    state: int
    attempts: int
    envelope_sha256: bytes
    envelope: bytes


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    pending: int
    in_flight: int
    put_total: int
    acked_total: int
    oldest_created_ms: int | None = None  # device time the oldest unacknowledged record was made
    reusable_bytes: int = 0  # free pages erased records left: room for the next, unseen by statvfs

    @property
    def unacknowledged(self) -> int:
        return self.pending + self.in_flight


def _now_ms() -> int:
    return int(time.time() * 1000)


class Outbox:
    """One SQLCipher connection, serialised by a lock (safe to share between threads)."""

    def __init__(self, path: Path, conn: sqlcipher3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.RLock()

    # --- opening ------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike[str], key: bytes, device_id: str,
               folio_prefix: str) -> Outbox:
        """Make a new, empty outbox; refuses if the file already exists.

        The outbox is built whole under a temporary name beside ``path`` and linked into
        place, so whoever sees ``path`` sees every table (the agent opens it the moment it
        appears). A creator that loses a race to another opens the winner's outbox.
        """
        p = Path(path)
        validate_prefix(folio_prefix)
        if p.exists():
            raise OutboxStateError(f"{p} already exists; refusing to create an outbox over it")
        tmp = p.with_name(f".{p.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
        try:
            if not make_private_file(tmp):
                raise OutboxReadOnlyError(f"the file system holding {p} is mounted read-only")
            cls._build(tmp, key, device_id, folio_prefix)
            won = publish(tmp, p)
        finally:
            remove_db_files(tmp)  # gone already when published; otherwise nothing may stay
        ob = cls.open(p, key)
        if not won and ob.device_id != device_id:
            ob.close()
            raise OutboxStateError(f"{p} was created meanwhile for device {ob.device_id}")
        return ob

    @classmethod
    def _build(cls, tmp: Path, key: bytes, device_id: str, folio_prefix: str) -> None:
        """Write the schema into the empty file ``tmp`` and close it checkpointed."""
        ob = cls._connect(tmp, key, create=True)
        try:
            with ob._txn():
                write_schema(ob._conn, device_id, folio_prefix, _now_ms())
            ob.checkpoint()
        finally:
            ob.close()

    @classmethod
    def open(cls, path: str | os.PathLike[str], key: bytes, *, readonly: bool = False
             ) -> Outbox:
        p = Path(path)
        if not p.is_file():
            raise OutboxError(f"no outbox at {p}")
        # Checked before connecting: SQLite's first pragma would write a page into it.
        if p.stat().st_size == 0:
            raise half_made(p)
        ob = cls._connect(p, key, create=False, readonly=readonly)
        with ob._errors():
            made = ob._conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone()
        version = ob._meta("schema_version") if made else None
        if version != SCHEMA_VERSION:
            ob.close()
            raise half_made(p) if made is None else OutboxCorruptError(
                f"{p}: unknown outbox schema version {version!r}")
        return ob

    @classmethod
    def open_with_key_file(cls, path: str | os.PathLike[str], key_file: str | os.PathLike[str],
                           *, readonly: bool = False) -> Outbox:
        return cls.open(path, load_key(key_file), readonly=readonly)

    @classmethod
    def _connect(cls, p: Path, key: bytes, *, create: bool, readonly: bool = False) -> Outbox:
        pragma = key_pragma(key)
        if not readonly and fs_readonly(p.parent):
            raise OutboxReadOnlyError(f"the file system holding {p} is mounted read-only")
        mode = "ro" if readonly else ("rwc" if create else "rw")
        uri = f"file:{p}?mode={mode}"
        if readonly and fs_readonly(p.parent):
            # No -shm can be made on read-only media; "immutable" reads without one, which
            # is only correct when no WAL content is waiting to be checkpointed.
            wal = Path(f"{p}-wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise OutboxReadOnlyError(
                    f"{p} is on a read-only file system and its WAL holds unsaved pages; "
                    "remount it read-write to read it")
            uri += "&immutable=1"
        try:
            conn = sqlcipher3.connect(uri, uri=True, isolation_level=None,
                                      check_same_thread=False, timeout=10.0)
        except sqlcipher3.Error as e:
            raise translate(e, p) from e
        try:
            conn.execute(pragma)
            # The first read is where a wrong key shows up.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            for stmt in CONNECTION_PRAGMAS:
                if readonly and "journal_mode" in stmt:
                    continue
                conn.execute(stmt)
        except sqlcipher3.Error as e:
            conn.close()
            if error_code(e) == sqlcipher3.SQLITE_NOTADB and p.exists() and p.stat().st_size:
                if sqlcipher_pages.key_matches(p, key):
                    raise OutboxCorruptError(
                        f"{p} is corrupted: the key is right but the database header is "
                        "damaged") from e
                raise OutboxWrongKeyError(f"the key does not open the outbox {p}") from e
            raise translate(e, p) from e
        return cls(p, conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transactions and errors ----------------------------------------------------------

    @contextlib.contextmanager
    def _txn(self) -> Iterator[None]:
        with self._lock, self._errors():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlcipher3.Error):
                    self._conn.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlcipher3.Error as e:
            raise translate(e, self.path) from e

    def _meta(self, key: str) -> object:
        with self._lock, self._errors():
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    # --- identity, folios -------------------------------------------------------------------

    @property
    def device_id(self) -> str:
        return str(self._meta("device_id"))

    @property
    def folio_prefix(self) -> str:
        return str(self._meta("folio_prefix"))

    def set_folio_prefix(self, prefix: str) -> None:
        """Switch to a new server-allocated prefix; a prefix used before is refused."""
        validate_prefix(prefix)
        with self._txn():
            if self._conn.execute("SELECT 1 FROM folio_prefix WHERE prefix = ?",
                                  (prefix,)).fetchone():
                raise OutboxStateError(f"folio prefix {prefix} was already used on this device")
            seq = self._conn.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()[0]
            self._conn.execute("INSERT INTO folio_prefix VALUES (?, ?)", (prefix, seq))
            self._conn.execute("UPDATE meta SET value = ? WHERE key = 'folio_prefix'", (prefix,))

    # --- put ------------------------------------------------------------------------------

    def put(self, draft: Record, sealer: Sealer) -> PutResult:
        """Allocate the folio, seal the record with it and store it, in one transaction.

        When this returns, the envelope is durable (synchronous=FULL); if it raises,
        nothing was stored and the folio sequence did not move.
        """
        with self._txn():
            c = self._conn
            seq, prefix = c.execute(
                "SELECT (SELECT value FROM meta WHERE key='next_seq'),"
                " (SELECT value FROM meta WHERE key='folio_prefix')").fetchone()
            folio = make_folio(prefix, seq)
            sealed = sealer.seal(dataclasses.replace(draft, folio=folio))
            c.execute(
                "INSERT INTO outbox (seq, record_id, folio, process_id, created_ms,"
                " envelope_sha256, envelope_len, envelope) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, draft.record_id.bytes, folio, draft.process_id, sealed.header.created_ms,
                 sealed.sha256, len(sealed.data), sealed.data))
            c.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (seq + 1,))
        return PutResult(folio, draft.record_id, seq, len(sealed.data))

    # --- sending --------------------------------------------------------------------------

    _ITEM_COLS = ("seq, record_id, folio, process_id, created_ms, state, attempts,"
                  " envelope_sha256, envelope")

    def next_batch(self, limit: int = 20, retry_after_s: float | None = 60.0
                   ) -> list[OutboxItem]:
        """Oldest pending envelopes first, then in-flight ones whose last send is older than
        ``retry_after_s`` (None: never resend in-flight ones from here)."""
        with self._lock, self._errors():
            rows = self._conn.execute(
                f"SELECT {self._ITEM_COLS} FROM outbox WHERE state = 0 ORDER BY seq LIMIT ?",
                (limit,)).fetchall()
            if retry_after_s is not None and len(rows) < limit:
                cutoff = _now_ms() - int(retry_after_s * 1000)
                rows += self._conn.execute(
                    f"SELECT {self._ITEM_COLS} FROM outbox WHERE state = 1"
                    " AND last_attempt_ms <= ? ORDER BY last_attempt_ms LIMIT ?",
                    (cutoff, limit - len(rows))).fetchall()
        return [OutboxItem(r[0], uuid.UUID(bytes=r[1]), *r[2:]) for r in rows]

    def mark_in_flight(self, record_ids: Iterable[uuid.UUID]) -> int:
        now = _now_ms()
        with self._txn():
            cur = self._conn.executemany(
                "UPDATE outbox SET state = 1, attempts = attempts + 1, last_attempt_ms = ?"
                " WHERE record_id = ?", [(now, r.bytes) for r in record_ids])
            return cur.rowcount

    def requeue_in_flight(self) -> int:
        """Put every in-flight envelope back to pending (e.g. when the agent restarts)."""
        with self._txn():
            return self._conn.execute("UPDATE outbox SET state = 0 WHERE state = 1").rowcount

    # --- acknowledgements -----------------------------------------------------------------

    def _check_and_delete(self, ack: Ack) -> None:
        row = self._conn.execute("SELECT folio, envelope_sha256 FROM outbox WHERE record_id = ?",
                                 (ack.record_id.bytes,)).fetchone()
        if row is None:
            raise AckRejected(AckReason.UNKNOWN_RECORD, str(ack.record_id))
        if row[1] != ack.envelope_sha256:
            raise AckRejected(AckReason.HASH_MISMATCH, str(ack.record_id))
        if row[0] != ack.folio:
            raise AckRejected(AckReason.FOLIO_MISMATCH, f"{ack.folio} != {row[0]}")
        self._conn.execute("DELETE FROM outbox WHERE record_id = ?", (ack.record_id.bytes,))

    def acknowledge(self, ack_bytes: bytes, verifier: AckVerifier) -> Ack:
        """Verify a server ack and erase its record (then checkpoint the WAL).

        Raises AckRejected (and erases nothing) for a bad signature, another device, an
        unknown record, or an envelope hash / folio that differs from what was stored.
        """
        if verifier.device_id != self.device_id:
            raise OutboxStateError("the verifier is for another device")
        ack = verifier.verify(ack_bytes)
        with self._txn():
            self._check_and_delete(ack)
        self.checkpoint()
        return ack

    def acknowledge_many(self, acks: Iterable[bytes], verifier: AckVerifier
                         ) -> tuple[list[Ack], list[AckRejected]]:
        """Like ``acknowledge`` for a batch: one transaction, one WAL checkpoint."""
        if verifier.device_id != self.device_id:
            raise OutboxStateError("the verifier is for another device")
        done: list[Ack] = []
        refused: list[AckRejected] = []
        with self._txn():
            for data in acks:
                try:
                    ack = verifier.verify(data)
                    self._check_and_delete(ack)
                    done.append(ack)
                except AckRejected as e:
                    refused.append(e)
        if done:
            self.checkpoint()
        return done, refused

    def checkpoint(self) -> bool:
        """Copy the WAL into the DB and truncate it to zero bytes. False if a reader in
        another connection kept it from completing (retry later)."""
        with self._lock, self._errors():
            busy, _, _ = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return busy == 0

    # --- status ---------------------------------------------------------------------------

    def counts(self) -> OutboxCounts:
        with self._lock, self._errors():
            row = self._conn.execute(
                "SELECT pending, in_flight, put_total, acked_total, (SELECT min(created_ms) FROM outbox), "
                "(SELECT freelist_count FROM pragma_freelist_count) * "
                "(SELECT page_size FROM pragma_page_size) FROM stats").fetchone()
        return OutboxCounts(*row)

    def oldest_pending_age_s(self, now_ms: int | None = None) -> float | None:
        """Age of the oldest record not yet acknowledged (pending or in flight), or None."""
        with self._lock, self._errors():
            (oldest,) = self._conn.execute("SELECT min(created_ms) FROM outbox").fetchone()
        if oldest is None:
            return None
        return max(0.0, ((_now_ms() if now_ms is None else now_ms) - oldest) / 1000)

    def folios(self) -> list[str]:
        with self._lock, self._errors():
            return [r[0] for r in self._conn.execute("SELECT folio FROM outbox ORDER BY seq")]

    def check_integrity(self) -> list[str]:
        """SQLCipher page HMACs and SQLite's structure check; [] when all is well."""
        problems: list[str] = []
        with self._lock:
            for pragma in ("PRAGMA cipher_integrity_check", "PRAGMA integrity_check"):
                try:
                    problems += [str(r[0]) for r in self._conn.execute(pragma) if r[0] != "ok"]
                except sqlcipher3.DatabaseError as e:
                    problems.append(f"{pragma}: {e}")
        return problems
