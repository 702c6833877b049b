#!/bin/sh
# The kiosk's catalogues: extract the screens' sentences, update both .po, compile the .mo.
#
#   scripts/i18n.sh            # after editing a tr("…") text or a .po (docs/kiosk.md)
#
# Sentences come from the calls named in kiosk.i18n.catalogue.KEYWORDS (tr("…"), N_("…"),
# Header("…")) in the folders of babel.cfg; message codes come from the Spanish catalogue
# itself (a code is added there by hand, with its English in the en catalogue), so an update
# never drops a code that no call names.
set -eu
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
LOC=kiosk/i18n/locale
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# The keywords' one home is kiosk.i18n.catalogue (the catalogue test reads them there too).
KEYWORDS=$("$PY" -c 'from kiosk.i18n.catalogue import KEYWORDS; print(" ".join("-k " + k for k in KEYWORDS))')
# shellcheck disable=SC2086  # one word per option
"$PY" -m babel.messages.frontend extract -F babel.cfg --no-default-keywords $KEYWORDS \
    --sort-output --no-location --project apoyo-fieldkit --version 0.1.0 \
    -o "$TMP/screens.pot" .

# The template: the sentences found, plus every code of the Spanish catalogue.
"$PY" - "$TMP/screens.pot" "$LOC/es/LC_MESSAGES/fieldkit.po" "$TMP/fieldkit.pot" <<'PYEOF'
import sys

from babel.messages.pofile import read_po, write_po

from kiosk.i18n.catalogue import is_code

screens, es, out = sys.argv[1:]
with open(screens, "rb") as f:
    pot = read_po(f)
with open(es, "rb") as f:
    for m in read_po(f):
        if m.id and is_code(m.id if isinstance(m.id, str) else m.id[0]):
            pot.add(m.id, context=m.context)
with open(out, "wb") as f:
    write_po(f, pot, sort_output=True)
PYEOF

"$PY" -m babel.messages.frontend update -i "$TMP/fieldkit.pot" -d "$LOC" -D fieldkit \
    --no-fuzzy-matching --ignore-obsolete -w 100
"$PY" -m babel.messages.frontend compile -d "$LOC" -D fieldkit --statistics
