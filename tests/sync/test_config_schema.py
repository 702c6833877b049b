"""Config compatibility: a fleet config update never carries a key the device does not know.

The device's loader is strict, so the server cuts each update to the config schema the
device last reported (sync/wire/config_schema.py, docs/architecture.md).
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from server_stub.core.store import open_store
from server_stub.fleet import tables as fleet
from server_stub.fleet.command_issue import for_device
from server_stub.fleet.registry import add_device
from sync.device import config as device_config
from sync.device.command_exec import CONFIG_UPDATE_SHAPES, apply_command
from sync.device.config import load_config
from sync.device.enroll import _make_keys, enroll_request
from sync.wire import enrollment as proto
from sync.wire.config_schema import (
    BASELINE_SCHEMA,
    CONFIG_SCHEMA,
    KEYS_BY_SCHEMA,
    for_schema,
    reported_schema,
)
from tests.helpers.ui import offline_device, signed_config

# A made-up next version: one new table key and one new top-level key, as a later change would add.
_NOW = KEYS_BY_SCHEMA[CONFIG_SCHEMA]
NEXT = {**KEYS_BY_SCHEMA, CONFIG_SCHEMA + 1: {
    **_NOW,
    "freeze": {**(_NOW["freeze"] or {}), "max_offline_days": None},
    "processes": {**(_NOW["processes"] or {}), "scope": {**((_NOW["processes"] or {})["scope"] or {}),
                                                         "seccion": None}},
    "kiosk_mode": None,
}}


def _tree(cls: type) -> dict[str, Any]:
    """The keys the device's loader accepts for a config dataclass, nested tables included."""
    hints = typing.get_type_hints(cls)
    return {f.name: _tree(hints[f.name]) if dataclasses.is_dataclass(hints[f.name]) else None
            for f in dataclasses.fields(cls)}


def test_the_current_schema_is_what_the_device_loader_accepts() -> None:
    keys = KEYS_BY_SCHEMA[CONFIG_SCHEMA]
    assert keys["processes"] == _tree(device_config.Process)  # its scope table too
    assert keys["auxiliaries"] == _tree(device_config.Auxiliary)
    assert keys["secciones"] == _tree(device_config.Seccion)
    assert keys["freeze"] == _tree(device_config.FreezeSection)
    assert keys["self_service"] == _tree(device_config.SelfServiceSection)
    # A config update replaces exactly these top-level keys (command_exec's shapes), no more.
    assert set(CONFIG_UPDATE_SHAPES) == set(keys) - {"unlock"}


def test_the_schema_a_heartbeat_reports() -> None:
    assert reported_schema(None) == BASELINE_SCHEMA          # no heartbeat yet
    assert reported_schema({"online": True}) == BASELINE_SCHEMA  # a device from before the rule
    assert reported_schema({"config_schema": 7}) == 7
    for bad in ("2", True, 0, -1, 1.5):
        assert reported_schema({"config_schema": bad}) == BASELINE_SCHEMA


def test_an_update_is_cut_to_the_devices_schema() -> None:
    payload = {"freeze": {"max_pending": 50, "max_offline_days": 4}, "kiosk_mode": "ciudadano",
               "auxiliaries": [{"id": "aux-1", "name": "A", "pin_hash": "h", "processes": [],
                                "badge": "x"}], "unlock": ["aux-1"],
               "processes": [{"id": "p1", "scope": {"level": "seccion", "entidad": 9, "seccion": 12}}]}
    old, dropped = for_schema(payload, CONFIG_SCHEMA, NEXT)
    assert old == {"freeze": {"max_pending": 50}, "unlock": ["aux-1"],
                   "auxiliaries": [{"id": "aux-1", "name": "A", "pin_hash": "h", "processes": []}],
                   "processes": [{"id": "p1", "scope": {"level": "seccion", "entidad": 9}}]}
    assert dropped == ["auxiliaries[].badge", "freeze.max_offline_days", "kiosk_mode",
                       "processes[].scope.seccion"]
    new, dropped = for_schema(payload, CONFIG_SCHEMA + 1, NEXT)
    assert new["kiosk_mode"] == "ciudadano" and new["freeze"]["max_offline_days"] == 4
    assert new["processes"][0]["scope"]["seccion"] == 12
    assert dropped == ["auxiliaries[].badge"]
    # A device newer than the server gets the newest version the server knows.
    assert for_schema(payload, CONFIG_SCHEMA + 5, NEXT)[0] == new


def test_a_device_refuses_an_uncut_update_and_applies_the_cut_one(tmp_path: Path) -> None:
    """Why the rule exists, on the real device path: the strict loader refuses a key it does
    not know (the whole update), and takes the same update cut to its schema."""
    cfg_path = offline_device(tmp_path / "dev")
    newer = {"freeze": {"max_pending": 77, "max_offline_days": 4}}
    assert not apply_command(load_config(cfg_path), signed_config(cfg_path, 1, newer)).applied
    assert load_config(cfg_path).freeze.max_pending != 77
    cut, _ = for_schema(newer, CONFIG_SCHEMA, NEXT)
    assert apply_command(load_config(cfg_path), signed_config(cfg_path, 2, cut)).applied
    assert load_config(cfg_path).freeze.max_pending == 77


def test_the_server_cuts_by_the_heartbeat_it_last_stored(tmp_path: Path) -> None:
    store = open_store(f"sqlite:{tmp_path / 'server.db'}")
    try:
        add_device(store, "dev-0001", ed25519.Ed25519PrivateKey.generate().public_key())
        cfg = {"freeze": {"max_pending": 9}, "kiosk_mode": "ciudadano"}  # a key no schema has yet
        assert for_device(store, "dev-0001", cfg) == ({"freeze": {"max_pending": 9}}, ["kiosk_mode"])
        fleet.record_heartbeat(store, "dev-0001", {"online": True, "config_schema": CONFIG_SCHEMA}, "mqtt")
        out, dropped = for_device(store, "dev-0001", {**cfg, "unlock": []})
        assert out == {"freeze": {"max_pending": 9}, "unlock": []} and dropped == ["kiosk_mode"]
    finally:
        store.close()


def test_the_enrollment_request_reports_the_schema() -> None:
    """The bundle's config is cut the same way (server_stub.fleet.enrollment); tests/sync/test_enroll.py
    redeems real codes with this request."""
    req = enroll_request(proto.new_code(b"ca"), _make_keys())
    assert req["config_schema"] == CONFIG_SCHEMA and reported_schema(req) == CONFIG_SCHEMA
