"""Device config: the example loads; every kind of bad file is one line and exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sync.common.pin import hash_pin, verify_pin
from sync.device.config import ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "device.example.toml"
BIN = Path(sys.executable).parent


def run_sync(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "fieldkit-sync"), *args], capture_output=True, text=True,
                          timeout=60, env=env)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *parts: str) -> None:
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr          # one line, never a traceback
    assert "Traceback" not in proc.stderr
    for part in parts:
        assert part in lines[0], (part, lines[0])


def test_example_config_loads_with_paths_relative_to_file() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.device.id == "fk-muestra-0001"
    assert cfg.keys.ca == EXAMPLE.parent / "keys" / "ca.pem"
    assert cfg.device.data_dir == EXAMPLE.parent / "data"
    assert cfg.process("ci-2027-df-0901").scope.distrito_federal == 1
    assert cfg.seccion_table()[102].distrito_local == 2
    assert verify_pin("123456", cfg.auxiliaries[0].pin_hash)
    assert not verify_pin("654321", cfg.auxiliaries[0].pin_hash)


def test_missing_file() -> None:
    assert_one_line_error(run_sync("--config", "/no/such.toml", "status"), "/no/such.toml",
                          "no existe el archivo")


def test_config_after_subcommand_and_env_variable(tmp_path: Path) -> None:
    assert_one_line_error(run_sync("status", "--config", "/no/such.toml"), "/no/such.toml")
    import os
    env = dict(os.environ, FIELDKIT_CONFIG=str(tmp_path / "nope.toml"))
    assert_one_line_error(run_sync("status", env=env), str(tmp_path / "nope.toml"))
    ok = run_sync("status", "--json", env=dict(os.environ, FIELDKIT_CONFIG=str(EXAMPLE)))
    assert ok.returncode == 0, ok.stderr


def test_bad_toml(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[device\nid = 'x'\n")
    assert_one_line_error(run_sync("--config", str(bad), "status"), str(bad), "TOML mal formado")


def test_missing_field(tmp_path: Path) -> None:
    f = tmp_path / "missing.toml"
    lines = EXAMPLE.read_text().splitlines()
    f.write_text("\n".join(ln for ln in lines if not ln.startswith("folio_prefix")))
    assert_one_line_error(run_sync("--config", str(f), "status"), str(f), "device.folio_prefix",
                          "falta el campo")


def test_wrong_type(tmp_path: Path) -> None:
    f = tmp_path / "type.toml"
    f.write_text(EXAMPLE.read_text().replace('idle_lock_minutes = 5', 'idle_lock_minutes = "cinco"'))
    assert_one_line_error(run_sync("--config", str(f), "status"), str(f), "idle_lock_minutes",
                          "entero")


def test_unreadable_file(tmp_path: Path) -> None:
    f = tmp_path / "binary.toml"
    f.write_bytes(b"\xff\xfe\x00garbage")
    assert_one_line_error(run_sync("--config", str(f), "status"), str(f), "UTF-8")
    assert_one_line_error(run_sync("--config", str(tmp_path), "status"), str(tmp_path), "directorio")


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('transport = "auto"', 'transport = "carrier-pigeon"', "server.transport"),
        ('id = "fk-muestra-0001"', 'id = "Not Valid!"', "device.id"),
        ('kind = "candidatura_independiente"', 'kind = "otra"', "processes[0].kind"),
        ('processes = ["ci-2027-df-0901"]', 'processes = ["no-existe"]', "auxiliaries[0].processes"),
        ('pin_hash = "scrypt', 'pin_hash = "plain', "auxiliaries[0].pin_hash"),
        ('[device]', '[device]\ncolor = "rojo"', "device.color"),
        ('mqtt_url = "mqtts://', 'mqtt_url = "mqtt://', "server.mqtt_url"),
        ('scope = { level = "distrito_federal", entidad = 9, distrito_federal = 1 }',
         'scope = { level = "distrito_federal", entidad = 9 }', "processes[0].scope.distrito_federal"),
    ],
)
def test_validation_names_the_field(old: str, new: str, field: str) -> None:
    text = EXAMPLE.read_text()
    assert old in text
    with pytest.raises(ConfigError) as e:
        parse_config(text.replace(old, new, 1), "/etc/fieldkit/device.toml")
    assert e.value.field == field
    assert str(e.value).startswith(f"/etc/fieldkit/device.toml: {field}: ")
    assert "\n" not in str(e.value)


def test_pin_hash_rules() -> None:
    with pytest.raises(ValueError):
        hash_pin("12a4")
    h = hash_pin("2468")
    assert h.startswith("scrypt$") and "2468" not in h
    assert verify_pin("2468", h) and not verify_pin("2469", h)
    assert not verify_pin("2468", "scrypt$garbage")


def test_kiosk_first_run_only_for_missing_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sync.device.config as config_mod
    from kiosk.cli.main import resolve_start

    monkeypatch.delenv("FIELDKIT_CONFIG", raising=False)
    monkeypatch.setattr(config_mod, "DEFAULT_CONFIG_PATH", tmp_path / "device.toml")
    start = resolve_start(None)
    assert start.first_run and start.config is None
    # An explicit path that does not exist is an error, not a first run.
    with pytest.raises(ConfigError):
        resolve_start(str(tmp_path / "other.toml"))
    # A default file that exists but is bad is an error too.
    (tmp_path / "device.toml").write_text("garbage = [")
    with pytest.raises(ConfigError):
        resolve_start(None)
    (tmp_path / "device.toml").write_text(EXAMPLE.read_text())
    assert resolve_start(None).config is not None
    run_kiosk = subprocess.run([str(BIN / "fieldkit-kiosk"), "--config", "/no/such.toml", "check"],
                               capture_output=True, text=True, timeout=60)
    assert_one_line_error(run_kiosk, "/no/such.toml")
