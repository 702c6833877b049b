"""Long Spanish texts of the screens, marked for the catalogues' extraction (N_).

The screens show them through ``tr()``; their English is the en catalogue's entry for the
same Spanish (scripts/i18n.sh extracts them from here).
"""

from kiosk.i18n import N_

# Capture screens: title, step, help line.
TITLES = {
    "front": (
        N_("Frente de la credencial"),
        N_("Paso 1 de 6"),
        N_("Sostenga el FRENTE de la credencial (el lado con la fotografía) dentro del recuadro. "
        "La foto se toma sola cuando se ve bien."),
    ),
    "back": (
        N_("Reverso de la credencial"),
        N_("Paso 2 de 6"),
        N_("Voltee la credencial: sostenga el REVERSO (el lado con el código QR) dentro del recuadro. "
        "La foto se toma sola cuando se ve bien."),
    ),
    "selfie": (
        N_("Foto del rostro"),
        N_("Paso 3 de 6"),
        N_("Pida a la persona que mire a la cámara con el rostro dentro del óvalo."),
    ),
}

# First run, before enrollment.
FIRST_RUN_TEXT = (
    N_("Dispositivo no inscrito. Con internet: escriba el código del coordinador (vale 24 h) y el servidor, "
    "o toque «Escanear QR» y muestre su QR a la cámara.")
)

# Review: the simplified privacy notice.
AVISO = (
    N_("<b>Aviso de privacidad simplificado.</b> {aspirant}, para el proceso «{process}», y el "
    "Instituto Nacional Electoral (INE) tratan los datos personales que se recaban aquí: los datos "
    "de su credencial para votar (nombre, CIC, OCR, sección, vigencia), las imágenes del frente y "
    "reverso de la credencial, una fotografía viva de su rostro y su firma. Se usan únicamente para "
    "verificar su apoyo ciudadano contra la lista nominal; viajan y se guardan cifrados, y se borran "
    "de este dispositivo en cuanto el servidor confirma que los recibió. La fotografía de su rostro y "
    "su firma son <b>datos biométricos (sensibles)</b>: sólo se recaban con su consentimiento expreso. "
    "Puede ejercer sus derechos de acceso, rectificación, cancelación y oposición (ARCO) ante la "
    "Unidad de Transparencia del INE; el aviso de privacidad integral está en el portal del INE.")
)

# Self-service capture screens (the citizen's own words, "usted"): title, step, help line.
CITIZEN_TITLES = {
    "act_back": (
        N_("Reverso de su credencial"),
        "",
        N_("Sostenga el REVERSO de su credencial (el lado con el código QR) dentro del recuadro. "
        "La foto se toma sola cuando se ve bien."),
    ),
    "front": (
        N_("Frente de su credencial"),
        N_("Paso 1 de 5"),
        N_("Sostenga el FRENTE de su credencial (el lado con su fotografía) dentro del recuadro. "
        "La foto se toma sola cuando se ve bien."),
    ),
    "back": (
        N_("Reverso de su credencial"),
        N_("Paso 2 de 5"),
        N_("Voltee su credencial: sostenga el REVERSO (el lado con el código QR) dentro del recuadro. "
        "Debe ser la misma credencial con la que pidió el código."),
    ),
    "selfie": (
        N_("Foto de su rostro"),
        N_("Paso 3 de 5"),
        N_("Mire a la cámara con el rostro dentro del óvalo y haga lo que se le pide."),
    ),
}

# Self-service start screen.
CITIZEN_START_TEXT = N_(
    "Con su credencial para votar y su correo electrónico puede dar su apoyo usted mismo, en este "
    "dispositivo. Primero pida un código de activación: le llegará por correo.")
