"""A message or a screen's sentence in the language chosen: `render`, `text`, `tr`.

A text is a translator's: a stray ``{`` or a bad format spec in it must not raise where a
screen shows it. Formatting is guarded here, logged and the text shown unformatted, and
tests/kiosk/test_i18n_catalogues.py keeps every catalogue text parseable in the first place.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kiosk.i18n.catalogue import catalogue, lookup
from kiosk.i18n.language import language
from sync.common.msg import Msg

_log = logging.getLogger(__name__)
# What str.format raises on a malformed text: a lone brace, a bad spec, an index or attribute
# the arguments do not have.
_FORMAT_ERRORS = (ValueError, IndexError, KeyError, AttributeError, TypeError)


def tr(es: str, /, *args: Any, **kwargs: Any) -> str:
    """A screen's static Spanish sentence (its own msgid) in the chosen language; itself when
    Spanish or untranslated (tests/kiosk/test_i18n_catalogues.py keeps English complete).
    With arguments, its ``{}`` / ``{name}`` fields are filled (a malformed text is shown as it
    is, and logged)."""
    lang = language()
    text = es if lang == "es" else catalogue(lang).gettext(es)
    if not args and not kwargs:
        return text
    try:
        return text.format(*args, **kwargs)
    except _FORMAT_ERRORS as e:
        _log.error("malformed text %r (%s): shown unformatted", text, e)
        return text


class _Args(dict[str, Any]):
    """format_map's arguments: a field nobody filled stays visible rather than raise on screen."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _arg(value: Any, register: str, lang: str) -> Any:
    # A message inside a message (a reason, a part's name) is rendered in the same language;
    # a tuple of them is a list read out with commas.
    if isinstance(value, Msg):
        return render(value, register, lang)
    if isinstance(value, tuple) and value and all(isinstance(v, Msg) for v in value):
        return ", ".join(render(v, register, lang) for v in value)
    return value


def render(msg: Msg, register: str = "auxiliar", lang: str | None = None) -> str:
    """`msg` in `lang` (default: the chosen language); an unknown code falls back to Spanish,
    then to the code itself (logged: a catalogue that lacks a code is a bug). A text that does
    not format (a translator's stray brace) is shown unformatted, and logged."""
    lang = lang or language()
    text = lookup(msg.code, lang, register, msg.n)
    if text is None and lang != "es":
        text = lookup(msg.code, "es", register, msg.n)
    if text is None:
        _log.error("no text for message code %s", msg.code)
        return msg.code
    args: Mapping[str, Any] = msg.args
    if msg.n is not None and "n" not in args:
        args = {**args, "n": msg.n}
    try:
        return text.format_map(_Args({k: _arg(v, register, lang) for k, v in args.items()}))
    except _FORMAT_ERRORS as e:
        _log.error("text of %s in %s does not format (%s): shown unformatted", msg.code, lang, e)
        return text


def text(code: str, /, register: str = "auxiliar", n: int | None = None, **args: Any) -> str:
    """Shorthand for ``render(Msg(code, args, n), register)``."""
    return render(Msg(code, args, n), register)


def N_(es: str) -> str:
    """Marks a Spanish sentence kept in a table for extraction; `tr` translates it where shown."""
    return es
