"""The compiled catalogues, shipped as package data, and the look-up of a code in one.

`locale/<lang>/LC_MESSAGES/fieldkit.mo` is compiled from the `.po` beside it by
`scripts/i18n.sh`; a test fails when a `.po` was edited without compiling it again. Only
the stdlib's gettext is needed at run time (Babel is a development tool).
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path

DOMAIN = "fieldkit"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("es", "en")
# The register of a text addressed to a person: the auxiliary's (the default) or the citizen's.
REGISTERS = ("auxiliar", "ciudadano")


def is_code(msgid: str) -> bool:
    """A message code (`pin.wrong`) rather than a screen's Spanish sentence used as its own id."""
    return bool(msgid) and msgid.isascii() and "." in msgid and not any(c.isspace() for c in msgid)


def mo_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"


@cache
def catalogue(lang: str) -> gettext.GNUTranslations:
    """The compiled catalogue of `lang`; a missing one is a packaging bug, so it raises."""
    with mo_path(lang).open("rb") as f:
        return gettext.GNUTranslations(f)


def lookup(code: str, lang: str, register: str = "auxiliar", n: int | None = None) -> str | None:
    """The text for `code` in `register` (else the register-free entry) in `lang`, or None."""
    cat = catalogue(lang)
    for ctx in (register, None):
        if n is None:
            text = cat.gettext(code) if ctx is None else cat.pgettext(ctx, code)
        else:
            text = cat.ngettext(code, code, n) if ctx is None else cat.npgettext(ctx, code, code, n)
        if text != code:
            return text
    return None
