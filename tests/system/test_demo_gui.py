"""The GUI demo's system libraries: Qt's xcb platform (what `fieldkit-demo` without
--headless opens the kiosk on under X) finds every library, shows a window on a real X server
(Xvfb), and the demo itself opens the kiosk's lock screen there. On a Debian without the xcb
libraries scripts/setup.sh installs, Qt cannot load the plugin and the kiosk dies at start;
the other tests run offscreen, so only these see it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PYSIDE_PLUGINS = "PySide6/Qt/plugins/platforms/libqxcb.so"

SHOW_A_WINDOW = """
import sys
import time
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QLabel
app = QApplication([])
w = QLabel("Apoyo")
w.resize(800, 480)
w.show()
app.processEvents()
print(QGuiApplication.platformName(), w.isVisible(), int(w.winId()) != 0)
"""


@pytest.fixture
def x_display() -> Iterator[str]:
    """A throwaway X server; its display number is chosen by Xvfb (-displayfd), so two runs
    on one host never collide."""
    xvfb = shutil.which("Xvfb")
    assert xvfb, "Xvfb is not installed: scripts/setup.sh installs it (package xvfb)"
    r, w = os.pipe()
    p = subprocess.Popen([xvfb, "-displayfd", str(w), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                         pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    try:
        with os.fdopen(r) as f:
            number = f.readline().strip()
        assert number.isdigit(), "Xvfb did not start"
        yield f":{number}"
    finally:
        p.terminate()
        p.wait(10)


def _xcb_plugin() -> Path:
    import PySide6

    return Path(PySide6.__file__).parent.parent / PYSIDE_PLUGINS


def test_the_xcb_plugin_finds_every_library() -> None:
    """What `ldd` says of Qt's xcb plugin: no "not found" (the names to install are in
    scripts/setup.sh, SYSTEM_PACKAGES)."""
    plugin = _xcb_plugin()
    assert plugin.exists(), plugin
    out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=30).stdout
    missing = [ln.split()[0] for ln in out.splitlines() if "not found" in ln]
    assert missing == [], f"run scripts/setup.sh: Qt's xcb plugin misses {missing}"


def test_a_window_opens_on_x(x_display: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env |= {"DISPLAY": x_display, "QT_QPA_PLATFORM": "xcb"}
    p = subprocess.run([sys.executable, "-c", SHOW_A_WINDOW], capture_output=True, text=True, env=env,
                       timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.split() == ["xcb", "True", "True"]    # an X window of its own


def _wait_for_line(p: subprocess.Popen[bytes], err: Path, line: str, timeout: float = 120) -> None:
    """Until the demo's stderr (the kiosk's log) says `line`; fails with its tail if it exits."""
    deadline = time.monotonic() + timeout
    while line not in err.read_text(errors="replace"):
        assert p.poll() is None, err.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, err.read_text(errors="replace")[-3000:]
        time.sleep(0.2)


def test_the_gui_demo_opens_the_kiosk_on_x(x_display: str, tmp_path: Path) -> None:
    """`fieldkit-demo` as the README runs it, on an X display: the kiosk's lock screen shows;
    SIGTERM then stops every part."""
    from tests.system.test_demo import BIN, _no_children_left

    data = tmp_path / "demo"
    err = tmp_path / "stderr.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env["DISPLAY"] = x_display
    with err.open("wb") as f:
        p = subprocess.Popen([str(BIN / "fieldkit-demo"), "--data-dir", str(data)], env=env,
                             stdout=subprocess.DEVNULL, stderr=f)
    try:
        _wait_for_line(p, err, "lock screen shown")
    finally:
        p.terminate()
        rc = p.wait(60)
    assert rc == 130, err.read_text(errors="replace")[-3000:]
    assert _no_children_left(data)


def test_the_self_service_demo_opens_the_citizens_start_on_x(x_display: str, tmp_path: Path) -> None:
    """`fieldkit-demo --self-service`: a device enrolled with a self-service code; the kiosk opens
    at "Dar mi apoyo" with no PIN; SIGTERM then stops every part."""
    from tests.system.test_demo import BIN, _no_children_left

    data = tmp_path / "demo"
    err = tmp_path / "stderr.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env["DISPLAY"] = x_display
    with err.open("wb") as f:
        p = subprocess.Popen([str(BIN / "fieldkit-demo"), "--self-service", "--transport", "https",
                              "--data-dir", str(data)], env=env, stdout=subprocess.PIPE, stderr=f)
    try:
        _wait_for_line(p, err, "citizen_start screen shown")
    finally:
        p.terminate()
        rc = p.wait(60)
    out = p.stdout.read().decode() if p.stdout else ""
    assert rc == 130, err.read_text(errors="replace")[-3000:]
    assert "Kiosco de autoservicio" in out and str(data / "server" / "data" / "acuses") in out
    assert _no_children_left(data)
    # The device is the one the self-service code enrolled.
    assert "[self_service]\nenabled = true" in (data / "device" / "device.toml").read_text()
