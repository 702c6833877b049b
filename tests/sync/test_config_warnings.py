"""`[warnings]` in the device config: defaults, round trip, refusals, and the config
compatibility rule (a new table in a new schema; older devices get updates without it)."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from server_stub.fleet.command_issue import DEFAULT_WARNINGS
from sync.device.command_exec import apply_command
from sync.device.config import ConfigError, WarningsSection, load_config, parse_config
from sync.device.config_write import render_toml, write_config
from sync.wire.config_schema import CONFIG_SCHEMA, KEYS_BY_SCHEMA, for_schema
from tests.helpers.ui import offline_device, signed_config

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "device.example.toml"


def _without_warnings(text: str) -> str:
    """The example as a config from before the table: `[warnings]` and its keys cut out."""
    out = re.sub(r"^\[warnings\][^\[]*", "", text, flags=re.M)
    assert not re.search(r"^\[warnings\]", out, re.M) and "low_disk_records" not in out
    return out


def test_the_example_shows_the_defaults() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.warnings == WarningsSection()
    assert (cfg.warnings.low_battery_percent, cfg.warnings.unsent_hours, cfg.warnings.low_disk_records) == \
        (20.0, 24.0, 50)


def test_an_old_config_without_the_table_loads_with_the_defaults() -> None:
    cfg = parse_config(_without_warnings(EXAMPLE.read_text()), EXAMPLE)
    assert cfg.warnings == WarningsSection()
    partial = EXAMPLE.read_text().replace("low_battery_percent = 20.0", "")
    assert parse_config(partial, EXAMPLE).warnings.low_battery_percent == 20.0


def test_round_trip_through_the_writer(tmp_path: Path) -> None:
    data = tomllib.loads(EXAMPLE.read_text())
    data["warnings"] = {"low_battery_percent": 35.5, "unsent_hours": 6, "low_disk_records": 10}
    path = tmp_path / "device.toml"
    written = write_config(path, data)
    again = load_config(path)
    assert again.warnings == written.warnings == WarningsSection(35.5, 6.0, 10)
    assert "[warnings]" in render_toml(data)


@pytest.mark.parametrize(("line", "field"), [
    ("low_battery_percent = 100", "warnings.low_battery_percent"),
    ("low_battery_percent = -1", "warnings.low_battery_percent"),
    ("unsent_hours = 0", "warnings.unsent_hours"),
    ("low_disk_records = 0", "warnings.low_disk_records"),
    ("low_disk_records = 2.5", "warnings.low_disk_records"),
    ("low_disk_records = 50\nbattery = 3", "warnings"),
])
def test_bad_values_are_one_line_naming_the_field(line: str, field: str) -> None:
    key = line.split(" ")[0]
    text = re.sub(rf"^{key} = .*$", line, EXAMPLE.read_text(), count=1, flags=re.M)
    with pytest.raises(ConfigError) as e:
        parse_config(text, "device.toml")
    assert str(e.value).startswith(f"device.toml: {field}") and "\n" not in str(e.value)


def test_a_config_update_sets_the_thresholds(tmp_path: Path) -> None:
    cfg_path = offline_device(tmp_path / "dev")
    new = {"low_battery_percent": 30.0, "unsent_hours": 12.0, "low_disk_records": 80}
    assert apply_command(load_config(cfg_path), signed_config(cfg_path, 1, {"warnings": new})).applied
    assert load_config(cfg_path).warnings == WarningsSection(30.0, 12.0, 80)
    # A later update of another table keeps them (the writer knows the table).
    other = signed_config(cfg_path, 2, {"freeze": {"max_pending": 9}})
    assert apply_command(load_config(cfg_path), other).applied
    assert load_config(cfg_path).warnings == WarningsSection(30.0, 12.0, 80)
    bad = apply_command(load_config(cfg_path), signed_config(cfg_path, 3, {"warnings": {"unsent_hours": -1}}))
    assert not bad.applied and load_config(cfg_path).warnings.unsent_hours == 12.0


def test_the_table_is_new_in_schema_2_and_cut_for_older_devices() -> None:
    fields = {f.name: None for f in dataclasses.fields(WarningsSection)}
    assert CONFIG_SCHEMA >= 2 and KEYS_BY_SCHEMA[CONFIG_SCHEMA]["warnings"] == fields
    assert "warnings" not in KEYS_BY_SCHEMA[1]
    update = {"freeze": {"max_pending": 5}, "warnings": dict(DEFAULT_WARNINGS)}
    assert for_schema(update, 1) == ({"freeze": {"max_pending": 5}}, ["warnings"])
    assert for_schema(update, 2) == (update, [])


def test_the_server_sends_the_device_defaults() -> None:
    assert dataclasses.asdict(WarningsSection()) == DEFAULT_WARNINGS
