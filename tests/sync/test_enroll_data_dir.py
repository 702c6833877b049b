"""Enrollment's data dir: `fieldkit-kiosk enroll --data-dir DIR` puts the outbox in DIR and
names it in the config's device.data_dir; with the default config the default is
/var/lib/fieldkit (not next to the config in /etc); an outbox already in DIR is never
overwritten."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from sync.device.config import DEFAULT_CONFIG_PATH
from sync.device.enroll import (
    DEFAULT_DATA_DIR,
    STATE_DIR,
    EnrollError,
    EnrollResult,
    default_data_dir,
    enroll,
)
from sync.outbox.outbox import Outbox
from tests.helpers.fleet import Fleet, FleetDevice, wait_until

BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_default_data_dir_is_var_lib_for_the_default_config(tmp_path: Path) -> None:
    assert Path("/etc/fieldkit/device.toml") == DEFAULT_CONFIG_PATH
    assert default_data_dir(DEFAULT_CONFIG_PATH) == DEFAULT_DATA_DIR == Path("/var/lib/fieldkit")
    assert default_data_dir("/etc/fieldkit/device.toml") == DEFAULT_DATA_DIR
    # Any other config (tests, the demo, a desktop): next to it, as before.
    assert default_data_dir(tmp_path / "device.toml") is None


def test_cli_data_dir_is_written_into_the_config_and_used(fleet_env: Fleet, tmp_path: Path) -> None:
    cfg_path = tmp_path / "etc" / "device.toml"
    data = tmp_path / "var" / "lib" / "fieldkit"
    code = fleet_env.code()
    old = os.umask(0)  # the data dir and outbox are private whatever the umask
    try:
        r = subprocess.run([str(BIN / "fieldkit-kiosk"), "--config", str(cfg_path), "enroll", code.code,
                            "--server", fleet_env.enroll_url, "--data-dir", str(data), "--json"],
                           capture_output=True, text=True, timeout=60)
    finally:
        os.umask(old)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    dev = FleetDevice(EnrollResult(out["device_id"], out["folio_prefix"], cfg_path, out["processes"],
                                   out["auxiliaries"]))
    fleet_env.devices.append(dev)
    assert f'data_dir = "{data}"' in cfg_path.read_text()
    assert dev.config.device.data_dir == data
    assert _mode(data) == 0o700 and _mode(data / "outbox.db") == 0o600
    assert not (cfg_path.parent / STATE_DIR / "data").exists()
    # The enrolled device saves there and its agent syncs from there.
    dev.capture(2)

    def unacked() -> int:
        with Outbox.open_with_key_file(data / "outbox.db", dev.config.keys.outbox_key) as ob:
            return ob.counts().unacknowledged

    assert unacked() == 2
    dev.agent()
    assert wait_until(lambda: fleet_env.server.stored_count() == 2, 30)
    assert wait_until(lambda: unacked() == 0, 30)


def test_an_outbox_already_in_the_data_dir_is_never_overwritten(fleet_env: Fleet, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "outbox.db").write_bytes(b"records of an earlier enrollment")
    cfg_path = tmp_path / "etc" / "device.toml"
    with pytest.raises(EnrollError) as e:
        enroll(fleet_env.code().uri, config_path=cfg_path, data_dir=data)
    assert e.value.reason == "storage" and "ya existe" in e.value.message
    assert (data / "outbox.db").read_bytes() == b"records of an earlier enrollment"
    assert sorted(p.name for p in data.iterdir()) == ["outbox.db"]
    assert not cfg_path.exists() and not (cfg_path.parent / STATE_DIR).exists()
