"""A signed config command replaces the device config atomically, or not at all."""

from __future__ import annotations

import stat
from pathlib import Path

from sync.device.command_exec import apply_command
from sync.device.config import load_config
from tests.helpers.ui import offline_device, signed_config


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_an_invalid_update_leaves_the_config_byte_for_byte(tmp_path: Path) -> None:
    cfg_path = offline_device(tmp_path / "dev")
    before = cfg_path.read_bytes()
    for seq, payload in enumerate((
            {"freeze": {"max_pending": 0}},                       # out of range
            {"freeze": {"max_pending": 5, "no_such_key": 1}},     # unknown key
            {"auxiliaries": [{"id": "aux-9", "name": "X"}]},      # missing pin_hash and processes
            {"freeze": {"max_pending": "many"}},                 # wrong type
            {"processes": "not a list"},                          # shapes the writer cannot render
            {"auxiliaries": ["aux-9"]},
            {"freeze": [1, 2]},
            {"auxiliaries": [{"id": {"nested": 1}, "name": "X", "pin_hash": "h", "processes": []}]},
            {"secciones": [{"entidad": None}]}), start=1):
        result = apply_command(load_config(cfg_path), signed_config(cfg_path, seq, payload))
        assert not result.applied and "configuración no válida" in result.reason, (payload, result)
        assert cfg_path.read_bytes() == before, payload
    assert _leftovers(cfg_path.parent) == []
    assert load_config(cfg_path).freeze.max_pending == 2000  # still the default


def test_a_valid_update_replaces_the_file_privately_and_in_one_piece(tmp_path: Path) -> None:
    cfg_path = offline_device(tmp_path / "dev")
    cfg_path.chmod(0o644)
    result = apply_command(load_config(cfg_path), signed_config(cfg_path, 1, {"freeze": {"max_pending": 5}}))
    assert result.applied, result
    new = load_config(cfg_path)
    assert new.freeze.max_pending == 5 and new.device.id == load_config(cfg_path).device.id
    assert stat.S_IMODE(cfg_path.stat().st_mode) == 0o600  # written private from the first byte
    assert _leftovers(cfg_path.parent) == []
    # The same command again (a replay) is refused: its sequence number is spent.
    again = apply_command(new, signed_config(cfg_path, 1, {"freeze": {"max_pending": 7}}))
    assert not again.applied and load_config(cfg_path).freeze.max_pending == 5
