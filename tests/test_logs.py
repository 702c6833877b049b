"""Logs for journald (sync/common/logs.py): sd-daemon `<N>` priorities and no timestamp when
stderr is the journal stream systemd connected (JOURNAL_STREAM names it), timestamps
elsewhere; the agent's and the server's entry points use it; and the camera logs a device
that cannot open, is lost or recovers once per change, never per retry or per frame."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from hardware.camera import Camera, CameraBackend, CameraError, CameraInfo, CameraState
from hardware.camera.replay import ReplayBackend
from hardware.camera.webcam import WebcamBackend
from sync.common.logs import priority
from tests.helpers.camera import FAST, wait_for_error, wait_until

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
PREFIX = re.compile(r"^<([0-7])>")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")

SCRIPT = """
import logging, sys, threading, warnings
from sync.common.logs import setup_logging
setup_logging(verbose=sys.argv[1] == "v")
log = logging.getLogger("fieldkit.t")
log.debug("d"); log.info("i"); log.warning("w"); log.error("e"); log.critical("c")
try:
    1 / 0
except ZeroDivisionError:
    log.exception("boom")
warnings.warn("careful")
t = threading.Thread(target=lambda: 1 / 0, name="worker")
t.start(); t.join()
raise RuntimeError("at start-up")
"""


def _journal_env(stderr_file: Path) -> dict[str, str]:
    """The environment systemd gives a service whose stderr is the journal: JOURNAL_STREAM
    names that stream's device and inode (here a file stands in for journald's socket)."""
    st = os.stat(stderr_file)
    return {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}


def _run(argv: list[str], stderr_file: Path, env: dict[str, str] | None,
         timeout: float = 60) -> tuple[int, list[str]]:
    with stderr_file.open("ab") as err:
        p = subprocess.run(argv, stderr=err, stdout=subprocess.DEVNULL, env=env, cwd=REPO, timeout=timeout)
    return p.returncode, stderr_file.read_text().splitlines()


def _script(tmp_path: Path, journal: bool, verbose: str = "") -> tuple[int, list[str]]:
    f = tmp_path / "stderr.txt"
    f.touch()
    env = _journal_env(f) if journal else {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    return _run([sys.executable, "-c", SCRIPT, verbose], f, env)


@pytest.mark.parametrize(("level", "prio"), [(logging.DEBUG, 7), (logging.INFO, 6), (25, 6),
                                             (logging.WARNING, 4), (logging.ERROR, 3),
                                             (logging.CRITICAL, 2), (60, 2)])
def test_levels_map_to_syslog_priorities(level: int, prio: int) -> None:
    assert priority(level) == prio


def test_under_the_journal_every_line_has_its_priority_and_no_timestamp(tmp_path: Path) -> None:
    rc, lines = _script(tmp_path, journal=True, verbose="v")
    assert rc == 1
    assert lines and all(PREFIX.match(ln) for ln in lines), lines   # tracebacks included
    assert not any(TIMESTAMP.search(ln) for ln in lines), lines       # journald adds its own
    for expected in ("<7>fieldkit.t: d", "<6>fieldkit.t: i", "<4>fieldkit.t: w", "<3>fieldkit.t: e",
                     "<2>fieldkit.t: c", "<3>fieldkit.t: boom", "<3>ZeroDivisionError: division by zero",
                     "<2>fieldkit: uncaught exception in thread worker", "<2>fieldkit: uncaught exception",
                     "<2>RuntimeError: at start-up"):
        assert expected in lines, (expected, lines)
    assert any(ln.startswith("<4>py.warnings: ") and "careful" in ln for ln in lines), lines
    # What `journalctl -p err` would keep: priorities 0-3 only, the start-up failure among them.
    errs = [ln for ln in lines if int(PREFIX.match(ln)[1]) <= 3]  # type: ignore[index]
    assert "<2>RuntimeError: at start-up" in errs and "<6>fieldkit.t: i" not in errs


def test_elsewhere_lines_are_timestamped_without_prefixes(tmp_path: Path) -> None:
    rc, lines = _script(tmp_path, journal=False)
    assert rc == 1
    assert not any(PREFIX.match(ln) for ln in lines), lines
    assert not any(ln.endswith("fieldkit.t: d") for ln in lines)     # not verbose: no DEBUG
    info = [ln for ln in lines if ln.endswith(" INFO fieldkit.t: i")]
    assert len(info) == 1 and TIMESTAMP.match(info[0]), lines


def test_a_journal_stream_that_is_not_our_stderr_is_ignored(tmp_path: Path) -> None:
    """A service's child with stderr sent to a file inherits JOURNAL_STREAM: no prefixes."""
    other = tmp_path / "other"
    other.touch()
    f = tmp_path / "stderr.txt"
    f.touch()
    rc, lines = _run([sys.executable, "-c", SCRIPT, ""], f, _journal_env(other))
    assert rc == 1 and lines and not any(PREFIX.match(ln) for ln in lines)


