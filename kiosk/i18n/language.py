"""The language the kiosk speaks now: Spanish first, English when the device or the
coordinator chooses it. One process-wide setting, read at every render."""

from __future__ import annotations

_lang = "es"


def set_language(lang: str) -> None:
    global _lang
    _lang = "en" if lang == "en" else "es"


def language() -> str:
    return _lang
