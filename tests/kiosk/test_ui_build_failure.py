"""A window that fails while being built (kiosk/app/window.py) is closed before the error goes on:
the failure screen that follows has none of its timers, workers or input filter behind it (the
traceback keeps the half-built window alive). A real window on a real offline device whose
first screen's builder raises."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication

from kiosk.app.home import HomeController
from kiosk.app.screens import ScreenFactory
from kiosk.app.window import KioskWindow, Services
from kiosk.capture.save import SaveContext
from sync.device.config import load_config
from tests.helpers.ui import IN_PERIOD_MS, offline_device


@pytest.mark.parametrize("where", ["first screen", "after the timers started"])
def test_a_window_that_fails_while_built_leaves_nothing_running(
        qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        where: str,
) -> None:
    cfg = load_config(offline_device(tmp_path / "dev"))
    ctx = SaveContext.from_config(cfg)
    half: list[KioskWindow] = []

    def broken(self: ScreenFactory) -> Any:
        half.append(self.win)  # type: ignore[arg-type]
        raise RuntimeError("the lock screen could not be built")

    def late(self: HomeController) -> None:
        # By now the timers run and the input filter is installed: they must be undone too.
        half.append(self.shell)  # type: ignore[arg-type]
        assert self.shell.status_timer.isActive()  # type: ignore[attr-defined]
        raise RuntimeError("the lock screen could not be built")

    if where == "first screen":
        monkeypatch.setattr(ScreenFactory, "_locked", broken)
    else:
        monkeypatch.setattr(HomeController, "refresh_status", late)
    caplog.set_level(logging.DEBUG, logger="fieldkit")
    with pytest.raises(RuntimeError, match="could not be built"):
        KioskWindow(Services(cfg, None, ctx, now_ms=lambda: IN_PERIOD_MS), "es")
    [w] = half
    assert not w.status_timer.isActive() and not w._tick_timer.isActive()
    with pytest.raises(Exception):  # noqa: B017  # the outbox is closed
        ctx.counts()
    # The input filter is gone: a key press no longer counts as the window's activity.
    before = w.flow.last_activity
    QApplication.sendEvent(QApplication.instance(), QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_A,
                                                              Qt.KeyboardModifier.NoModifier))
    assert w.flow.last_activity == before
    # Past the status timer's 5 s: nothing of the window ran in the background.
    caplog.clear()
    qtbot.wait(5500)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert not w.jobs.busy()
