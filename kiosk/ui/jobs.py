"""Run callables on a thread pool and get the result back on the UI thread (a Qt signal)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

_log = logging.getLogger("fieldkit.kiosk")


class _Bridge(QObject):
    done = Signal(object, object)  # result, exception


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], Any], bridge: _Bridge) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self.fn, self.bridge = fn, bridge

    def run(self) -> None:
        try:
            result, error = self.fn(), None
        except Exception as e:  # handed to the UI thread, never lost
            result, error = None, e
        with contextlib.suppress(RuntimeError):  # the window went away while this ran (shutdown)
            self.bridge.done.emit(result, error)


class Jobs(QObject):
    """`run(fn, on_done, on_error)`: fn on a worker; the callbacks on the UI thread."""

    def __init__(self, threads: int = 2) -> None:
        super().__init__()
        self.pool = QThreadPool()
        self.pool.setMaxThreadCount(threads)
        self._live: set[_Bridge] = set()

    def run(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        bridge = _Bridge()
        self._live.add(bridge)

        def finished(result: Any, error: Exception | None) -> None:
            self._live.discard(bridge)
            bridge.deleteLater()
            if error is not None:
                if on_error is not None:
                    on_error(error)
                else:
                    _log.error("background job failed", exc_info=error)
            elif on_done is not None:
                on_done(result)

        bridge.done.connect(finished)
        self.pool.start(_Task(fn, bridge))

    def busy(self) -> int:
        return len(self._live)

    def wait(self, ms: int = 10000) -> bool:
        return self.pool.waitForDone(ms)
