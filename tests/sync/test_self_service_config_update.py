"""A signed config update's [self_service] table is merged key by key into the device's: the
server sends only `enabled` (server_stub/fleet/command_issue.device_config), and the device's
own idle timings must survive it. Other tables are still replaced whole."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from sync.device.command_exec import apply_command
from sync.device.config import load_config
from tests.helpers.ui import offline_device, signed_config

# What the server's config update carries for a self-service device.
SERVER_SELF_SERVICE = {"self_service": {"enabled": True}}


def self_service_device(root: Path) -> Path:
    """The example device made self-service, with its own timings and an unsent-hours warning
    of its own."""
    cfg_path = offline_device(root)
    text = cfg_path.read_text()
    for key, value in (("enabled", "true"), ("idle_seconds", "120"), ("warning_seconds", "20"),
                       ("unsent_hours", "48.0")):
        text, n = re.subn(rf"(?m)^{key} = \S+", f"{key} = {value}", text, count=1)
        assert n == 1, key
    cfg_path.write_text(text)
    ss = load_config(cfg_path).self_service
    assert (ss.enabled, ss.idle_seconds, ss.warning_seconds) == (True, 120, 20)
    return cfg_path


def test_the_servers_self_service_table_keeps_the_devices_timings(tmp_path: Path) -> None:
    cfg_path = self_service_device(tmp_path / "dev")
    # As the server sends it: the processes (here the device's own, renamed) and the table.
    processes = tomllib.loads(cfg_path.read_text())["processes"]
    processes[0]["name"] = "Proceso renombrado (MUESTRA)"
    payload = {"processes": processes, **SERVER_SELF_SERVICE}
    result = apply_command(load_config(cfg_path), signed_config(cfg_path, 1, payload))
    assert result.applied, result
    after = load_config(cfg_path)
    ss = after.self_service
    assert (ss.enabled, ss.idle_seconds, ss.warning_seconds) == (True, 120, 20)
    assert after.processes[0].name == "Proceso renombrado (MUESTRA)"


def test_keys_the_server_sends_win_and_the_rest_stay(tmp_path: Path) -> None:
    cfg_path = self_service_device(tmp_path / "dev")
    update = {"self_service": {"enabled": False, "idle_seconds": 60}}
    result = apply_command(load_config(cfg_path), signed_config(cfg_path, 1, update))
    assert result.applied, result
    ss = load_config(cfg_path).self_service
    assert (ss.enabled, ss.idle_seconds, ss.warning_seconds) == (False, 60, 20)
    # A merge that ends invalid (the warning no shorter than the idle time) is refused whole.
    before = cfg_path.read_bytes()
    bad = apply_command(load_config(cfg_path),
                        signed_config(cfg_path, 2, {"self_service": {"warning_seconds": 60}}))
    assert not bad.applied and "configuración no válida" in bad.reason
    assert cfg_path.read_bytes() == before


def test_other_tables_are_still_replaced_whole(tmp_path: Path) -> None:
    cfg_path = self_service_device(tmp_path / "dev")
    assert load_config(cfg_path).warnings.unsent_hours == 48.0
    result = apply_command(load_config(cfg_path),
                           signed_config(cfg_path, 1, {"warnings": {"low_battery_percent": 30.0}}))
    assert result.applied, result
    w = load_config(cfg_path).warnings
    assert (w.low_battery_percent, w.unsent_hours) == (30.0, 24.0)   # unsent_hours: the default
    assert load_config(cfg_path).self_service.idle_seconds == 120
