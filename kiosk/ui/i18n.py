# ruff: noqa: E501  (translation table: one string per line reads best)
"""Spanish first; English when selected. `tr("texto en español")` returns the English
text when the language is "en" and a translation exists, else the Spanish."""

from __future__ import annotations

import re

_lang = "es"


def set_language(lang: str) -> None:
    global _lang
    _lang = "en" if lang == "en" else "es"


def language() -> str:
    return _lang


def tr(es: str) -> str:
    if _lang == "es":
        return es
    if not _screens:
        from kiosk.ui.i18n_en import SCREENS

        _screens.update(SCREENS)
    if es in EN or es in _screens:
        return EN.get(es) or _screens[es]
    for pattern, template in _PATTERNS:
        m = pattern.match(es)
        if m:
            return template.format(*m.groups())
    return es


_screens: dict[str, str] = {}
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^PIN incorrecto\. Le quedan (\d+) intento\(s\)\.$"), "Wrong PIN. {0} attempt(s) left."),
    (re.compile(r"^Demasiados intentos\. Espere (\d+) s\.$"), "Too many attempts. Wait {0} s."),
    (re.compile(r"^Apoyo guardado con folio (.+)$"), "Support saved with folio {0}"),
    (re.compile(r"^No se pudo guardar: (.+)$"), "Could not save: {0}"),
    (re.compile(r"^Falta: (.+)$"), "Missing: {0}"),
    # sync.agent.freeze: what home warns about and why "Nuevo apoyo" is refused
    (re.compile(r"^No se pueden capturar apoyos: dispositivo revocado\. Entregue el equipo a su coordinador\.$"),
     "No supports can be captured: device revoked. Hand the device to your coordinator."),
    (re.compile(r"^Captura detenida: hay apoyos sin enviar desde hace ([\d.]+) días \(máximo ([\d.]+)\)\. "
                r"Conéctese a internet para sincronizar\.$"),
     "Capture stopped: supports unsent for {0} days (maximum {1}). Connect to the internet to sync."),
    (re.compile(r"^Captura detenida: hay (\d+) apoyos sin enviar \(máximo (\d+)\)\. "
                r"Conéctese a internet para sincronizar\.$"),
     "Capture stopped: {0} supports unsent (maximum {1}). Connect to the internet to sync."),
    (re.compile(r"^El periodo de captación de «(.+)» empieza el (.+)\.$"), "Collection for “{0}” starts on {1}."),
    (re.compile(r"^El periodo de captación de «(.+)» terminó el (.+)\.$"), "Collection for “{0}” ended on {1}."),
]

EN: dict[str, str] = {
    # flow notices
    "Sesión cerrada por inactividad.": "Signed out after inactivity.",
    "Dispositivo inscrito. Ya puede iniciar sesión.": "Device enrolled. You can sign in now.",
    "Coloque el frente de la credencial dentro del marco.": "Place the FRONT of the card inside the frame.",
    "Captura cancelada; no se guardó nada.": "Capture cancelled; nothing was stored.",
    "Toque la imagen de la credencial que se parezca a la suya.": "Tap the card that looks like yours.",
    "Esta credencial ya no es vigente; sólo se captan credenciales con código QR.": "This card is no longer valid; only cards with a QR code are accepted.",
    "¿Es la persona presente la de la fotografía?": "Is the person here the one in the photo?",
    "La credencial debe ser de la persona que da su apoyo.": "The card must belong to the person giving support.",
    "Ahora coloque el reverso de la credencial.": "Now place the BACK of the card.",
    "Ahora una foto del rostro de la persona.": "Now a photo of the person's face.",
    "Pida a la persona que firme en el recuadro.": "Ask the person to sign in the box.",
    "Correo electrónico para el acuse (opcional).": "E-mail for the receipt (optional).",
    "El correo no parece válido; corríjalo o déjelo vacío.": "The e-mail looks wrong; fix it or leave it empty.",
    "Revise los datos y pida el consentimiento.": "Check the data and ask for consent.",
    "Sin el consentimiento de la persona no se puede guardar.": "Without the person's consent it cannot be saved.",
    "Guardando…": "Saving…",
    # vision guidance
    "Coloque la credencial dentro del recuadro": "Place the card inside the box",
    "Acerque la credencial a la cámara": "Bring the card closer",
    "La credencial se sale de la imagen: aléjela o céntrela": "The card is cut off: move it back or centre it",
    "Imagen borrosa: sostenga la credencial firme": "Blurry: hold the card steady",
    "Hay un reflejo sobre la credencial: inclínela un poco": "Glare on the card: tilt it a little",
    "Hay poca luz: busque un lugar más iluminado": "Too dark: find more light",
    "No mueva la credencial": "Hold the card still",
    "Sólo será posible captar las credenciales que cuenten al reverso con código QR": "Only cards with a QR code on the back can be captured",
    "No se pudo leer el código QR: tome otra foto del reverso": "The QR code could not be read: try again",
    "No se pudo leer la zona de lectura mecánica: tome otra foto del reverso": "The machine-readable zone could not be read: try again",
    "No se detecta un rostro: mire de frente a la cámara": "No face found: look straight at the camera",
    "Acérquese a la cámara: el rostro se ve muy pequeño": "Come closer: the face is too small",
    "Centre el rostro en el recuadro": "Centre the face in the box",
    "La imagen está borrosa: quédese quieto un momento": "Blurry: keep still a moment",
    "Hay demasiada luz o reflejo sobre el rostro": "Too much light or glare on the face",
    "Gire lentamente la cabeza hacia su izquierda": "Slowly turn your head to your left",
    "Gire lentamente la cabeza hacia su derecha": "Slowly turn your head to your right",
    "Parpadee despacio": "Blink slowly",
}
