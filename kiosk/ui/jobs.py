"""Run callables on worker threads and get the result back on the UI thread (a Qt signal).

Threads and object lifetimes, which is where PySide crashes come from:
- The workers are plain Python threads (concurrent.futures), not QRunnables: a Python
  QRunnable that Qt auto-deleted while its wrapper waited for Python's garbage collector
  crashed the process in a full CI run.
- `Jobs` is a child of the window and its one bridge a child of `Jobs`: Qt owns both C++
  objects. A worker may drop the last Python reference to the bridge's wrapper, and
  freeing a wrapper of a Qt-owned object never deletes a QObject from that thread.
- Results cross through a queued signal to a slot on the UI thread; when the window is
  gone, Qt drops the queued delivery with the receiver.
- The callable and its callbacks (closures over the window) stay in this object's
  table and are released on the UI thread, never by a worker's last reference.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import logging
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

_log = logging.getLogger("fieldkit.kiosk")

Callback = Callable[[Any], None]


class _Bridge(QObject):
    done = Signal(int, object, object)  # job key, result, exception


class Jobs(QObject):
    """`run(fn, on_done, on_error)`: fn on a worker; the callbacks on the UI thread."""

    def __init__(self, threads: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="kiosk-job")
        self._bridge = _Bridge(self)  # created on the UI thread: the slot runs there
        self._bridge.done.connect(self._deliver)
        self._keys = itertools.count()
        # key -> ([fn], on_done, on_error); the list is emptied on the UI thread.
        self._pending: dict[int, tuple[list[Callable[[], Any]], Callback | None, Callback | None]] = {}
        self._futures: set[concurrent.futures.Future[None]] = set()
        self._closed = False

    def run(self, fn: Callable[[], Any], on_done: Callback | None = None,
            on_error: Callable[[Exception], None] | None = None) -> None:
        if self._closed:  # the window is going: nothing may start that would call back into it
            # The name only: a job's repr could carry what it closes over (a citizen's draft).
            _log.debug("job refused after close: %s", getattr(fn, "__qualname__", type(fn).__name__))
            return
        key, cell, bridge = next(self._keys), [fn], self._bridge
        self._pending[key] = (cell, on_done, on_error)

        def task() -> None:
            try:
                result, error = cell[0](), None
            except Exception as e:  # handed to the UI thread, never lost
                # As text: a traceback's frames would keep the callable (and the window) alive
                # in a cycle that the GC could then free from any thread.
                e.add_note("".join(traceback.format_exception(e)))
                e.__traceback__ = None
                result, error = None, e
            with contextlib.suppress(RuntimeError):  # the window (and this bridge) went away meanwhile
                bridge.done.emit(key, result, error)

        fut = self._pool.submit(task)
        self._futures.add(fut)
        fut.add_done_callback(self._futures.discard)

    def _deliver(self, key: int, result: Any, error: Exception | None) -> None:
        entry = self._pending.pop(key, None)
        if entry is None:
            return
        cell, on_done, on_error = entry
        cell.clear()
        if error is not None:
            if on_error is not None:
                on_error(error)
            else:
                _log.error("background job failed", exc_info=error)
        elif on_done is not None:
            on_done(result)

    def close(self, ms: int = 10000) -> bool:
        """Refuse new jobs, then wait up to `ms` for the running ones (True: all returned)."""
        self._closed = True
        return self.wait(ms)

    def busy(self) -> int:
        return len(self._pending)

    def wait(self, ms: int = 10000) -> bool:
        """True when every job submitted so far has returned within `ms`."""
        _, pending = concurrent.futures.wait(list(self._futures), timeout=ms / 1000)
        return not pending
