"""Config compatibility: which device-config keys a fleet config update may carry, by schema.

The device's config loader is strict (an unknown key is refused: right for a hand-edited
file), so a config update that carries a key an older device does not know would be
refused whole. The rule (docs/architecture.md, "Config compatibility"):

1. Every change to the keys a config update can carry adds a schema version here, with
   the full key set of that version, and bumps ``CONFIG_SCHEMA``. A new key has a default
   on the device, so a device that never receives it still works.
2. The device reports the schema it understands in every heartbeat (``config_schema``).
3. The server builds the update for the schema the device last reported
   (``for_schema``): keys that version does not know are left out, and the server
   records what it left out. A device that never reported one is taken to be at 1,
   the schema of devices from before this rule.

A test checks that the current version's keys are exactly what the device's loader
accepts, so the table cannot drift from the config dataclasses.
"""

from __future__ import annotations

from typing import Any

# Keys a config update may carry, by schema version: top-level key -> its inner keys
# (a table, or each table of a list), or None for a plain value.
KEYS_BY_SCHEMA: dict[int, dict[str, frozenset[str] | None]] = {
    1: {
        "processes": frozenset({"id", "kind", "name", "aspirant_id", "aspirant_name", "scope", "start",
                                "end", "threshold_percent", "start_ms", "end_ms"}),
        "auxiliaries": frozenset({"id", "name", "pin_hash", "processes", "role"}),
        "secciones": frozenset({"seccion", "entidad", "distrito_federal", "distrito_local", "municipio"}),
        "freeze": frozenset({"max_unsent_age_days", "max_pending"}),
        "unlock": None,  # not config: auxiliaries whose PIN lockout the device clears
    },
}
CONFIG_SCHEMA = max(KEYS_BY_SCHEMA)
BASELINE_SCHEMA = 1  # devices from before the rule report nothing


def reported_schema(status: dict[str, Any] | None) -> int:
    """The schema a heartbeat says the device understands (BASELINE_SCHEMA when absent or bad)."""
    v = (status or {}).get("config_schema")
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= BASELINE_SCHEMA else BASELINE_SCHEMA


def for_schema(payload: dict[str, Any], schema: int,
               table: dict[int, dict[str, frozenset[str] | None]] | None = None
               ) -> tuple[dict[str, Any], list[str]]:
    """`payload` cut to what a device at `schema` understands, and the dotted keys left out.

    A device newer than this table gets the newest version the table knows."""
    table = KEYS_BY_SCHEMA if table is None else table
    known = table[min(max(schema, min(table)), max(table))]
    out: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in payload.items():
        if key not in known:
            dropped.append(key)
            continue
        inner = known[key]
        if inner is None:
            out[key] = value
        elif isinstance(value, dict):
            out[key] = _cut(value, inner, key, dropped)
        elif isinstance(value, list):
            out[key] = [_cut(v, inner, f"{key}[]", dropped) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    return out, sorted(set(dropped))


def _cut(table: dict[str, Any], keys: frozenset[str], where: str, dropped: list[str]) -> dict[str, Any]:
    dropped.extend(f"{where}.{k}" for k in table if k not in keys)
    return {k: v for k, v in table.items() if k in keys}
