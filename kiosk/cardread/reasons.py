"""Why a card picture is not taken, as codes: the codes, the rule that picks the code for an
unread back, and the integrity policy.

Codes are stable (scan's JSON, the record's checks, tests); their texts, in the auxiliary's
words, live only in the kiosk's catalogues as `card.<code>` (kiosk.i18n; this layer is pure
and hands up codes). Frame-quality guidance while the card is being held up ("Acerque la
credencial…") is `kiosk.vision.quality`'s (`quality.<reason>`); this table is what a reading
concludes.

**The integrity policy** (docs/integrity.md), for a support judged a photocopy, a screen or a
print by `integrity.check_integrity`:

1. The first such look gets ONE guided retake (per capture, not per side), with a text that
   says what to do: "Parece una copia: muestre la credencial original".
2. If it is still judged not original: the support is SAVED with the failed check in the
   record (`integrity_front` / `integrity_back`, passed false), and the server classes it
   fotocopia or simulación de credencial — unless the verdict is confident beyond
   `CONFIDENT_CHROMA` / `CONFIDENT_PEAK` (far beyond anything a genuine card measured), then
   the capture is refused with `no_original`. A doubtful check never turns a citizen away.
3. A steady look at a back that was seen but does not read (`UNREAD`: its QR or its MRZ
   illegible) counts towards `MAX_UNREAD_LOOKS`; when they run out the capture ends with a
   clear refusal (`copia_ilegible` when the last look was judged a copy, else `sin_lectura`),
   never an endless "take another photo". A blurred, cut or missing card only asks for a
   better photo and counts for nothing: a citizen is not turned away over the auxiliary's pose.

The counting lives in the kiosk's `kiosk.capture.analysis.CardAnalyser`; this module only
decides, given the count (`integrity_action`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Every reason a card picture gives. The first nine keep the meaning they had in the first
# version of `credential`; docs/cli.md lists them all with their Spanish texts.
CODES = frozenset({
    # refusals of a reading
    "sin_qr", "sin_credencial", "qr_ilegible", "mrz_ilegible",
    # flags of an accepted reading
    "vencida", "qr_no_coincide", "fuera_de_ambito", "seccion_desconocida", "modelo_ife",
    # the wrong side, a bad photo
    "es_frente", "es_reverso", "borrosa", "cortada", "reverso_no_reconocido", "muestre_frente",
    "acomode_credencial",
    # integrity (the policy above)
    "parece_fotocopia", "parece_pantalla", "parece_impresion", "no_original",
    # the end of the tries, and the ends of a capture
    "copia_ilegible", "sin_lectura", "credencial_vencida",
    # the analyser's guidance while it works
    "mantenga_firme", "revisando",
})

# A reading refused with one of these may read on another look: the kiosk asks again.
RETRY = frozenset({"sin_credencial", "qr_ilegible", "mrz_ilegible", "borrosa", "cortada",
                   "reverso_no_reconocido"})
# Of those, the looks at a back that was there and did not read: they count towards the end.
UNREAD = frozenset({"qr_ilegible", "mrz_ilegible"})


def msg_code(code: str) -> str:
    """The catalogue's message code of a reason (`sin_qr` -> `card.sin_qr`)."""
    return "card." + code


@dataclass(frozen=True)
class Notice:
    """A refusal or a flag of a reading: its reason code (one of CODES)."""

    code: str

    @property
    def msg_code(self) -> str:
        """The catalogue's message code: what the kiosk renders (`card.<code>`)."""
        return msg_code(self.code)


# -- which refusal for a back whose QR did not decode ------------------------------------------

def unread_back_code(*, card_seen: bool, mrz_band: bool, qr_seen: bool, side: str, blurred: bool) -> str:
    """The refusal code for a back picture whose QR did not decode.

    `mrz_band`: an MRZ band was located (read or not); `qr_seen`: a QR symbol's finder
    patterns were; `side`: `reading.shown_side`'s answer; `blurred`: the quality verdict
    says borrosa. INE's "sin QR" only for a sharp back with neither MRZ band nor QR that
    looks like an IFE-era back; a QR or an MRZ that is there but does not read is a photo
    to retake, and a front is a card to turn over.
    """
    if not card_seen:
        return "sin_credencial"
    if mrz_band or qr_seen:
        return "borrosa" if blurred else "qr_ilegible"
    if side == "anverso":
        return "es_frente"
    if blurred:
        return "borrosa"
    if side == "reverso":
        return "sin_qr"
    return "reverso_no_reconocido"


# -- the integrity policy ------------------------------------------------------------------------

RETAKES = 1                    # guided retakes per capture for a support judged not original
MAX_UNREAD_LOOKS = 4           # steady looks at a back that does not read before the capture ends
# Beyond doubt: generated genuine cards measure chroma spread >= 4.5 and periodic peak <= 2.2
# (docs/integrity.md); the verdicts' own thresholds are 3.0 and 3.0.
CONFIDENT_CHROMA = 1.0         # a photocopy verdict this grey
CONFIDENT_PEAK = 4.5           # a screen/print verdict with a spectral peak this strong

ACCEPT = "aceptar"             # original: take it
RETAKE = "repetir"             # not original, a retake left: guide and look again
SAVE_FLAGGED = "guardar_marcada"  # not original after the retake, not beyond doubt: save, check failed
REFUSE = "rechazar"            # not original beyond doubt: refuse with `no_original`

_RETAKE_CODES = {"photocopy": "parece_fotocopia", "screen": "parece_pantalla", "print": "parece_impresion"}


def confident_fake(result: Any) -> bool:
    """Whether an `IntegrityResult` that failed is beyond doubt (see the thresholds above)."""
    s = result.scores
    if result.verdict == "photocopy":
        return float(s.get("chroma_spread", 99.0)) <= CONFIDENT_CHROMA
    if result.verdict in ("screen", "print"):
        return float(s.get("periodic_peak", 0.0)) >= CONFIDENT_PEAK
    return False


def integrity_action(result: Any, retakes_left: int) -> str:
    """ACCEPT, RETAKE, SAVE_FLAGGED or REFUSE for an `IntegrityResult` (None: not measured)."""
    if result is None or result.passed:
        return ACCEPT
    if retakes_left > 0:
        return RETAKE
    return REFUSE if confident_fake(result) else SAVE_FLAGGED


def retake_code(result: Any) -> str:
    """The guidance code for a retake: what the support looked like."""
    return _RETAKE_CODES.get(result.verdict, "parece_fotocopia")
