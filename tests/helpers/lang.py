"""The kiosk's language for a moment in a test, always set back to Spanish."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from kiosk import i18n


@contextmanager
def in_language(lang: str) -> Iterator[None]:
    i18n.set_language(lang)
    try:
        yield
    finally:
        i18n.set_language("es")
