"""Start-up failures become the failure screen, never a traceback or a black panel.

The real `fieldkit-kiosk`, offscreen, on a damaged outbox, a wrong outbox key and a config
that does not load: no traceback, one critical log line (with the journal's priority when
stderr is the journal), the screen stays up until SIGTERM, exit 4, the outbox file untouched.
A camera spec that does not parse is one Spanish line and exit 2 before Qt starts. The
minimal program systemd starts once the unit gives up shows the screen with no outbox. And
the screen itself: its texts, the PIN in front of the diagnostics, its fit on both panels."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QPlainTextEdit, QPushButton, QWidget

from kiosk import i18n
from kiosk.app.failure import (
    EXIT_STARTUP_FAILED,
    StartupFailure,
    classify,
    diagnostics,
    pin_checker,
    summary,
)
from kiosk.capture.save import SaveContext, SaveError
from kiosk.ui.failure import JOURNAL_HINT, TEXTS, TITLE, FailureScreen
from kiosk.ui.theme import Scale, style_sheet
from sync.device.config import ConfigError, DeviceConfig, load_config
from sync.outbox.keyfile import create_key_file
from tests.helpers.ui import COORD_PIN, offline_device

BIN = Path(sys.executable).parent
KIOSK = str(BIN / "fieldkit-kiosk")
PANELS = {(800, 480): 5.2, (1280, 800): 5.9}  # px per mm of the 7" and the 10.1" panels
MIN_MM = 9.0


# --- real failures -------------------------------------------------------------------------

def _device(root: Path) -> tuple[Path, DeviceConfig]:
    """A provisioned device whose outbox exists (opened and closed once, as a first start does)."""
    cfg_path = offline_device(root)
    cfg = load_config(cfg_path)
    SaveContext.from_config(cfg).close()
    return cfg_path, cfg


def _damage(cfg: DeviceConfig) -> None:
    """One byte inside page 1's encrypted area: the key is right, the header is not."""
    path = cfg.device.outbox_path
    data = bytearray(path.read_bytes())
    data[200] ^= 0xFF
    path.write_bytes(bytes(data))


def _wrong_key(cfg: DeviceConfig) -> None:
    cfg.keys.outbox_key.unlink()
    create_key_file(cfg.keys.outbox_key)


def _snapshot(cfg: DeviceConfig) -> dict[str, tuple[bytes, int]]:
    """Every file of the data dir: bytes and mtime (ns)."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(cfg.device.data_dir.iterdir()) if p.is_file()}


def _error_of(cfg: DeviceConfig) -> SaveError:
    with pytest.raises(SaveError) as e:
        SaveContext.from_config(cfg)
    return e.value


def test_real_errors_are_told_apart(tmp_path: Path) -> None:
    _p, damaged = _device(tmp_path / "damaged")
    _damage(damaged)
    assert classify(_error_of(damaged)) == "outbox_damaged"
    _p, wrong = _device(tmp_path / "wrong")
    _wrong_key(wrong)
    assert classify(_error_of(wrong)) == "outbox_key"
    bad = tmp_path / "bad.toml"
    bad.write_text("garbage = [")
    with pytest.raises(ConfigError) as ce:
        load_config(bad)
    assert classify(ce.value) == "config"
    from hardware.camera import CameraError, parse_spec

    with pytest.raises(CameraError) as cam:
        parse_spec("bogus")
    assert classify(cam.value) == "camera"
    assert classify(OSError(28, "No space left on device")) == "storage"
    assert classify(RuntimeError("¿?")) == "unexpected"


def test_diagnostics_name_the_error_and_paths_but_no_secret(tmp_path: Path) -> None:
    cfg_path, cfg = _device(tmp_path / "dev")
    _damage(cfg)
    f = StartupFailure.of(_error_of(cfg), config=cfg, config_path=str(cfg_path), camera="picamera")
    text = diagnostics(f, environ={})
    for needle in ("Código: outbox_damaged", "SaveError", "OutboxCorruptError", str(cfg_path),
                   str(cfg.device.outbox_path), str(cfg.keys.outbox_key), "Python", "PySide6",
                   "Cámara: picamera", "journalctl -u fieldkit-kiosk", "Traza:"):
        assert needle in text, needle
    key_hex = cfg.keys.outbox_key.read_text().strip()
    assert key_hex not in text and key_hex.upper() not in text
    for a in cfg.auxiliaries:
        assert a.pin_hash not in text
    # What may be shown with no PIN: the code and the class, no message, no path.
    line = summary(f)
    assert "outbox_damaged" in line and "SaveError" in line
    assert str(tmp_path) not in line and "corrupted" not in line
    # The minimal screen names the unit systemd gave up on.
    monitor = diagnostics(StartupFailure("repeated"), environ={
        "MONITOR_UNIT": "fieldkit-kiosk.service", "MONITOR_SERVICE_RESULT": "start-limit-hit"})
    assert "MONITOR_SERVICE_RESULT=start-limit-hit" in monitor


def test_diagnostics_and_summary_speak_the_chosen_language(tmp_path: Path) -> None:
    """The labels are catalogue codes (`diag.failure.*`); the error's own words stay as they are."""
    cfg_path, cfg = _device(tmp_path / "dev")
    _damage(cfg)
    f = StartupFailure.of(_error_of(cfg), config=cfg, config_path=str(cfg_path), camera="picamera")
    try:
        i18n.set_language("en")
        text, line = diagnostics(f, environ={}), summary(f)
    finally:
        i18n.set_language("es")
    for needle in ("Code: outbox_damaged", "Error: SaveError", "  cause: OutboxCorruptError",
                   f"Configuration: {cfg_path}", "Camera: picamera", "Outbox key: ", "Traceback:",
                   "Log: journalctl -u fieldkit-kiosk -b"):
        assert needle in text, needle
    assert "Código" not in text and "Cámara" not in text and "modificado" not in text
    assert line.startswith("Code: outbox_damaged (SaveError) · version ")
    assert summary(StartupFailure("repeated")).startswith("Código: repeated · versión ")


