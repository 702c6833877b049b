"""Home's warnings as banners, and the folio screen's sending line (real Qt, offscreen), at
800x480 and 1280x800; with FIELDKIT_SCREENS_DIR set the states are saved as PNGs there."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from kiosk import i18n
from kiosk.capture.warnings import HomeWarning
from kiosk.ui.done import SENDING, FolioScreen
from kiosk.ui.home import HomeScreen
from kiosk.ui.theme import Scale
from sync.common.msg import Msg
from tests.helpers.screen_states import host

SIZES = [(800, 480), (1280, 800)]
PROCESS = ("ci-2027-df-0901", "Candidatura independiente, diputación federal 01 (MUESTRA)",
           "ASPIRANTE MUESTRA UNO")
CLOCK = HomeWarning("clock_wrong", Msg("clock.wrong", {"detail": Msg("clock.shows", {"date": "1970-01-01"})}),
                    "error")
UNSENT = HomeWarning("unsent_old", Msg("warn.unsent_old", {"since": Msg("span.hours", n=30)}))
BATTERY = HomeWarning("battery_low", Msg("warn.battery_low", {"percent": "15 %"}))
DISK = HomeWarning("disk_low", Msg("warn.disk_low", n=12))


@pytest.fixture(autouse=True)
def _spanish() -> Any:
    yield
    i18n.set_language("es")


def _host(qtbot: Any, screen_factory: Any, size: tuple[int, int]) -> tuple[QWidget, Any]:
    """The screen in a window of `size`, as KioskWindow holds it (the registry's host)."""
    win, screen = host(screen_factory, size)
    qtbot.addWidget(win)
    return win, screen


def _save(win: QWidget, name: str, size: tuple[int, int]) -> None:
    QApplication.processEvents()
    img = win.grab()
    assert (img.width(), img.height()) == size, f"{name} does not fit {size}: {img.size()}"
    out = os.environ.get("FIELDKIT_SCREENS_DIR")
    if out:
        img.save(str(Path(out) / f"{name}{'' if size == (800, 480) else f'_{size[0]}x{size[1]}'}.png"))


def _home(processes: int, warnings: list[Any]) -> HomeScreen:
    procs = [(f"p{i}", PROCESS[1] if i == 0 else f"Proceso de ejemplo {i + 1} (MUESTRA)", PROCESS[2])
             for i in range(processes)]
    s = HomeScreen("ANA MUESTRA", procs)
    s.set_warnings(warnings)
    return s


def _shown(s: HomeScreen) -> list[QLabel]:
    return [lab for lab in s.banners.rows if lab.isVisibleTo(s) and s.banners.isVisibleTo(s)]


def _lines(lab: QLabel) -> int:
    return round(lab.contentsRect().height() / lab.fontMetrics().lineSpacing())


def _inside(win: QWidget, w: QWidget) -> bool:
    top_left = w.mapTo(win, QPoint(0, 0))
    return top_left.x() >= 0 and top_left.y() >= 0 and top_left.x() + w.width() <= win.width() \
        and top_left.y() + w.height() <= win.height()


@pytest.mark.parametrize("size", SIZES)
def test_three_warnings_as_banners_errors_first_in_three_lines(qtbot: Any, size: tuple[int, int]) -> None:
    win, s = _host(qtbot, lambda: _home(1, [CLOCK, UNSENT, BATTERY]), size)
    _save(win, "home_warnings", size)
    rows = _shown(s)
    # The clock's two lines and one more fit the three lines; the battery is counted beside the title.
    assert [r.text() for r in rows] == ["⚠ " + CLOCK.text, "⚠ " + UNSENT.text]
    assert [r.property("severity") for r in rows] == ["error", "warn"]
    assert [_lines(r) for r in rows] == [2, 1]  # three lines of banner text at most
    assert rows[0].fontMetrics().height() >= Scale.px(20) * 0.95  # large text: 20 design px, bold
    assert s.more.isVisibleTo(s) and s.more.text() == "⚠ 1 aviso más"
    assert all(_inside(win, w) for w in [*rows, s.more, s.new_button])
    assert s.more.height() >= Scale.px(56) * 0.99  # a touch target like every button

    s.more.click()  # every warning, in the processes' place
    _save(win, "home_warnings_all", size)
    assert [r.text() for r in _shown(s)] == ["⚠ " + w.text for w in (CLOCK, UNSENT, BATTERY)]
    assert not s.procs.isVisibleTo(s) and s.more.text() == "Ocultar avisos"
    assert all(_inside(win, w) for w in _shown(s))
    s.more.click()
    assert len(_shown(s)) == 2 and s.procs.isVisibleTo(s)


@pytest.mark.parametrize("size", SIZES)
def test_short_warnings_all_show_and_no_button(qtbot: Any, size: tuple[int, int]) -> None:
    win, s = _host(qtbot, lambda: _home(1, [DISK, UNSENT, BATTERY]), size)
    assert [r.text() for r in _shown(s)] == ["⚠ " + w.text for w in (DISK, UNSENT, BATTERY)]
    assert not s.more.isVisibleTo(s)
    _save(win, "home_warnings_short", size)


@pytest.mark.parametrize("size", SIZES)
def test_three_processes_leave_room_for_the_count_only(qtbot: Any, size: tuple[int, int]) -> None:
    """Nothing is pushed off the screen: the warnings that do not fit are counted, red when
    one of them is an error."""
    win, s = _host(qtbot, lambda: _home(3, [CLOCK, UNSENT, BATTERY]), size)
    _save(win, "home_processes_warnings", size)
    assert _shown(s) == [] and s.more.text() == "⚠ 3 avisos"
    assert "background: #a8001a" in s.more.styleSheet()  # theme.DANGER
    assert all(_inside(win, b) for _, b in s._buttons) and _inside(win, s.new_button)


@pytest.mark.parametrize("size", SIZES)
def test_a_notice_takes_room_from_the_banners_not_from_the_screen(qtbot: Any, size: tuple[int, int]) -> None:
    win, s = _host(qtbot, lambda: _home(2, [DISK, UNSENT, BATTERY]), size)
    before = len(_shown(s))
    s.notice.show_text("Captura cancelada; no se guardó nada.")
    _save(win, "home_warnings_notice", size)
    assert len(_shown(s)) < before and s.more.isVisibleTo(s)
    assert all(_inside(win, w) for w in [*_shown(s), s.notice, s.new_button, *(b for _, b in s._buttons)])
    s.notice.show_text(None)
    assert len(_shown(s)) == before


def test_the_banners_speak_the_chosen_language(qtbot: Any) -> None:
    """The texts come from the catalogues by code: English shows English, never the Spanish."""
    i18n.set_language("en")
    _, s = _host(qtbot, lambda: _home(1, [CLOCK, DISK, BATTERY]), (1280, 800))
    assert s.warnings_text().splitlines() == [
        "The device's clock looks wrong (it shows 1970-01-01): connect to correct it or tell the "
        "coordinator.",
        "Low storage: room for 12 more supports. Tell the coordinator.",
        "Battery low (15 %): plug in the charger."]


def test_plain_texts_and_pairs_are_banners_too(qtbot: Any) -> None:
    _, s = _host(qtbot, lambda: _home(1, ["Texto de aviso.", ("Un error.", "error"), Msg("warn.disk_full")]),
                 (800, 480))
    assert [(r.text(), r.property("severity")) for r in _shown(s)] == [
        ("⚠ Texto de aviso.", "warn"), ("⚠ Un error.", "error"),
        ("⚠ Memoria llena: conéctese para enviar y avise al coordinador.", "warn")]
    s.set_warnings([])
    assert _shown(s) == [] and not s.more.isVisibleTo(s) and not s.banners.isVisibleTo(s)


@pytest.mark.parametrize("size", SIZES)
def test_the_folio_says_what_is_known_about_sending(qtbot: Any, size: tuple[int, int]) -> None:
    win, s = _host(qtbot, lambda: FolioScreen("7Q4K-2MXB"), size)
    assert s.sending.property("state") == "unknown"  # until the window knows better
    expected = {"sent": "✓ Enviado al servidor.", "pending_online": "Enviando…",
                "offline": "Se enviará en cuanto haya conexión.",
                "unknown": "Guardado en este dispositivo; se enviará más tarde."}
    assert set(expected) == set(SENDING)
    for state, text in expected.items():
        s.set_sending(state)
        assert s.sending.text() == text and s.sending.property("state") == state
        assert _inside(win, s.sending)
        _save(win, f"folio_{state}", size)
    s.set_sending("bogus")
    assert s.sending.property("state") == "unknown"
