"""The server store's tables: the schema, and the in-place migrations of older stores.

Every statement works on SQLite and PostgreSQL (`{blob}` / `{int}` are filled per backend);
a migration runs inside `Store.init_schema`'s transaction, once per store.
"""

from __future__ import annotations

from typing import Any

# Key columns of the records table, extracted at ingest (server_stub/verify/lookup_keys.py).
KEY_COLUMNS = ("key_cic", "key_ident", "key_seccion", "key_model", "key_checks")

AUX_REGISTERED = "registrado"  # an auxiliary the server assigned to the sending device
AUX_UNKNOWN = "no_registrado"  # any other id: kept, flagged, never shown unmarked
AUX_SELF_SERVICE = "autoservicio"  # empty id from a device provisioned for self-service
AUX_MISSING = "sin_auxiliar"  # empty id from any other device: flagged
AUX_STATUSES = (AUX_REGISTERED, AUX_UNKNOWN, AUX_SELF_SERVICE, AUX_MISSING)

SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    device_id   TEXT PRIMARY KEY,
    sign_pub    {blob} NOT NULL,
    cert_pem    TEXT,
    state       TEXT NOT NULL CHECK (state IN ('active', 'revoked')),
    added_ms    {int} NOT NULL,
    updated_ms  {int} NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    record_id        {blob} PRIMARY KEY,
    device_id        TEXT NOT NULL,
    folio            TEXT NOT NULL,
    created_ms       {int} NOT NULL,
    received_ms      {int} NOT NULL,
    transport        TEXT NOT NULL,
    process_id       TEXT NOT NULL,
    aspirant_id      TEXT NOT NULL,
    auxiliary_id     TEXT NOT NULL,
    captured_ms      {int} NOT NULL,
    envelope_sha256  {blob} NOT NULL,
    envelope         {blob} NOT NULL,
    record           {blob} NOT NULL,
    ack              {blob} NOT NULL
);
CREATE INDEX IF NOT EXISTS records_device ON records (device_id, received_ms);
CREATE TABLE IF NOT EXISTS refusals (
    envelope_sha256  {blob} PRIMARY KEY,
    record_id        {blob} NOT NULL,
    device_id        TEXT NOT NULL,
    reason           TEXT NOT NULL,
    detail           TEXT NOT NULL,
    received_ms      {int} NOT NULL,
    transport        TEXT NOT NULL,
    envelope         {blob} NOT NULL,
    ack              {blob} NOT NULL
)
"""


def migrate_records(kind: str, conn: Any) -> None:
    """Add the verification key columns to an older records table (NULL for old rows), and
    the auxiliary status column, classifying the rows already there once."""
    if kind == "sqlite":
        have = {r[1] for r in conn.execute("PRAGMA table_info(records)").fetchall()}
        for col in KEY_COLUMNS:
            if col not in have:
                conn.execute(f"ALTER TABLE records ADD COLUMN {col} TEXT")
    else:
        for col in KEY_COLUMNS:
            conn.execute(f"ALTER TABLE records ADD COLUMN IF NOT EXISTS {col} TEXT")
        have = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'records' "
            "AND table_schema = current_schema()").fetchall()}
    if "auxiliary_status" not in have:
        conn.execute("ALTER TABLE records ADD COLUMN auxiliary_status TEXT")
        _backfill_auxiliary_status(kind, conn)
    # The verifier reads records without a verdict in receive order.
    conn.execute("CREATE INDEX IF NOT EXISTS records_received ON records (received_ms, record_id)")


def _backfill_auxiliary_status(kind: str, conn: Any) -> None:
    """Rows stored before ingest checked auxiliary ids: the rule of
    `server_stub.ingest.ingest.auxiliary_status`, once, in SQL. The fleet's tables may not
    exist yet (then no id was ever issued). A device's list is JSON text: an id is looked
    for with its quotes, and an id holding a quote or backslash is never matched."""
    def table(name: str) -> bool:
        if kind == "sqlite":
            return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                (name,)).fetchone() is not None
        return conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is not None
    find = "instr" if kind == "sqlite" else "strpos"
    own = "SELECT d.auxiliaries FROM fleet_devices d WHERE d.device_id = records.device_id"
    cases = [f"WHEN auxiliary_id = '' THEN '{AUX_MISSING}'"]
    if table("fleet_devices"):
        cases = [
            f"WHEN auxiliary_id = '' AND ({own}) = '[]' THEN '{AUX_SELF_SERVICE}'",
            *cases,
            f"WHEN ({own}) IS NOT NULL AND {find}(auxiliary_id, '\"') = 0 "
            f"AND {find}(auxiliary_id, '\\') = 0 "
            f"AND {find}(({own}), '\"' || auxiliary_id || '\"') > 0 THEN '{AUX_REGISTERED}'",
            f"WHEN ({own}) IS NOT NULL THEN '{AUX_UNKNOWN}'",
        ]
    if table("fleet_auxiliaries"):
        # A device registered by hand (no fleet row): any id the server issued, as at ingest.
        cases.append(f"WHEN auxiliary_id IN (SELECT aux_id FROM fleet_auxiliaries) "
                     f"THEN '{AUX_REGISTERED}'")
    conn.execute(f"UPDATE records SET auxiliary_status = CASE {' '.join(cases)} ELSE '{AUX_UNKNOWN}' END")