# --- the real program ------------------------------------------------------------------------

@dataclass
class Proc:
    """A `fieldkit-kiosk` process whose stderr is read line by line on a thread."""

    proc: subprocess.Popen[bytes]
    lines: list[str] = field(default_factory=list)

    def wait_for(self, text: str, timeout: float = 90) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            hit = next((ln for ln in list(self.lines) if text in ln), None)
            if hit is not None:
                return hit
            if self.proc.poll() is not None:
                time.sleep(0.2)   # the reader's last lines
                hit = next((ln for ln in list(self.lines) if text in ln), None)
                assert hit is not None, (text, self.proc.returncode, self.stderr())
                return hit
            time.sleep(0.05)
        raise AssertionError(f"no «{text}» within {timeout} s:\n{self.stderr()}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=15)

    def stderr(self) -> str:
        return "\n".join(self.lines)


def _start(args: list[str], *, journal: bool = False, qpa: str = "offscreen",
           extra_env: dict[str, str] | None = None) -> Proc:
    """Started as systemd would: stderr a stream of its own; with `journal`, JOURNAL_STREAM
    names it, so the kiosk writes journald's priority prefixes."""
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM" and not k.startswith("MONITOR_")}
    env.update(QT_QPA_PLATFORM=qpa, **(extra_env or {}))
    r, w = os.pipe()
    if journal:
        st = os.fstat(w)
        env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    proc = subprocess.Popen([KIOSK, *args], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=w)
    os.close(w)
    out = Proc(proc)

    def read() -> None:
        with os.fdopen(r, "r", encoding="utf-8", errors="replace") as f:
            for line in f:
                out.lines.append(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return out


def _shows_the_screen_until_sigterm(p: Proc, kind: str) -> str:
    try:
        critical = p.wait_for(f"el kiosco no pudo arrancar ({kind})")
        p.wait_for(f"pantalla de falla mostrada ({kind}")
        time.sleep(1.0)
        assert p.proc.poll() is None, p.stderr()   # still up, showing it
        assert p.stop() == EXIT_STARTUP_FAILED, p.stderr()
    finally:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait()
    assert "Traceback" not in p.stderr(), p.stderr()
    return critical


@pytest.mark.parametrize("damage,kind", [(_damage, "outbox_damaged"), (_wrong_key, "outbox_key")],
                         ids=["damaged", "wrong_key"])
def test_outbox_failure_shows_the_screen_and_leaves_the_file_alone(
        tmp_path: Path, damage: Callable[[DeviceConfig], None], kind: str) -> None:
    cfg_path, cfg = _device(tmp_path / "dev")
    damage(cfg)
    before = _snapshot(cfg)
    time.sleep(0.05)   # an mtime the kiosk touched would differ
    p = _start(["--config", str(cfg_path), "--camera", f"replay:{tmp_path / 'frames'}", "--windowed"],
               journal=True)
    critical = _shows_the_screen_until_sigterm(p, kind)
    # journald stores it as priority 2 (crit): `journalctl -p crit` shows it.
    assert critical.startswith("<2>fieldkit.kiosk: "), critical
    assert "Outbox" in critical and "\n" not in critical
    assert _snapshot(cfg) == before


def test_bad_config_shows_the_screen(tmp_path: Path) -> None:
    cfg_path = tmp_path / "device.toml"
    cfg_path.write_text("garbage = [")
    p = _start(["--config", str(cfg_path), "--windowed"])
    critical = _shows_the_screen_until_sigterm(p, "config")
    assert "CRITICAL" in critical and str(cfg_path) in critical


def test_bogus_camera_is_one_line_and_exit_2_before_qt(tmp_path: Path) -> None:
    """With a Qt platform that does not exist, starting Qt would abort the process: exit 2 and
    one line show the flag was refused before."""
    cfg_path, _cfg = _device(tmp_path / "dev")
    for args in (["--camera", "bogus"], ["run", "--camera", "replay:"], ["--camera", "pi:x"]):
        r = subprocess.run([KIOSK, "--config", str(cfg_path), *args], capture_output=True, text=True,
                           timeout=60, env=dict(os.environ, QT_QPA_PLATFORM="no-such-platform"))
        assert r.returncode == 2, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("fieldkit-kiosk: --camera: "), r.stderr
        assert "no es válida" in lines[0] and "Traceback" not in r.stderr


def test_minimal_failure_program_needs_no_outbox(tmp_path: Path) -> None:
    """What systemd starts once the kiosk unit gave up: it reads the config if it can, never the
    outbox, and a stop is its normal end (exit 0)."""
    cfg_path, cfg = _device(tmp_path / "dev")
    _damage(cfg)
    before = _snapshot(cfg)
    for config in (str(cfg_path), str(tmp_path / "missing.toml")):
        p = _start(["failure-screen", "--config", config, "--windowed"], extra_env={
            "MONITOR_UNIT": "fieldkit-kiosk.service", "MONITOR_SERVICE_RESULT": "start-limit-hit"})
        try:
            line = p.wait_for("el kiosco no pudo arrancar (repeated)")
            assert "start-limit-hit" in line
            p.wait_for("pantalla de falla mostrada (repeated")
            assert p.proc.poll() is None
            assert p.stop() == 0, p.stderr()
        finally:
            if p.proc.poll() is None:
                p.proc.kill()
                p.proc.wait()
        assert "Traceback" not in p.stderr(), p.stderr()
    assert _snapshot(cfg) == before


# --- the screen --------------------------------------------------------------------------------

def _screen(size: tuple[int, int], **kw: Any) -> FailureScreen:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    Scale.set_for(*size)
    app.setStyleSheet(style_sheet())
    s = FailureScreen(**kw)
    s.resize(*size)
    s.show()
    QApplication.processEvents()
    return s


def _visible_text(w: QWidget) -> str:
    parts = [lab.text() for lab in w.findChildren(QLabel) if lab.isVisibleTo(w)]
    parts += [t.toPlainText() for t in w.findChildren(QPlainTextEdit) if t.isVisibleTo(w)]
    return "\n".join(parts)


def _click(s: FailureScreen, name: str) -> None:
    b = s.findChild(QPushButton, name)
    assert b is not None and b.isVisibleTo(s) and b.isEnabled(), name
    b.click()
    QApplication.processEvents()


def _type_pin(s: FailureScreen, pin: str) -> None:
    for d in pin:
        _click(s, f"key_{d}")
    _click(s, "key_ok")


def _with_pin(tmp_path: Path, size: tuple[int, int] = (800, 480)) -> FailureScreen:
    cfg_path, cfg = _device(tmp_path / "dev")
    _damage(cfg)
    f = StartupFailure.of(_error_of(cfg), config=cfg, config_path=str(cfg_path), camera="picamera")
    return _screen(size, kind=f.kind, device_id=f.device_id, diagnostics=diagnostics(f),
                   summary=summary(f), check_pin=pin_checker(cfg))


def test_screen_says_what_happened_and_hides_diagnostics_behind_the_pin(qtbot: Any, tmp_path: Path) -> None:
    s = _with_pin(tmp_path)
    qtbot.addWidget(s)
    text = _visible_text(s)
    what, todo = TEXTS["outbox_damaged"]
    for needle in (TITLE, what, todo, "Avise a su coordinador", "Dispositivo: "):
        assert needle in text, needle
    assert "SaveError" not in text and "Traza" not in text and s.showing() == "message"
    _click(s, "failure_diagnostics")
    assert s.showing() == "pin"
    _type_pin(s, "0000")
    assert s.showing() == "pin" and "PIN incorrecto." in _visible_text(s)
    _type_pin(s, COORD_PIN)
    assert s.showing() == "diagnostics"
    shown = _visible_text(s)
    assert "OutboxCorruptError" in shown and "Código: outbox_damaged" in shown
    _click(s, "failure_back_diagnostics")
    assert s.showing() == "message" and "OutboxCorruptError" not in _visible_text(s)
    # Five wrong PINs in a row: the keypad rests, even for the right one.
    _click(s, "failure_diagnostics")
    for _ in range(5):
        _type_pin(s, "1111")
    assert not s.keypad.isEnabled() and "Demasiados intentos" in _visible_text(s)
    s._submit(COORD_PIN)
    assert s.showing() == "pin"


def test_with_no_pin_the_screen_says_where_the_diagnostics_are(qtbot: Any, tmp_path: Path) -> None:
    cfg_path = tmp_path / "device.toml"
    cfg_path.write_text('[device]\nid = "dev-0001"\nfolio_prefix = 3\n')
    with pytest.raises(ConfigError) as e:
        load_config(cfg_path)
    f = StartupFailure.of(e.value, config_path=str(cfg_path))
    assert pin_checker(f.config) is None
    s = _screen((800, 480), kind=f.kind, device_id=f.device_id, diagnostics=diagnostics(f),
                summary=summary(f), check_pin=None)
    qtbot.addWidget(s)
    text = _visible_text(s)
    assert TEXTS["config"][0] in text and "desconocido" in text
    assert JOURNAL_HINT in text and "journalctl -u fieldkit-kiosk" in text
    assert s.findChild(QPushButton, "failure_diagnostics") is None
    # No message (it may quote the config's values), no path.
    assert str(e.value) not in text and str(tmp_path) not in text


def _geometry_problems(s: FailureScreen, size: tuple[int, int]) -> list[str]:
    min_px = MIN_MM * PANELS[size]
    frame = QRect(QPoint(0, 0), s.size())
    out = [] if (s.width(), s.height()) == size else [f"grew to {s.width()}x{s.height()}"]
    for w in s.findChildren(QWidget):
        if not isinstance(w, QPushButton | QLineEdit) or not w.isVisibleTo(s):
            continue
        r = QRect(w.mapTo(s, QPoint(0, 0)), w.size())
        if not frame.contains(r):
            out.append(f"{w.objectName()} at {r} outside {frame}")
        if min(r.width(), r.height()) < min_px:
            out.append(f"{w.objectName()} {r.width()}x{r.height()} < {min_px:.0f} px")
    return out


@pytest.mark.parametrize("size", list(PANELS), ids=["800x480", "1280x800"])
def test_every_page_fits_with_big_targets(qtbot: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    out = Path(os.environ.get("FIELDKIT_SCREENS_DIR") or tmp_path / "screens")
    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if size == (800, 480) else f"_{size[0]}x{size[1]}"
    s = _with_pin(tmp_path, size)
    qtbot.addWidget(s)
    pages = {}
    pages["message"] = _geometry_problems(s, size)
    s.grab().save(str(out / f"16_failure{suffix}.png"))
    _click(s, "failure_diagnostics")
    _type_pin(s, "0000")
    pages["pin"] = _geometry_problems(s, size)
    _type_pin(s, COORD_PIN)
    pages["diagnostics"] = _geometry_problems(s, size)
    assert s.showing() == "diagnostics"
    for kind in TEXTS:   # the longest texts too, with no PIN
        other = _screen(size, kind=kind, summary="Código: x", check_pin=None)
        qtbot.addWidget(other)
        pages[kind] = _geometry_problems(other, size)
        frame = QRect(QPoint(0, 0), other.size())
        labels = [lab for lab in other.findChildren(QLabel) if lab.isVisibleTo(other)]
        assert all(frame.contains(QRect(lab.mapTo(other, QPoint(0, 0)), lab.size())) for lab in labels), kind
    assert all(v == [] for v in pages.values()), pages
