"""Config compatibility: which device-config keys a fleet config may carry, by schema.

The device checks a config it receives (a config update, or the enrollment bundle) with
its strict loader, which refuses a key it does not know inside a table (``[freeze]``, a
process, its scope...) and so the whole update. The rule (docs/architecture.md, "Config
compatibility"):

1. Every change to the keys a config may carry adds a schema version here, with the full
   key tree of that version, and bumps ``CONFIG_SCHEMA``. A new key has a default on the
   device, so a device that never receives it still works.
2. The device reports the schema it understands: in every heartbeat and in its
   enrollment request (``config_schema``).
3. The server builds a config for the schema the device reported (``for_schema``): keys
   that version does not know are left out, and the server logs what it left out. Until
   a device's first heartbeat, the schema of its enrollment request counts; a device
   that never reported one is taken to be at 1, the schema of devices from before this
   rule.

A test checks that the current version's tree is exactly what the device's loader
accepts, so the table cannot drift from the config dataclasses.
"""

from __future__ import annotations

from typing import Any

# The keys a config may carry, by schema version, as a tree: key -> the keys inside it (a
# table, or each table of a list), or None for a plain value.
Spec = dict[str, "Spec | None"]

_SCOPE: Spec = dict.fromkeys(("level", "entidad", "distrito_federal", "distrito_local", "municipio"))
_PROCESS_1: Spec = {**dict.fromkeys(("id", "kind", "name", "aspirant_id", "aspirant_name", "start", "end",
                                     "threshold_percent", "start_ms", "end_ms")), "scope": _SCOPE}
KEYS_BY_SCHEMA: dict[int, Spec] = {
    1: {
        "processes": _PROCESS_1,
        "auxiliaries": dict.fromkeys(("id", "name", "pin_hash", "processes", "role")),
        "secciones": dict.fromkeys(("seccion", "entidad", "distrito_federal", "distrito_local", "municipio")),
        "freeze": dict.fromkeys(("max_unsent_age_days", "max_pending")),
        "unlock": None,  # not config: auxiliaries whose PIN lockout the device clears
    },
}
# 2: the thresholds of home's warnings (low battery, unsent records, free disk).
KEYS_BY_SCHEMA[2] = {**KEYS_BY_SCHEMA[1],
                     "warnings": dict.fromkeys(("low_battery_percent", "unsent_hours", "low_disk_records"))}
# 3: each process's time zone (its dates are calendar days there; sync/common/periods.py).
KEYS_BY_SCHEMA[3] = {**KEYS_BY_SCHEMA[2],
                     "processes": {**_PROCESS_1, "timezone": None}}
# 4: self-service devices (docs/self-service.md).
KEYS_BY_SCHEMA[4] = {**KEYS_BY_SCHEMA[3],
                     "self_service": dict.fromkeys(("enabled", "idle_seconds", "warning_seconds"))}
CONFIG_SCHEMA = max(KEYS_BY_SCHEMA)
BASELINE_SCHEMA = 1  # devices from before the rule report nothing


def reported_schema(status: dict[str, Any] | None) -> int:
    """The schema a heartbeat or an enrollment request says the device understands
    (BASELINE_SCHEMA when absent or bad)."""
    v = (status or {}).get("config_schema")
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= BASELINE_SCHEMA else BASELINE_SCHEMA


def for_schema(payload: dict[str, Any], schema: int, table: dict[int, Spec] | None = None
               ) -> tuple[dict[str, Any], list[str]]:
    """`payload` cut to what a device at `schema` understands, and the dotted keys left out.

    A device newer than this table gets the newest version the table knows."""
    table = KEYS_BY_SCHEMA if table is None else table
    known = table[min(max(schema, min(table)), max(table))]
    dropped: list[str] = []
    return _cut(payload, known, "", dropped), sorted(set(dropped))


def _cut(value: Any, spec: Spec | None, where: str, dropped: list[str]) -> Any:
    if spec is None:
        return value
    if isinstance(value, list):
        return [_cut(v, spec, f"{where}[]", dropped) for v in value]
    if not isinstance(value, dict):
        return value  # a wrong shape is the device loader's to refuse, with its own message
    out = {}
    for key, inner in value.items():
        path = f"{where}.{key}" if where else key
        if key in spec:
            out[key] = _cut(inner, spec[key], path, dropped)
        else:
            dropped.append(path)
    return out
