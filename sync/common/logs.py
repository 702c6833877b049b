"""Logging for every process entry point (kiosk, sync agent, server): one call, `setup_logging`.

Under systemd the journal reads our stderr line by line. A line that starts with `<N>`
(sd-daemon(3): N is the syslog priority, 0 emerg .. 7 debug) is stored with that priority,
so `journalctl -p err` shows errors only; journald adds its own timestamp, so the lines
carry none. We are under the journal when `JOURNAL_STREAM` (systemd.exec(5): "DEVICE:INODE"
of the stream systemd connected) names the file our stderr is: a child whose stderr was
redirected to a file inherits the variable but is not under the journal any more.
Elsewhere (a terminal, the demo's log files) lines are timestamped, without prefixes.

Stdlib only: python-systemd's JournalHandler would give structured fields, but it is a
C extension the kit does not otherwise need, and the prefixes are what journald documents
for services that write to stderr.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from types import TracebackType
from typing import TextIO

# syslog priorities (sd-daemon(3)) for logging levels, highest level first.
_PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4),
               (logging.INFO, 6))
DEBUG_PRIORITY = 7
TERMINAL_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOURNAL_FORMAT = "%(name)s: %(message)s"


def priority(levelno: int) -> int:
    """The syslog priority journald stores for a record of this logging level."""
    for level, prio in _PRIORITIES:
        if levelno >= level:
            return prio
    return DEBUG_PRIORITY


class JournalFormatter(logging.Formatter):
    """`<N>name: message`, no timestamp. Every line of a multi-line record (a traceback) gets
    the prefix: journald makes each line its own entry, and a bare line would be `info`."""

    def __init__(self) -> None:
        super().__init__(JOURNAL_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time of the record, not at set-up (as
    logging's last-resort handler does), so a replaced stderr never gets a stale stream."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def under_journal(stream: TextIO | None = None, environ: dict[str, str] | None = None) -> bool:
    """True when `stream` (default stderr) is the journal stream systemd connected."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    dev, sep, ino = value.partition(":")
    if not sep or not dev.isdigit() or not ino.isdigit():
        return False
    try:
        st = os.fstat((stream or sys.stderr).fileno())
    except (OSError, ValueError, AttributeError):
        return False  # no real file behind stderr (closed, or an in-memory stream)
    return (st.st_dev, st.st_ino) == (int(dev), int(ino))


def setup_logging(verbose: bool = False, *, level: int | str | None = None) -> None:
    """Root logging for a process: DEBUG with `verbose`, else `level` (a number or a name
    such as "WARNING"), else INFO; journal or terminal format (module docstring). Also sends
    Python warnings and uncaught exceptions (main thread and others) through logging, so a
    crash at start-up reaches `journalctl -p crit` and not only unprefixed stderr.

    Calling it again replaces its own handler. When the root logger already has handlers of
    someone else (an embedding process, a test runner), it leaves logging alone, as
    `logging.basicConfig` does."""
    root = logging.getLogger()
    foreign = [h for h in root.handlers if not isinstance(h, _StderrHandler)]
    if foreign:
        return
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = _StderrHandler()
    handler.setFormatter(JournalFormatter() if under_journal() else logging.Formatter(TERMINAL_FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else _level(level))
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_thread_uncaught


def _level(level: int | str | None) -> int:
    if isinstance(level, int):
        return level
    if level is None:
        return logging.INFO
    named = logging.getLevelName(str(level).upper())
    return named if isinstance(named, int) else logging.INFO


def _log_uncaught(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    logging.getLogger("fieldkit").critical("uncaught exception", exc_info=(kind, value, tb))


def _log_thread_uncaught(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or issubclass(args.exc_type, SystemExit):
        return
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger("fieldkit").critical("uncaught exception in thread %s", name,
                                           exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
