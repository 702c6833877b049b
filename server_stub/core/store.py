"""The server's store: device registry, records and refusals, on SQLite or PostgreSQL.

Idempotency lives in the database, not in the process: a record is inserted
with ``ON CONFLICT (record_id) DO NOTHING`` together with the signed ack, and
whoever loses the race reads the winner's row back. So a resend (by either
transport, to any worker, after any crash) returns the ack that was stored
with the record, and several workers on one PostgreSQL never double-store.

Connections are per thread (the HTTPS thread pool and each MQTT worker's
network thread ingest concurrently); SQLite runs in WAL mode with
synchronous=FULL because an ack lets the device erase its only other copy.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server_stub.core.store_schema import KEY_COLUMNS, SCHEMA, migrate_records

DEVICE_STATES = ("active", "revoked")



class StoreError(RuntimeError):
    """The store cannot be reached or refused an operation (retry later)."""


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    device_id: str
    sign_pub: bytes  # raw Ed25519 public key, 32 bytes
    cert_pem: str | None
    state: str
    added_ms: int
    updated_ms: int


@dataclass(frozen=True, slots=True)
class RecordRow:
    record_id: uuid.UUID
    device_id: str
    folio: str
    created_ms: int
    received_ms: int
    transport: str
    process_id: str
    aspirant_id: str
    auxiliary_id: str
    captured_ms: int
    envelope_sha256: bytes
    envelope: bytes
    record: bytes  # the opened record's CBOR (the server's readable copy)
    ack: bytes
    # Verification keys (lookup_keys.RecordKeys.as_row()); None = not extracted (the verifier decodes).
    keys: tuple[str, str, str, str, str] | None = None
    # What ingest found the device-chosen auxiliary id to be (store_schema.AUX_STATUSES); None = not checked.
    auxiliary_status: str | None = None


@dataclass(frozen=True, slots=True)
class RefusalRow:
    envelope_sha256: bytes
    record_id: uuid.UUID
    device_id: str
    reason: str
    detail: str
    received_ms: int
    transport: str
    envelope: bytes  # kept whole so an operator can re-process it
    ack: bytes


@dataclass(frozen=True, slots=True)
class StoredAck:
    device_id: str
    envelope_sha256: bytes
    ack: bytes


_RECORD_COLS = ("record_id, device_id, folio, created_ms, received_ms, transport, process_id, "
                "aspirant_id, auxiliary_id, captured_ms, envelope_sha256, envelope, record, ack")
# Added later (additive migration in init_schema): what verification looks up, so it never decodes.
# Added later too: the auxiliary id checked at ingest against the fleet's auxiliaries
# (server_stub.ingest.settle.auxiliary_status). The id itself is kept as the device sent it.
_REFUSAL_COLS = "envelope_sha256, record_id, device_id, reason, detail, received_ms, transport, envelope, ack"


class Store:
    """One store URL; safe to share between threads (each thread gets its connection)."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:"):
            self.kind = "sqlite"
            self.path = Path(url.removeprefix("sqlite:"))
        elif url.startswith(("postgresql://", "postgres://")):
            self.kind = "postgresql"
        else:
            raise StoreError(f"unknown store URL {url!r}")
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        self._columns_seen: set[tuple[str, str]] = set()  # add_column: known to exist

    # --- connections ------------------------------------------------------------------

    def _connect(self) -> Any:
        if self.kind == "sqlite":
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _create_private(self.path)
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            return conn
        import psycopg

        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.Error as e:
            raise StoreError(f"PostgreSQL: {e}") from e

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.kind == "postgresql" else sql

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Any]:
        """A write transaction; SQLite takes the write lock at BEGIN (no upgrade deadlocks)."""
        conn = self._conn()
        try:
            if self.kind == "sqlite":
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            else:
                with conn.transaction():
                    yield conn
        except sqlite3.Error as e:
            raise StoreError(f"SQLite: {e}") from e
        except Exception as e:
            if type(e).__module__.startswith("psycopg"):
                self._drop_connection()
                raise StoreError(f"PostgreSQL: {e}") from e
            raise

    def _drop_connection(self) -> None:
        # A broken PostgreSQL connection stays broken: reconnect on next use.
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        with contextlib.suppress(Exception):
            if conn is not None:
                conn.close()

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._tx() as conn:
            return list(conn.execute(self._sql(sql), params).fetchall())

    def init_schema(self) -> None:
        types = ({"blob": "BLOB", "int": "INTEGER"} if self.kind == "sqlite"
                 else {"blob": "BYTEA", "int": "BIGINT"})
        with self._tx() as conn:
            if self.kind == "postgresql":
                # Several workers may start at once; CREATE IF NOT EXISTS races in PostgreSQL.
                conn.execute("SELECT pg_advisory_xact_lock(7711004)")
            for stmt in SCHEMA.format(**types).split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            migrate_records(self.kind, conn)

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for c in conns:
            with contextlib.suppress(Exception):
                c.close()
        self._local = threading.local()

    # --- registry ---------------------------------------------------------------------

    def put_device(self, d: DeviceEntry, *, replace: bool = False) -> bool:
        """Insert (or, with replace, overwrite) a device; False if it exists and not replace."""
        cols = "device_id, sign_pub, cert_pem, state, added_ms, updated_ms"
        values = (d.device_id, d.sign_pub, d.cert_pem, d.state, d.added_ms, d.updated_ms)
        tail = ("ON CONFLICT (device_id) DO UPDATE SET sign_pub = excluded.sign_pub, "
                "cert_pem = excluded.cert_pem, state = excluded.state, updated_ms = excluded.updated_ms"
                if replace else "ON CONFLICT (device_id) DO NOTHING")
        with self._tx() as conn:
            cur = conn.execute(self._sql(f"INSERT INTO devices ({cols}) VALUES (?, ?, ?, ?, ?, ?) {tail}"),
                               values)
            return bool(cur.rowcount)

    def get_device(self, device_id: str) -> DeviceEntry | None:
        rows = self._query("SELECT device_id, sign_pub, cert_pem, state, added_ms, updated_ms "
                           "FROM devices WHERE device_id = ?", (device_id,))
        if not rows:
            return None
        r = rows[0]
        return DeviceEntry(r[0], bytes(r[1]), r[2], r[3], int(r[4]), int(r[5]))

    def set_device_state(self, device_id: str, state: str, now_ms: int) -> bool:
        if state not in DEVICE_STATES:
            raise ValueError(f"unknown device state {state!r}")
        with self._tx() as conn:
            cur = conn.execute(self._sql("UPDATE devices SET state = ?, updated_ms = ? WHERE device_id = ?"),
                               (state, now_ms, device_id))
            return bool(cur.rowcount)

    def list_devices(self) -> list[DeviceEntry]:
        rows = self._query("SELECT device_id, sign_pub, cert_pem, state, added_ms, updated_ms "
                           "FROM devices ORDER BY device_id")
        return [DeviceEntry(r[0], bytes(r[1]), r[2], r[3], int(r[4]), int(r[5])) for r in rows]

    # --- records ----------------------------------------------------------------------

    def find_record(self, record_id: uuid.UUID) -> StoredAck | None:
        rows = self._query("SELECT device_id, envelope_sha256, ack FROM records WHERE record_id = ?",
                           (record_id.bytes,))
        return StoredAck(rows[0][0], bytes(rows[0][1]), bytes(rows[0][2])) if rows else None

    def find_records(self, record_ids: list[uuid.UUID]) -> dict[uuid.UUID, StoredAck]:
        """`find_record` for many ids in one statement (a device's resend query)."""
        if not record_ids:
            return {}
        marks = ", ".join("?" * len(record_ids))
        rows = self._query(f"SELECT record_id, device_id, envelope_sha256, ack FROM records "
                           f"WHERE record_id IN ({marks})", tuple(r.bytes for r in record_ids))
        return {uuid.UUID(bytes=bytes(r[0])): StoredAck(r[1], bytes(r[2]), bytes(r[3])) for r in rows}

    def find_refusals(self, shas: list[bytes]) -> dict[bytes, tuple[uuid.UUID, str, bytes]]:
        """Refusals by envelope SHA-256, in one statement: (record id, device id, ack)."""
        if not shas:
            return {}
        marks = ", ".join("?" * len(shas))
        rows = self._query(f"SELECT envelope_sha256, record_id, device_id, ack FROM refusals "
                           f"WHERE envelope_sha256 IN ({marks})", tuple(shas))
        return {bytes(r[0]): (uuid.UUID(bytes=bytes(r[1])), r[2], bytes(r[3])) for r in rows}

    def insert_record(self, row: RecordRow) -> StoredAck:
        """Store once; returns what is stored for this record id (ours, or the earlier one)."""
        return self.insert_records([row])[0]

    def insert_records(self, rows: list[RecordRow]) -> list[StoredAck]:
        """`insert_record` for several rows in one transaction (one commit, one fsync)."""
        cols = f"{_RECORD_COLS}, {', '.join(KEY_COLUMNS)}, auxiliary_status"
        marks = ", ".join("?" * (_RECORD_COLS.count(",") + 2 + len(KEY_COLUMNS)))
        insert = self._sql(f"INSERT INTO records ({cols}) VALUES ({marks}) "
                           "ON CONFLICT (record_id) DO NOTHING")
        select = self._sql("SELECT device_id, envelope_sha256, ack FROM records WHERE record_id = ?")
        out: dict[int, StoredAck] = {}
        with self._tx() as conn:
            # One lock order for every batch: two workers holding the same ids cannot deadlock.
            for i, row in sorted(enumerate(rows), key=lambda p: p[1].record_id.bytes):
                conn.execute(insert, (
                    row.record_id.bytes, row.device_id, row.folio, row.created_ms, row.received_ms,
                    row.transport, row.process_id, row.aspirant_id, row.auxiliary_id, row.captured_ms,
                    row.envelope_sha256, row.envelope, row.record, row.ack, *(row.keys or (None,) * 5),
                    row.auxiliary_status))
                # READ COMMITTED: this statement sees a concurrent winner's committed row.
                r = conn.execute(select, (row.record_id.bytes,)).fetchone()
                out[i] = StoredAck(r[0], bytes(r[1]), bytes(r[2]))
        return [out[i] for i in range(len(rows))]

    def find_refusal(self, envelope_sha256: bytes) -> bytes | None:
        rows = self._query("SELECT ack FROM refusals WHERE envelope_sha256 = ?", (envelope_sha256,))
        return bytes(rows[0][0]) if rows else None

    def insert_refusal(self, row: RefusalRow) -> bytes:
        """Keep a refused envelope once; returns the stored refusal ack."""
        values = (row.envelope_sha256, row.record_id.bytes, row.device_id, row.reason, row.detail,
                  row.received_ms, row.transport, row.envelope, row.ack)
        with self._tx() as conn:
            conn.execute(self._sql(f"INSERT INTO refusals ({_REFUSAL_COLS}) "
                                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                                   "ON CONFLICT (envelope_sha256) DO NOTHING"), values)
            r = conn.execute(self._sql("SELECT ack FROM refusals WHERE envelope_sha256 = ?"),
                             (row.envelope_sha256,)).fetchone()
        return bytes(r[0])

    # --- for feature modules (roll, verify, acuse, dashboard): their own tables ----------

    def tx(self) -> contextlib.AbstractContextManager[Any]:
        """A write transaction on this thread's connection (see `_tx`)."""
        return self._tx()

    def sql(self, sql: str) -> str:
        """`?` placeholders in the dialect of this store."""
        return self._sql(sql)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._query(sql, params)

    def raw_connection(self) -> Any:
        """This thread's connection (bulk loads: COPY on PostgreSQL)."""
        return self._conn()

    def ensure_schema(self, schema: str, lock_id: int) -> None:
        """Run `;`-separated CREATE ... IF NOT EXISTS statements ({blob}/{int}/{real} typed)."""
        types = ({"blob": "BLOB", "int": "INTEGER", "real": "REAL"} if self.kind == "sqlite"
                 else {"blob": "BYTEA", "int": "BIGINT", "real": "DOUBLE PRECISION"})
        with self._tx() as conn:
            if self.kind == "postgresql":
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_id,))
            for stmt in schema.format(**types).split(";"):
                if stmt.strip():
                    conn.execute(stmt)

    def add_column(self, table: str, column: str, sql_type: str, lock_id: int) -> None:
        """Add a nullable column to an older table if it lacks it (identifiers are ours).

        Looked up first and remembered: callers run this on hot paths (schema checks before a
        heartbeat is stored), and on PostgreSQL even `ADD COLUMN IF NOT EXISTS` takes the
        table's exclusive lock."""
        if (table, column) in self._columns_seen:
            return
        with self._tx() as conn:
            if self.kind == "postgresql":
                have = {r[0] for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                    "AND table_schema = current_schema()", (table,)).fetchall()}
                if column not in have:
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_id,))
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {sql_type}")
            else:
                have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})").fetchall()}
                if column not in have:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")
        self._columns_seen.add((table, column))

    def has_table(self, name: str) -> bool:
        if self.kind == "sqlite":
            rows = self._query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        else:
            rows = self._query("SELECT 1 FROM information_schema.tables WHERE table_name = ? "
                               "AND table_schema = current_schema()", (name,))
        return bool(rows)

    # --- inspection (admin, tests) ----------------------------------------------------

    def count_records(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM records")[0][0])

    def record_ids(self) -> set[uuid.UUID]:
        return {uuid.UUID(bytes=bytes(r[0])) for r in self._query("SELECT record_id FROM records")}

    def get_record(self, record_id: uuid.UUID) -> RecordRow | None:
        rows = self._query(f"SELECT {_RECORD_COLS}, auxiliary_status FROM records WHERE record_id = ?",
                           (record_id.bytes,))
        if not rows:
            return None
        r = rows[0]
        return RecordRow(uuid.UUID(bytes=bytes(r[0])), r[1], r[2], int(r[3]), int(r[4]), r[5], r[6], r[7],
                         r[8], int(r[9]), bytes(r[10]), bytes(r[11]), bytes(r[12]), bytes(r[13]),
                         auxiliary_status=r[14])

    def count_refusals(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM refusals")[0][0])

    def refusal_reasons(self) -> list[tuple[str, str]]:
        """(device_id, reason) of every refusal, oldest first."""
        rows = self._query("SELECT device_id, reason FROM refusals ORDER BY received_ms")
        return [(r[0], r[1]) for r in rows]


def _create_private(path: Path) -> None:
    """Create a new SQLite file 0600 before SQLite does (it would use 0644 less the umask).
    SQLite gives the -wal and -shm files the main file's mode, whatever the umask; an existing
    file keeps its mode (`check-config` refuses one others can read)."""
    if str(path) in ("", ":memory:"):
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def open_store(url: str) -> Store:
    store = Store(url)
    store.init_schema()
    return store
