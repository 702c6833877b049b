"""Start-up failures of the kiosk, with no Qt: what went wrong (a code the failure screen has
texts for), the log line, the coordinator's diagnostics and the PIN that opens them.

`kiosk.app.start` shows the screen (`kiosk.ui.failure`) in place of the kiosk. The minimal
program systemd starts once the kiosk unit gives up (`fieldkit-kiosk failure-screen`, from
`OnFailure=`) uses this module too; it must run with a broken config and a broken outbox, so
this module imports only light, pure modules at load, and nothing it calls writes a file.
"""

from __future__ import annotations

import errno
import logging
import os
import platform
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kiosk.i18n import Msg, render
from sync.common.pin import verify_pin
from sync.common.version import UNKNOWN, package_version
from sync.device.config import ConfigError, DeviceConfig, load_config, resolve_config_path
from sync.outbox.errors import (
    KeyFileError,
    OutboxCorruptError,
    OutboxDiskFullError,
    OutboxReadOnlyError,
    OutboxWrongKeyError,
)

_log = logging.getLogger("fieldkit.kiosk")

EXIT_STARTUP_FAILED = 4  # `fieldkit-kiosk run` could not start and showed the failure screen
UNIT = "fieldkit-kiosk"
JOURNAL = f"journalctl -u {UNIT} -b"
# What systemd tells a unit started by OnFailure= about the unit that failed (systemd.exec(5)).
MONITOR_VARS = ("MONITOR_UNIT", "MONITOR_SERVICE_RESULT", "MONITOR_EXIT_CODE", "MONITOR_EXIT_STATUS",
                "MONITOR_INVOCATION_ID")
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT}


@dataclass(frozen=True)
class StartupFailure:
    """One failed start: its code (`kiosk.ui.failure.TEXTS`), the error when there is one,
    and what was known by then."""

    kind: str
    error: BaseException | None = None
    config: DeviceConfig | None = None
    config_path: str = ""
    camera: str = ""
    at: float = field(default_factory=time.time)

    @classmethod
    def of(cls, error: BaseException, *, config: DeviceConfig | None = None, config_path: str = "",
           camera: str = "") -> StartupFailure:
        return cls(classify(error), error, config, config_path, camera)

    @property
    def device_id(self) -> str:
        return self.config.device.id if self.config is not None else ""


