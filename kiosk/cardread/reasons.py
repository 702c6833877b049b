"""Why a card picture is not taken, in the auxiliary's words: one table of codes and texts,
the rule that picks the code for an unread back, and the integrity policy.

Codes are stable (scan's JSON, the record's checks, tests); the Spanish texts come only from
`MESSAGES` (the pattern of hardware/camera/errors.py). Frame-quality guidance while the card
is being held up ("Acerque la credencial…") is `quality.MESSAGES`; this table is what a
reading concludes.

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

MSG_SIN_QR = "Sólo será posible captar las credenciales que cuenten al reverso con código QR"

# Every reason a card picture gives, by code. The first nine keep the meaning they had in
# `credential.MESSAGES`; docs/cli.md lists them all.
MESSAGES: dict[str, str] = {
    # refusals of a reading
    "sin_qr": MSG_SIN_QR,
    "sin_credencial": "No se encontró la credencial en la imagen",
    "qr_ilegible": "No se pudo leer el código QR: tome otra foto del reverso",
    "mrz_ilegible": "No se pudo leer la zona de lectura mecánica: tome otra foto del reverso",
    # flags of an accepted reading
    "vencida": "La credencial ya no está vigente",
    "qr_no_coincide": "El código QR no coincide con los datos de la credencial",
    "fuera_de_ambito": "La sección de la credencial está fuera del ámbito geográfico del aspirante",
    "seccion_desconocida": "La sección de la credencial no está en la tabla del dispositivo",
    "modelo_ife": "Credencial del IFE (modelo C o D)",
    # the wrong side, a bad photo
    "es_frente": "Voltee la credencial: muestre el reverso",
    "es_reverso": "Voltee la credencial: muestre el frente",
    "borrosa": "La foto salió borrosa: mantenga la credencial quieta y a un palmo de la cámara",
    "cortada": "La credencial está cortada en la foto: debe verse completa",
    "reverso_no_reconocido": "No se ve el código QR: muestre el reverso completo, de frente a la cámara",
    "muestre_frente": "Muestre el FRENTE de la credencial (el lado con la fotografía)",
    # integrity (the policy above)
    "parece_fotocopia": "Parece una copia: muestre la credencial original",
    "parece_pantalla": "Parece una credencial en una pantalla: muestre la credencial original",
    "parece_impresion": "Parece una impresión de la credencial: muestre la credencial original",
    "no_original": "Lo que se presentó no es la credencial original: sin ella no se puede captar el apoyo",
    # the end of the tries, and the ends of a capture
    "copia_ilegible": "No se pudo leer lo que se presentó y parece una copia: "
                      "sólo se capta con la credencial original",
    "sin_lectura": "No se pudo leer el reverso después de varios intentos: limpie la credencial, "
                   "busque buena luz y vuelva a empezar",
    "credencial_vencida": "La credencial ya no está vigente; no se puede captar el apoyo.",
    # the analyser's guidance while it works
    "mantenga_firme": "Mantenga firme la credencial…",
    "revisando": "Revisando el reverso…",
}

# A reading refused with one of these may read on another look: the kiosk asks again.
RETRY = frozenset({"sin_credencial", "qr_ilegible", "mrz_ilegible", "borrosa", "cortada",
                   "reverso_no_reconocido"})
# Of those, the looks at a back that was there and did not read: they count towards the end.
UNREAD = frozenset({"qr_ilegible", "mrz_ilegible"})


@dataclass(frozen=True)
class Notice:
    code: str

    @property
    def message(self) -> str:
        return MESSAGES[self.code]


def text(code: str) -> str:
    return MESSAGES[code]


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
