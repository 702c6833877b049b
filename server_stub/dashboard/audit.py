"""The coordinators' audit log: who did what to which auxiliary, process or aspirant, and when.

One row per dashboard action (``audit_log``; SQLite and PostgreSQL), written after the
action succeeded, read newest first by the `/auditoria` page. ``detail`` is free text for
a person to read and is never a secret: callers pass no PIN, password or code in it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from server_stub.core.store import Store

LOCK = 7711110  # this table's advisory lock on PostgreSQL (the others: 77111xx in their modules)
# The id column differs by dialect; the rest goes through Store.ensure_schema's {int}.
_ID = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgresql": "BIGSERIAL PRIMARY KEY"}
SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    id      {{id}},
    at_ms   {int} NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    detail  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at_ms)
"""

# Action codes and the Spanish words the page shows for them. Another page module may add its
# own (`ACTIONS[code] = label`); a code without a label is shown as it is.
AUX_ADD, AUX_EDIT, AUX_PIN = "auxiliar-alta", "auxiliar-edicion", "auxiliar-pin"
PROCESS_DEFINE, ASPIRANT_ADD = "proceso-definicion", "aspirante-alta"
ROLL_IMPORT, CODE_ISSUE, CODE_CANCEL = "padron-importacion", "codigo-emision", "codigo-cancelacion"
DEVICE_REVOKE, DEVICE_WIPE = "dispositivo-revocacion", "dispositivo-borrado"
DEVICE_LABEL = "dispositivo-nombre"
NOTIFY, SEARCH = "aspirante-notificacion", "buscar"
ACTIONS = {
    AUX_ADD: "Alta de auxiliar",
    AUX_EDIT: "Edición de auxiliar",
    AUX_PIN: "PIN nuevo de auxiliar",
    PROCESS_DEFINE: "Definición de proceso",
    ASPIRANT_ADD: "Alta de aspirante",
    ROLL_IMPORT: "Importación del padrón",
    CODE_ISSUE: "Código de alta emitido",
    CODE_CANCEL: "Código de alta cancelado",
    DEVICE_REVOKE: "Dispositivo revocado",
    DEVICE_WIPE: "Borrado de dispositivo",
    DEVICE_LABEL: "Nombre de dispositivo",
    NOTIFY: "Notificación de garantía de audiencia",
    SEARCH: "Búsqueda",
}


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    at_ms: int
    actor: str
    action: str
    target: str
    detail: str

    @property
    def label(self) -> str:
        return ACTIONS.get(self.action, self.action)


def ensure_schema(store: Store) -> None:
    store.ensure_schema(SCHEMA.replace("{{id}}", _ID[store.kind]), LOCK)


def record(store: Store, actor: str, action: str, target: str, detail: str = "") -> None:
    """One row for an action that succeeded. `detail` must hold no secret (see the module doc)."""
    with store.tx() as conn:
        conn.execute(store.sql("INSERT INTO audit_log (at_ms, actor, action, target, detail) "
                               "VALUES (?, ?, ?, ?, ?)"),
                     (int(time.time() * 1000), actor, action, target, detail))


def recent(store: Store, limit: int = 200, action: str | None = None) -> list[Entry]:
    """The newest `limit` rows (of `action` only, if given), newest first."""
    where, params = ("WHERE action = ? ", (action,)) if action else ("", ())
    rows = store.query(f"SELECT id, at_ms, actor, action, target, detail FROM audit_log {where}"
                       "ORDER BY at_ms DESC, id DESC LIMIT ?", (*params, limit))
    return [Entry(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5]) for r in rows]


def filter_choices(store: Store) -> dict[str, str]:
    """{code: label} of the actions the page's filter offers: the known ones and any in the log."""
    seen = [r[0] for r in store.query("SELECT DISTINCT action FROM audit_log ORDER BY action")]
    return {**ACTIONS, **{a: ACTIONS.get(a, a) for a in seen}}


def last_at(store: Store, actions: tuple[str, ...]) -> dict[str, int]:
    """{target: time of its newest row among `actions`} (e.g. when each PIN was last set)."""
    marks = ", ".join("?" * len(actions))
    rows = store.query(f"SELECT target, MAX(at_ms) FROM audit_log WHERE action IN ({marks}) GROUP BY target",
                       actions)
    return {r[0]: int(r[1]) for r in rows}
