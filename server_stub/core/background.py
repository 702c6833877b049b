"""A daemon thread that runs rounds of work until stopped (verification, acuses de recibo)."""

from __future__ import annotations

import abc
import logging
import threading

from server_stub.core.store import StoreError


class RoundThread(abc.ABC):
    """`start()` runs `_round()` in a daemon thread until `stop()`; after an idle round (False)
    or a failed one it waits `interval_s`. A store error is logged as a pause, anything else
    with its traceback; either way the thread keeps going."""

    _thread_name = "rounds"
    _join_s = 10.0
    _paused = "rounds paused"  # logged with the store error
    _failed = "round failed"
    _log = logging.getLogger("fieldkit.server")

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @abc.abstractmethod
    def _round(self) -> bool:
        """One round; True if there may be more to do right away."""

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self._round()
            except StoreError as e:
                self._log.error(self._paused + ": %s", e)
                busy = False
            except Exception:
                self._log.exception(self._failed)
                busy = False
            if not busy:
                self._stop.wait(self.interval_s)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self._thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self._join_s)
            self._thread = None