def _chain(e: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        if cur.__cause__ is not None:
            cur = cur.__cause__
        else:  # `raise ... from None` hides the context on purpose
            cur = None if cur.__suppress_context__ else cur.__context__


def _late_classes() -> tuple[tuple[type[BaseException], str], ...]:
    """Error classes of heavy modules, imported only once the kiosk failed (they are loaded by
    then, unless importing them is what failed)."""
    out: list[tuple[type[BaseException], str]] = []
    try:
        from hardware.camera.errors import CameraError

        out.append((CameraError, "camera"))
    except Exception:
        pass
    try:
        from kiosk.capture.save import SaveError

        # Raised when the keys, the config and the outbox do not fit together (another
        # device's outbox, the server key's suite, an unreadable signing key).
        out.append((SaveError, "config"))
    except Exception:
        pass
    return tuple(out)


def classify(e: BaseException) -> str:
    """The failure's code: the outbox's own errors first (they tell damage from a wrong key),
    anywhere in the chain of causes, then what wrapped them."""
    chain = list(_chain(e))
    for x in chain:
        if isinstance(x, OutboxCorruptError):
            return "outbox_damaged"
        if isinstance(x, (OutboxWrongKeyError, KeyFileError)):
            return "outbox_key"
        if isinstance(x, (OutboxDiskFullError, OutboxReadOnlyError)):
            return "storage"
        if isinstance(x, OSError) and x.errno in _STORAGE_ERRNOS:
            return "storage"
    late = _late_classes()
    for x in chain:
        if isinstance(x, ConfigError):
            return "config"
        for cls, kind in late:
            if isinstance(x, cls):
                return kind
    return "unexpected"


def describe(e: BaseException) -> str:
    """The error and its causes on one line: `Class: message <- Cause: message`."""
    return " <- ".join(f"{type(x).__name__}: {x}".replace("\n", " ") for x in _chain(e))


def log_failure(f: StartupFailure) -> None:
    """One critical line (journalctl -p crit); the traceback only at debug level, so that the
    journal of a device holds no multi-line dump by default."""
    if f.error is not None:
        what = describe(f.error)
    else:  # the minimal screen: what systemd said about the unit that gave up, if anything
        what = ", ".join(f"{k}={os.environ[k]}" for k in MONITOR_VARS if os.environ.get(k)) or "-"
    _log.critical("el kiosco no pudo arrancar (%s): %s", f.kind, what)
    if f.error is not None:
        _log.debug("traza del fallo de arranque", exc_info=f.error)


def pin_checker(cfg: DeviceConfig | None) -> Callable[[str], bool] | None:
    """Whether a PIN is a coordinator's; None when there is none to check against. The rule is
    kiosk.app.services.coordinators' (role "coordinador"), not imported: that module pulls in
    the camera and the outbox, which this screen must not need."""
    hashes = [a.pin_hash for a in cfg.auxiliaries if a.role == "coordinador"] if cfg else []
    if not hashes:
        return None
    return lambda pin: any(verify_pin(pin, h) for h in hashes)


def _qt_version() -> str:
    try:
        import PySide6  # the package only, no Qt library: the version of the bindings

        return str(PySide6.__version__)
    except Exception:
        return "?"


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def versions() -> str:
    v = package_version()
    shown = render(Msg("diag.unknown")) if v == UNKNOWN else v
    return f"{shown}; Python {platform.python_version()}; PySide6 {_qt_version()}"


def _file_line(path: os.PathLike[str] | str) -> Msg:
    """A path with its size and time of change, read with stat only (nothing is opened)."""
    try:
        st = os.stat(path)
    except OSError as e:
        return Msg("diag.failure.file_unreadable", {"path": str(path), "error": e.strerror or str(e)})
    return Msg("diag.failure.file", {"path": str(path), "size": st.st_size, "when": _when(st.st_mtime)})


def diagnostics(f: StartupFailure, environ: dict[str, str] | None = None) -> str:
    """The coordinator's text, behind the PIN, in the language chosen: the error and its causes
    (their own words: the coordinator's to read), the paths (never a key's contents), versions,
    the process, and the traceback last."""
    env = os.environ if environ is None else environ
    lines = [Msg("diag.failure.code", {"kind": f.kind}), Msg("diag.failure.time", {"at": _when(f.at)})]
    if f.error is not None:
        lines.append(Msg("diag.failure.error", {"error": f"{type(f.error).__name__}: {f.error}"}))
        lines += [Msg("diag.failure.cause", {"error": f"{type(x).__name__}: {x}"})
                  for x in list(_chain(f.error))[1:]]
    lines.append(Msg("diag.failure.config", {"path": f.config_path or "-"}))
    if f.config is not None:
        lines.append(Msg("diag.failure.device", {"id": f.config.device.id}))
        lines.append(Msg("diag.failure.outbox", {"file": _file_line(f.config.device.outbox_path)}))
        lines.append(Msg("diag.failure.outbox_key", {"path": str(f.config.keys.outbox_key)}))
    if f.camera:
        lines.append(Msg("diag.failure.camera", {"camera": f.camera}))
    monitor = [f"{k}={env[k]}" for k in MONITOR_VARS if env.get(k)]
    if monitor:
        lines.append(Msg("diag.failure.unit", {"unit": ", ".join(monitor)}))
    lines += [Msg("diag.failure.version", {"versions": versions()}),
              Msg("diag.failure.process", {"pid": os.getpid()}),
              Msg("diag.failure.journal", {"command": JOURNAL})]
    out = [("  " if m.code == "diag.failure.cause" else "") + render(m) for m in lines]  # causes indented
    if f.error is not None:
        out += ["", render(Msg("diag.failure.trace")),
                *"".join(traceback.format_exception(f.error)).rstrip().splitlines()]
    return "\n".join(out)


def summary(f: StartupFailure) -> str:
    """What may be shown with no PIN, in the language chosen: the code, the error's class, the
    version and the time; no message (a config's message may quote its values) and no path."""
    args = {"kind": f.kind, "versions": versions(), "at": _when(f.at)}
    if f.error is None:
        return render(Msg("diag.failure.summary", args))
    return render(Msg("diag.failure.summary_error", {**args, "error": type(f.error).__name__}))


def load_config_quietly(cli_value: str | None) -> tuple[DeviceConfig | None, str]:
    """The config for the minimal failure screen, when it loads: the device id and the
    coordinators' PINs. Any problem only means showing less."""
    path, _explicit = resolve_config_path(cli_value)
    try:
        return load_config(path), str(path)
    except Exception as e:  # the screen must come up whatever is wrong with the config
        _log.warning("pantalla de falla sin configuración (%s): %s", path, describe(e))
        return None, str(path)
