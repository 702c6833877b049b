"""A user-facing message as data: a stable code, its arguments and, for a plural, the count.

Every layer that speaks to the auxiliary or the citizen (the capture flow, save, the freeze
policy, enrollment) returns a `Msg` instead of a sentence; the kiosk renders it in the chosen
language from its catalogues (`kiosk.i18n.render`). Codes are the catalogues' message ids
(`pin.wrong`, `capture.cancelled`), so a text can be edited or translated without touching code.
Pure vision modules, which may import nothing of ours, return plain code strings instead.

    Msg("pin.wrong", {"n": 3}, n=3)   # "PIN incorrecto. Le quedan 3 intentos."
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class Msg:
    """`args` fill the text's ``{name}`` fields; `n` picks the plural form (None: no plural)."""

    code: str
    args: Mapping[str, Any] = field(default_factory=dict)
    n: int | None = None

    def __post_init__(self) -> None:
        # A read-only copy: a message handed on must not change under its reader.
        object.__setattr__(self, "args", MappingProxyType(dict(self.args)))

    def __hash__(self) -> int:
        return hash((self.code, tuple(sorted((k, repr(v)) for k, v in self.args.items())), self.n))


def msg(code: str, n: int | None = None, /, **args: Any) -> Msg:
    """Shorthand: ``msg("pin.wrong", 3, n=3)`` is ``Msg("pin.wrong", {"n": 3}, n=3)``."""
    return Msg(code, args, n)
