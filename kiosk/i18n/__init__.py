"""The kiosk's texts: gettext catalogues in Spanish and English, and the language chosen.

    set_language("en")
    tr("Nuevo apoyo")                              # a screen label: its Spanish is its msgid
    render(Msg("pin.wrong", {}, n=2))              # a message: its code is its msgid
    render(Msg("liveness.blink"), "ciudadano")     # the citizen's register ("usted")

A code's texts live only in the catalogues (`locale/{es,en}/LC_MESSAGES/fieldkit.po`, compiled
to `.mo` by `scripts/i18n.sh`), Spanish included: the flow, save, the freeze policy and vision
hand up codes, never sentences, so no sentence is ever matched to find its translation.
Plurals follow the catalogue's Plural-Forms (`Msg.n`); a text addressed to a person may have a
context per register, "auxiliar" (the default) or "ciudadano". docs/kiosk.md, "Texts and
translations", says how to add one.
"""

from kiosk.i18n.catalogue import LANGUAGES, REGISTERS, catalogue, is_code, lookup
from kiosk.i18n.language import language, set_language
from kiosk.i18n.render import N_, render, text, tr
from sync.common.msg import Msg

__all__ = ["LANGUAGES", "N_", "REGISTERS", "Msg", "catalogue", "is_code", "language", "lookup", "render",
           "set_language", "text", "tr"]
