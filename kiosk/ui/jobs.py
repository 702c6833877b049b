"""Run callables on worker threads and get the result back on the UI thread (a Qt signal).

The workers are plain Python threads (concurrent.futures), not QRunnables: a Python
QRunnable that Qt auto-deletes while its wrapper waits for Python's garbage collector
crashed the process in a full CI run; with plain threads Qt owns no Python object.
Results cross to the UI thread through a queued signal on a QObject that lives there.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

_log = logging.getLogger("fieldkit.kiosk")


class _Bridge(QObject):
    done = Signal(object, object)  # result, exception


class Jobs(QObject):
    """`run(fn, on_done, on_error)`: fn on a worker; the callbacks on the UI thread."""

    def __init__(self, threads: int = 2) -> None:
        super().__init__()
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="kiosk-job")
        self._live: set[_Bridge] = set()
        self._futures: set[concurrent.futures.Future[None]] = set()

    def run(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        bridge = _Bridge()  # created here, so it lives in the UI thread
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

        def task() -> None:
            try:
                result, error = fn(), None
            except Exception as e:  # handed to the UI thread, never lost
                result, error = None, e
            with contextlib.suppress(RuntimeError):  # the window went away while this ran
                bridge.done.emit(result, error)

        bridge.done.connect(finished)
        fut = self._pool.submit(task)
        self._futures.add(fut)
        fut.add_done_callback(self._futures.discard)

    def busy(self) -> int:
        return len(self._live)

    def wait(self, ms: int = 10000) -> bool:
        """True when every job submitted so far has returned within `ms`."""
        _, pending = concurrent.futures.wait(list(self._futures), timeout=ms / 1000)
        return not pending
