"""The compiled catalogues, shipped as package data, and the look-up of a code in one.

`locale/<lang>/LC_MESSAGES/fieldkit.mo` is compiled from the `.po` beside it by
`scripts/i18n.sh`; a test fails when a `.po` was edited without compiling it again. Only
the stdlib's gettext is needed at run time (Babel is a development tool).
"""

from __future__ import annotations

import gettext
import logging
from functools import cache
from pathlib import Path

DOMAIN = "fieldkit"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("es", "en")
# The register of a text addressed to a person: the auxiliary's (the default) or the citizen's.
REGISTERS = ("auxiliar", "ciudadano")
# The calls whose first argument is a screen's Spanish sentence: Babel extracts them
# (scripts/i18n.sh, with the folders of babel.cfg) and the catalogue test checks each has its
# English. `tr` and `N_` are kiosk.i18n's; `Header` (kiosk.ui.widgets) translates its title
# when built, so a title written at its call is a sentence too.
KEYWORDS = ("tr", "N_", "Header")

_log = logging.getLogger(__name__)


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
    """The text for `code` in `register` (else the register-free entry) in `lang`, or None.

    A count given for a singular entry uses that entry; no count for a plural entry uses its
    "many" form (the form of n=2, which is how a number other than one reads). Either is a
    slip the catalogue test catches (plural use in code against plural entries); on screen
    it still reads as a sentence, never as the bare code."""
    cat = catalogue(lang)
    for ctx in (register, None):
        # Asked as a plural first: gettext() on a plural entry would hand its "one" form.
        many = _entry(cat, ctx, code, 2)
        if many is not None:
            text: str | None = many if n is None else _entry(cat, ctx, code, n)
        else:
            text = _entry(cat, ctx, code, None)
        if text is not None:
            if (n is None) != (many is None):
                _log.warning("message code %s used %s a count", code, "without" if n is None else "with")
            return text
    return None


def _entry(cat: gettext.GNUTranslations, ctx: str | None, code: str, n: int | None) -> str | None:
    if n is None:
        text = cat.gettext(code) if ctx is None else cat.pgettext(ctx, code)
    else:
        text = cat.ngettext(code, code, n) if ctx is None else cat.npgettext(ctx, code, code, n)
    return None if text == code else text
