"""Notices belong to the screen they were given on: none carries over to another screen."""

from __future__ import annotations

from pathlib import Path

from kiosk.capture.flow import Step
from tests.helpers.ui import click, find, make_window, offline_device, replay_camera, replay_folder, unlock


def _notice(w) -> str:  # type: ignore[no-untyped-def]
    n = find(w.screen, "notice")
    return n.text() if n.isVisible() else ""


def test_home_notice_does_not_follow_to_the_coordinator_pin_screen(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    frames = tmp_path / "frames"
    replay_folder(frames, repeat=2)
    w = make_window(qtbot, offline_device(tmp_path / "dev"), replay_camera(frames))
    unlock(qtbot, w)
    click(w, "new_support")
    qtbot.waitUntil(lambda: w.flow.step == Step.FRONT, timeout=10000)
    click(w, "cancel")
    assert w.flow.step == Step.HOME
    qtbot.waitUntil(lambda: "cancelada" in _notice(w), timeout=5000)
    click(w, "coordinator")                      # the coordinator's PIN screen
    assert w.lock.coordinator_pin and w.flow.step == Step.HOME
    assert "cancelada" not in _notice(w)
    click(w, "coordinator")                      # «Volver»: home again, no stale notice
    assert not w.lock.coordinator_pin
    assert "cancelada" not in _notice(w)
    w.close_services()


def test_a_lockout_notice_does_not_follow_to_the_coordinator_pin_screen(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    w = make_window(qtbot, offline_device(tmp_path / "dev"), None)
    for d in "0000":
        click(w, f"key_{d}")
    click(w, "key_ok")
    qtbot.waitUntil(lambda: "intento" in _notice(w), timeout=10000)
    click(w, "coordinator")
    assert w.lock.coordinator_pin
    assert "intento" not in _notice(w)
    w.close_services()
