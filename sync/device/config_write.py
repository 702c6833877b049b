"""Writing the device config: render plain data as TOML, replace the file atomically.

Enrollment writes the first config; a signed config update replaces sections of
it. Either way the new text is validated with `sync.device.config.parse_config` before
it replaces the old file (temp file + fsync + rename), so a reader sees the old
config or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sync.device.config import DeviceConfig, parse_config

_TOP = ("locale", "idle_lock_minutes")
_TABLES = ("device", "server", "keys", "freeze", "warnings", "self_service")
_ARRAYS = ("processes", "auxiliaries", "secciones")


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str | Path):
        return json.dumps(str(v))  # a JSON string (ASCII, \\u escapes) is a TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items() if x is not None) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def render_toml(data: dict[str, Any]) -> str:
    """Only the device config's shape: a few top-level keys, tables, arrays of tables."""
    lines = ["# Written by fieldkit enrollment / config update. Paths are relative to this file."]
    lines += [f"{k} = {_value(data[k])}" for k in _TOP if k in data]
    # An empty array has no [[table]] to write: said at the top (a self-service device has
    # no auxiliaries, and the loader wants the key).
    lines += [f"{a} = []" for a in _ARRAYS if a in data and not data[a]]
    for t in _TABLES:
        if t in data:
            lines += ["", f"[{t}]"] + [f"{k} = {_value(v)}" for k, v in data[t].items() if v is not None]
    for a in _ARRAYS:
        for item in data.get(a, []):
            lines += ["", f"[[{a}]]"] + [f"{k} = {_value(v)}" for k, v in item.items() if v is not None]
    unknown = set(data) - set(_TOP) - set(_TABLES) - set(_ARRAYS)
    if unknown:
        raise ValueError(f"unknown config keys: {sorted(unknown)}")
    return "\n".join(lines) + "\n"


def write_private_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create/replace with `mode` from the first byte, fsync, rename, fsync the folder."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_config(path: Path, data: dict[str, Any]) -> DeviceConfig:
    """Validate, then atomically replace `path`. Raises ConfigError (nothing written)."""
    text = render_toml(data)
    cfg = parse_config(text, path)
    write_private_file(path, text.encode())
    return cfg
