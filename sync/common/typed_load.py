"""Load plain TOML/JSON data into dataclasses, strictly.

Unknown keys are refused (a typo in a config must not be silently ignored),
missing required fields and wrong types are reported with the dotted path of
the field, so the caller can print one line that names file and field.
``read_text_file`` and ``parse_toml`` do that for a config file (the device's,
sync/device/config.py, and the server's, server_stub/core/config.py): every problem becomes
a ``FileFieldError`` subclass whose str() is `<file>: <field>: <what>`.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, cast, get_args, get_origin, get_type_hints

T = TypeVar("T")

_TYPE_NAMES = {
    str: "texto",
    int: "entero",
    float: "número",
    bool: "booleano (true/false)",
    Path: "ruta (texto)",
    list: "lista",
    dict: "tabla",
}


class FieldError(ValueError):
    """A value does not fit the schema; `field` is the dotted path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class FileFieldError(Exception):
    """A problem in a file, as one line: `<file>: <field>: <what>` (no field: `<file>: <what>`)."""

    def __init__(self, path: Path | str, field_name: str, message: str) -> None:
        self.path = str(path)
        self.field = field_name
        self.message = message
        where = f"{self.path}: {field_name}" if field_name else self.path
        super().__init__(f"{where}: {message}")


def read_text_file(path: Path, error: type[FileFieldError], permission_denied: str | None = None) -> str:
    """The file's text (UTF-8), or ``error`` saying in one line why not. ``permission_denied``:
    the message for a file we may not read; None reports it like any other OSError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(path, "", "no existe el archivo") from None
    except IsADirectoryError:
        raise error(path, "", "es un directorio, no un archivo") from None
    except PermissionError as e:
        raise error(path, "", permission_denied or f"no se puede leer ({e.strerror})") from None
    except OSError as e:
        raise error(path, "", f"no se puede leer ({e.strerror})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise error(path, "", "no está en UTF-8") from None


def parse_toml(cls: type[T], text: str, path: Path, error: type[FileFieldError]) -> T:
    """``cls`` (a dataclass with a ``source`` field) from TOML text, with ``source=path``; a
    ``source`` key in the text is ignored. Bad TOML or a bad field: ``error`` naming the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise error(path, "", f"TOML mal formado: {e}") from None
    data.pop("source", None)
    try:
        obj = load_dataclass(cls, data)
    except FieldError as e:
        raise error(path, e.field, e.message) from None
    return dataclasses.replace(obj, source=path)  # type: ignore[type-var]  # cls is a dataclass


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _describe(tp: Any) -> str:
    if dataclasses.is_dataclass(tp):
        return "tabla"
    origin = get_origin(tp)
    if origin is Literal:
        return "uno de " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (list, tuple):
        return "lista"
    if origin is dict:
        return "tabla"
    return _TYPE_NAMES.get(tp, getattr(tp, "__name__", str(tp)))


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(tp) if a is not type(None)]
        if value is None:
            return None
        if len(members) == 1:
            return _convert(members[0], value, path)
        for a in members:
            try:
                return _convert(a, value, path)
            except FieldError:
                continue
        raise FieldError(path, f"se esperaba {' o '.join(_describe(a) for a in members)}")
    if origin is Literal:
        if value not in get_args(tp):
            raise FieldError(path, f"valor {value!r} no válido; se esperaba {_describe(tp)}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise FieldError(path, f"se esperaba una tabla, no {type(value).__name__}")
        return load_dataclass(cast("type[Any]", tp), value, path)  # a type hint: a class, never an instance
    if origin is list:
        if not isinstance(value, list):
            raise FieldError(path, f"se esperaba una lista, no {type(value).__name__}")
        (item,) = get_args(tp) or (Any,)
        return [_convert(item, v, _join(path, i)) for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise FieldError(path, f"se esperaba una lista, no {type(value).__name__}")
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, _join(path, i)) for i, v in enumerate(value))
        if len(args) != len(value):
            raise FieldError(path, f"se esperaban {len(args)} elementos, hay {len(value)}")
        return tuple(_convert(a, v, _join(path, i)) for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if origin is dict:
        if not isinstance(value, dict):
            raise FieldError(path, f"se esperaba una tabla, no {type(value).__name__}")
        kt, vt = get_args(tp) or (Any, Any)
        return {_convert(kt, k, path): _convert(vt, v, _join(path, str(k))) for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise FieldError(path, f"se esperaba {_describe(bool)}, no {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldError(path, f"se esperaba un entero, no {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FieldError(path, f"se esperaba un número, no {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise FieldError(path, f"se esperaba texto, no {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, str) or not value:
            raise FieldError(path, f"se esperaba una ruta (texto), no {value!r}")
        return Path(value)
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise FieldError(path, f"tipo no admitido {tp!r}")


def load_dataclass(cls: type[T], data: dict[str, Any], path: str = "") -> T:
    """Build `cls` from `data`, refusing unknown keys, missing fields and wrong types."""
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise FieldError(_join(path, unknown[0]), "campo desconocido")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        fpath = _join(path, name)
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise FieldError(fpath, "falta el campo")
            continue
        kwargs[name] = _convert(hints[name], data[name], fpath)
    try:
        obj = cls(**kwargs)
    except FieldError as e:
        # __post_init__ validators report paths relative to the object.
        raise FieldError(_join(path, e.field) if e.field else path, e.message) from None
    return obj


def dump_dataclass(obj: Any) -> Any:
    """The inverse of load_dataclass, for writing TOML/JSON (Paths become str, None dropped)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            if v is not None:
                out[f.name] = dump_dataclass(v)
        return out
    if isinstance(obj, list | tuple):
        return [dump_dataclass(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): dump_dataclass(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj


__all__ = ["FieldError", "FileFieldError", "dump_dataclass", "load_dataclass", "parse_toml", "read_text_file"]
