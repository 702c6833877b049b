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
AUX_SELF_SERVICE = "autoservicio"  # a citizen's record from a device provisioned for self-service
# Flagged: an empty id from any other device; on a self-service device, a record not the
# citizen's (no captured_by, or a riding coordinator's id).
AUX_MISSING = "sin_auxiliar"
AUX_STATUSES = (AUX_REGISTERED, AUX_UNKNOWN, AUX_SELF_SERVICE, AUX_MISSING)
# A citizen's record (captured_by "ciudadano") and any record from a self-service device are
# stored with auxiliary_status NULL and get both statuses in the one transaction that checks
# their activation code (ingest): so NULL there also means "activation not checked yet", and
# verification and the acuse wait for it.

# records.activation_status: what ingest found the activation code of a citizen's record to be
# (server_stub.fleet.activations.check_record), and of any record from a self-service device;
# NULL for an auxiliary's record.
ACT_VALID = "valida"
ACT_NOT_VALID = "no_valida"  # not a code, or not one the server issued (a wrong code)
ACT_INVALIDATED = "invalidada"  # the code died: too many wrong codes typed on its device
ACT_OTHER_DEVICE = "otro_dispositivo"
ACT_OTHER_CARD = "otra_credencial"
ACT_EXPIRED = "caducada"
ACT_USED = "usada"  # the code already gave another support
# The status in words, for the verdict's reason and the citizen's acuse (Spanish).
ACTIVATION_WORDS = {
    ACT_VALID: "válida",
    ACT_NOT_VALID: "el código no es uno de los emitidos",
    ACT_INVALIDATED: "el código se anuló tras varios códigos equivocados",
    ACT_OTHER_DEVICE: "el código se pidió en otro dispositivo",
    ACT_OTHER_CARD: "el código se pidió para otra credencial",
    ACT_EXPIRED: "el código había vencido al capturar el apoyo",
    ACT_USED: "el código ya se había usado para otro apoyo",
}

# The outgoing mail queue: acuses (key: the record id) and activation codes (key: the
# activation id), both sent by server_stub.ingest.acuse.AcuseWorker with retries. A code's
# message is blanked once delivered, so the store keeps no copy of the code.
MAIL_QUEUE_LOCK = 7711104
MAIL_PENDING = "pendiente"
MAIL_QUEUE_SCHEMA = """
CREATE TABLE IF NOT EXISTS mail_queue (
    record_id         {blob} PRIMARY KEY,
    to_addr           TEXT NOT NULL,
    message           {blob} NOT NULL,
    state             TEXT NOT NULL,
    attempts          {int} NOT NULL,
    next_try_ms       {int} NOT NULL,
    claimed_until_ms  {int} NOT NULL,
    created_ms        {int} NOT NULL,
    sent_ms           {int},
    last_error        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mail_queue_due ON mail_queue (state, next_try_ms)
"""
# Columns added to the queue after its first release (Store.add_column, nullable): `kind` marks
# an activation code's message (MAIL_ACTIVATION; NULL: an acuse), `expires_ms` the time after
# which it is dropped undelivered (its activation's expiry; NULL: retried until delivered).
MAIL_QUEUE_COLUMNS = (("kind", "TEXT"), ("expires_ms", "BIGINT"))
MAIL_ACTIVATION = "activacion"
MAIL_SENT = "enviado"
MAIL_EXPIRED = "caducado"  # an activation code not delivered before it expired: never sent
# (key, to_addr, message, state, next_try_ms, created_ms): a message queued once per key.
MAIL_QUEUE_INSERT = ("INSERT INTO mail_queue (record_id, to_addr, message, state, attempts, next_try_ms, "
                     "claimed_until_ms, created_ms, sent_ms, last_error) "
                     "VALUES (?, ?, ?, ?, 0, ?, 0, ?, NULL, '') ON CONFLICT (record_id) DO NOTHING")
# The same for an activation code: (key, to_addr, message, state, next_try_ms, created_ms, kind,
# expires_ms).
MAIL_QUEUE_INSERT_CODE = ("INSERT INTO mail_queue (record_id, to_addr, message, state, attempts, "
                          "next_try_ms, claimed_until_ms, created_ms, sent_ms, last_error, kind, expires_ms) "
                          "VALUES (?, ?, ?, ?, 0, ?, 0, ?, NULL, '', ?, ?) "
                          "ON CONFLICT (record_id) DO NOTHING")

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
    """Add the verification key columns to an older records table (NULL for old rows), the
    auxiliary status column, classifying the rows already there once, and the activation
    status column (NULL for old rows: no citizen's record came before it)."""
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
    if "activation_status" not in have:
        conn.execute("ALTER TABLE records ADD COLUMN activation_status TEXT")
    # Citizens' records whose activation is not checked yet (a crash between storing and
    # checking): ingest looks them up after a restart (server_stub.ingest.ingest).
    conn.execute("CREATE INDEX IF NOT EXISTS records_unsettled ON records (received_ms) "
                 "WHERE auxiliary_status IS NULL")
    # The verifier reads records without a verdict in receive order.
    conn.execute("CREATE INDEX IF NOT EXISTS records_received ON records (received_ms, record_id)")


def _backfill_auxiliary_status(kind: str, conn: Any) -> None:
    """Rows stored before ingest checked auxiliary ids: the rule of
    `server_stub.ingest.settle.auxiliary_status`, once, in SQL. The fleet's tables may not
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
