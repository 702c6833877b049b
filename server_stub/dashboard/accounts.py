"""Dashboard accounts and sessions: coordinators and aspirants.

Passwords are stored only as scrypt hashes (`scrypt$n$r$p$salt$hash`, hex).
Every login try costs exactly one scrypt, for a known user name or not (an unknown
one is checked against `DUMMY_HASH`), so timing does not tell which names exist.
How often a client may try is `login_limits`' business (per address and per
account and address; the app asks it before calling `login`). A session is a random
token in a cookie (HttpOnly, Secure, SameSite=Strict); the store keeps only
its SHA-256, with a per-session CSRF token that every POST must echo.
An `aspirante` account is bound to one (process, aspirant) and sees only that
aspirant's records.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from server_stub.core.store import Store
from sync.common import pin

ROLES = ("coordinador", "aspirante")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SESSION_MS = 8 * 3600 * 1000
# A hash of a random password nobody kept: an unknown user name is checked against it, so it
# costs one scrypt like a known one. Same parameters as `hash_password` (a test checks).
DUMMY_HASH = ("scrypt$16384$8$1$66d34c312b421feebf786840b2f30df9$"
              "f9d8a752280a97aa889dc70b566f083c3abfcbb666488bb19b4b0a4e3e30b8ff")

SCHEMA = """
CREATE TABLE IF NOT EXISTS dashboard_users (
    username         TEXT PRIMARY KEY,
    password_hash    TEXT NOT NULL,
    role             TEXT NOT NULL,
    process_id       TEXT,
    aspirant_id      TEXT,
    failures         {int} NOT NULL,
    locked_until_ms  {int} NOT NULL,
    created_ms       {int} NOT NULL
);
CREATE TABLE IF NOT EXISTS dashboard_sessions (
    token_sha256  {blob} PRIMARY KEY,
    username      TEXT NOT NULL,
    csrf          TEXT NOT NULL,
    expires_ms    {int} NOT NULL
)
"""


class AccountError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: str
    process_id: str | None
    aspirant_id: str | None
    display_name: str = ""  # what pages show; the user name on hover and in the audit log

    @property
    def shown(self) -> str:
        return self.display_name or self.username


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    csrf: str


def ensure_schema(store: Store) -> None:
    store.ensure_schema(SCHEMA, 7711105)
    store.add_column("dashboard_users", "display_name", "TEXT", 7711105)  # older stores: NULL


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    h = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${h.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Constant-time check against a `hash_password` hash; False on any malformed hash.
    The format is the operator PINs' (sync/common/pin.py), so their check serves."""
    return pin.verify_pin(password, stored)


def add_user(store: Store, username: str, password: str, role: str = "coordinador", *,
             process_id: str | None = None, aspirant_id: str | None = None,
             display_name: str = "") -> User:
    if role not in ROLES:
        raise AccountError(f"rol desconocido {role!r}")
    if role == "aspirante" and not (process_id and aspirant_id):
        raise AccountError("una cuenta de aspirante necesita proceso y aspirante")
    if len(password) < 10:
        raise AccountError("la contraseña debe tener al menos 10 caracteres")
    if not username or len(username) > 64:
        raise AccountError("nombre de usuario vacío o demasiado largo")
    display_name = " ".join(display_name.split())
    if len(display_name) > 80 or not all(c.isprintable() for c in display_name):
        raise AccountError("nombre para mostrar demasiado largo o con caracteres no imprimibles")
    ensure_schema(store)
    with store.tx() as conn:
        conn.execute(store.sql(
            "INSERT INTO dashboard_users (username, password_hash, role, process_id, aspirant_id, "
            "failures, locked_until_ms, created_ms, display_name) VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?) "
            "ON CONFLICT (username) DO UPDATE SET "
            "password_hash = excluded.password_hash, role = excluded.role, process_id = excluded.process_id, "
            "aspirant_id = excluded.aspirant_id, failures = 0, locked_until_ms = 0, "
            "display_name = excluded.display_name"),
            (username, hash_password(password), role, process_id, aspirant_id, int(time.time() * 1000),
             display_name or None))
    return User(username, role, process_id, aspirant_id, display_name)


def login(store: Store, username: str, password: str) -> tuple[str, Session] | None:
    """(cookie token, session) for the right password; None otherwise. One scrypt either way.
    (The columns `failures` and `locked_until_ms` are no longer used: `login_limits` counts.)"""
    now = int(time.time() * 1000)
    rows = store.query("SELECT password_hash, role, process_id, aspirant_id, COALESCE(display_name, '') "
                       "FROM dashboard_users WHERE username = ?", (username,))
    if not rows:
        check_password(password, DUMMY_HASH)  # same cost: no user enumeration by timing
        return None
    stored, role, proc, asp, shown = rows[0]
    if not check_password(password, stored):
        return None
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    with store.tx() as conn:
        conn.execute(store.sql("DELETE FROM dashboard_sessions WHERE expires_ms < ?"), (now,))
        conn.execute(store.sql("INSERT INTO dashboard_sessions (token_sha256, username, csrf, expires_ms) "
                               "VALUES (?, ?, ?, ?)"),
                     (hashlib.sha256(token.encode()).digest(), username, csrf, now + SESSION_MS))
    return token, Session(User(username, role, proc, asp, shown), csrf)


def session(store: Store, token: str | None) -> Session | None:
    if not token:
        return None
    rows = store.query(
        "SELECT u.username, u.role, u.process_id, u.aspirant_id, s.csrf, s.expires_ms, "
        "COALESCE(u.display_name, '') "
        "FROM dashboard_sessions s JOIN dashboard_users u ON u.username = s.username "
        "WHERE s.token_sha256 = ?",
        (hashlib.sha256(token.encode()).digest(),))
    if not rows or int(rows[0][5]) < time.time() * 1000:
        return None
    r = rows[0]
    return Session(User(r[0], r[1], r[2], r[3], r[6]), r[4])


def display_names(store: Store) -> dict[str, str]:
    """{username: display name} of the accounts that have one (pages show people by name)."""
    return {r[0]: r[1] for r in store.query("SELECT username, display_name FROM dashboard_users "
                                            "WHERE display_name IS NOT NULL AND display_name <> ''")}


def logout(store: Store, token: str | None) -> None:
    if token:
        with store.tx() as conn:
            conn.execute(store.sql("DELETE FROM dashboard_sessions WHERE token_sha256 = ?"),
                         (hashlib.sha256(token.encode()).digest(),))


def csrf_ok(sess: Session, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(sess.csrf, presented or "")