def test_the_sync_agent_logs_for_the_journal(tmp_path: Path) -> None:
    from tests.helpers.kiosk import provision

    dev = provision(tmp_path / "dev")
    f = tmp_path / "stderr.txt"
    f.touch()
    with f.open("ab") as err:
        p = subprocess.Popen([str(BIN / "fieldkit-sync"), "--config", str(dev.config_path), "run"],
                             stderr=err, stdout=subprocess.DEVNULL, env=_journal_env(f))
    try:
        wait_until(lambda: "canal local en" in f.read_text(), timeout=30)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
    lines = f.read_text().splitlines()
    assert any(ln.startswith("<6>fieldkit.sync.channel: canal local en ") for ln in lines), lines
    assert "<6>fieldkit.sync: agente detenido" in lines, lines
    assert all(PREFIX.match(ln) for ln in lines), lines


def test_the_server_logs_for_the_journal_and_keeps_log_level(tmp_path: Path) -> None:
    argv = [str(BIN / "fieldkit-server"), "init", "--suite", "x25519", "--broker-user", "no-such-user-fk"]
    f = tmp_path / "stderr.txt"
    f.touch()
    rc, lines = _run([*argv, str(tmp_path / "a")], f, _journal_env(f))
    assert rc == 0
    assert any(ln.startswith("<4>server_stub.deploy.init_dir: user 'no-such-user-fk' does not exist")
               for ln in lines), lines
    quiet = tmp_path / "quiet.txt"
    quiet.touch()
    rc, lines = _run([argv[0], "--log-level", "ERROR", *argv[1:], str(tmp_path / "b")], quiet,
                     _journal_env(quiet))
    assert rc == 0 and lines == []


# --- the camera: one line per change -------------------------------------------------------

class PullableReplay(CameraBackend):
    """The real replay camera with a cable that can be pulled (unplugged: open and read fail
    as a webcam's do) or a driver that hangs inside a read."""

    def __init__(self, folder: Path) -> None:
        self.inner = ReplayBackend(folder, fps=60.0)
        self.pace_fps = self.inner.pace_fps
        self.pulled = threading.Event()
        self.hang = threading.Event()
        self.released = threading.Event()

    def open(self) -> CameraInfo:
        if self.pulled.is_set():
            raise CameraError("no_camera", detail="test: unplugged")
        return self.inner.open()

    def read(self, timeout: float) -> tuple[np.ndarray, dict[str, Any]]:
        if self.pulled.is_set():
            raise CameraError("disconnected", detail="test: cable pulled")
        if self.hang.is_set():
            self.released.wait(10)  # a stuck driver ignores its timeout
        return self.inner.read(timeout)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    d = tmp_path / "frames"
    d.mkdir()
    for i in range(3):
        cv2.imwrite(str(d / f"{i}.png"), np.full((72, 128, 3), 60 * i, np.uint8))
    return d


def _camera_lines(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name.startswith("hardware.camera") and r.levelno >= level]


def test_a_camera_that_cannot_open_is_logged_once(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    cam = Camera(WebcamBackend(str(tmp_path / "video77")), backoff=FAST)
    cam.start()
    try:
        wait_for_error(cam)
        wait_until(lambda: cam.status().retries >= 5)     # it keeps retrying...
    finally:
        cam.stop()
    lines = _camera_lines(caplog)
    assert len(lines) == 1, lines                           # ...and said so once
    assert lines[0].startswith("camera cannot be opened (no_camera): ")
    assert [r.levelno for r in caplog.records if r.getMessage() == lines[0]] == [logging.ERROR]


def test_a_camera_lost_and_back_is_logged_once_each(caplog: pytest.LogCaptureFixture, frames: Path) -> None:
    caplog.set_level(logging.DEBUG)
    backend = PullableReplay(frames)
    cam = Camera(backend, backoff=FAST)
    cam.start()
    try:
        wait_until(lambda: cam.status().frames >= 10)
        backend.pulled.set()
        wait_for_error(cam)
        wait_until(lambda: cam.status().retries >= 5)
        backend.pulled.clear()
        wait_until(lambda: cam.status().state is CameraState.RUNNING and cam.status().frames >= 10)
    finally:
        cam.stop()
    lines = _camera_lines(caplog)
    # Five retries and more: one line for the loss, one when its reason changed (the re-open
    # finds no camera), one for the recovery.
    assert len(lines) == 4, lines
    assert lines[0].startswith("camera running: ")
    assert lines[1] == "camera lost (disconnected): test: cable pulled"
    assert lines[2] == "camera still failing, now no_camera: test: unplugged"
    assert re.fullmatch(r"camera recovered after \d+ failed attempt\(s\)", lines[3]), lines
    levels = {r.getMessage(): r.levelno for r in caplog.records}
    assert levels[lines[1]] == logging.ERROR and levels[lines[3]] == logging.WARNING


def test_a_stalled_driver_is_logged_once(caplog: pytest.LogCaptureFixture, frames: Path) -> None:
    caplog.set_level(logging.DEBUG)
    backend = PullableReplay(frames)
    cam = Camera(backend, backoff=FAST, stall_timeout=0.2)
    cam.start()
    try:
        wait_until(lambda: cam.status().frames >= 3)
        backend.hang.set()
        wait_until(lambda: cam.status().error is not None)
        for _ in range(20):                               # the UI polls status at every tick
            assert cam.status().error is not None
            time.sleep(0.01)
        backend.hang.clear()
        backend.released.set()
        wait_until(lambda: cam.status().error is None and cam.status().frames >= 10)
    finally:
        cam.stop()
    lines = _camera_lines(caplog)
    assert [ln for ln in lines if ln.startswith("camera stalled")] and len(lines) == 3, lines
    assert lines[2] == "camera sends frames again after a stall"
