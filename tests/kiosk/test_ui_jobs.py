"""kiosk.ui.jobs: work on a worker thread, the answer on the UI thread, nothing after close."""

from __future__ import annotations

import threading

from PySide6.QtWidgets import QWidget

from kiosk.ui.jobs import Jobs


def test_results_and_errors_come_back_on_the_ui_thread(qtbot) -> None:  # type: ignore[no-untyped-def]
    owner = QWidget()
    qtbot.addWidget(owner)
    jobs = Jobs(2, owner)
    seen: list[tuple[str, object, bool]] = []
    ui = threading.current_thread()

    def boom() -> None:
        raise ValueError("sin cámara")

    jobs.run(lambda: threading.current_thread() is not ui,
             lambda r: seen.append(("done", r, threading.current_thread() is ui)))
    jobs.run(boom, None, lambda e: seen.append(("error", e, threading.current_thread() is ui)))
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=5000)
    done = next(s for s in seen if s[0] == "done")
    assert done[1] is True and done[2]                    # ran on a worker, answered on the UI thread
    err = next(s for s in seen if s[0] == "error")
    e = err[1]
    assert isinstance(e, ValueError) and err[2]
    # The traceback travels as text: no frames (and no window) kept alive by the exception.
    assert e.__traceback__ is None and "in boom" in "".join(getattr(e, "__notes__", []))
    assert jobs.busy() == 0


def test_nothing_runs_after_close(qtbot) -> None:  # type: ignore[no-untyped-def]
    owner = QWidget()
    qtbot.addWidget(owner)
    jobs = Jobs(1, owner)
    started = threading.Event()
    release = threading.Event()
    answers: list[object] = []
    jobs.run(lambda: (started.set(), release.wait(5))[1], answers.append)
    assert started.wait(5)
    release.set()
    assert jobs.close(5000)                               # the running job was waited for
    jobs.run(lambda: answers.append("ran"), answers.append)
    qtbot.wait(200)
    assert "ran" not in answers and jobs.busy() <= 1
