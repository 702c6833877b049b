"""Camera errors and the Spanish texts the UI shows for them."""

from __future__ import annotations

from hardware.errors import HardwareError

# Spanish texts the UI shows, by error code.
MESSAGES: dict[str, str] = {
    "no_camera": "No se encontró la cámara. Revise que esté bien conectada; se reintentará sola.",
    "busy": "La cámara está ocupada por otro programa o no responde. Se reintentará en unos segundos.",
    "disconnected": "Se perdió la conexión con la cámara. Vuelva a conectarla; se reintentará sola.",
    "stalled": "La cámara dejó de enviar imagen. Reintentando…",
    "unavailable": "Este equipo no tiene el soporte para la cámara solicitada.",
    "config": "La cámara no aceptó la configuración solicitada.",
    "source": "No se encontraron imágenes o video para reproducir.",
    "timeout": "La cámara tardó demasiado en responder. Intente de nuevo.",
    "stopped": "La cámara está apagada.",
    "bad_spec": "La configuración de la cámara no es válida.",
    "format": "La cámara entregó una imagen en un formato inesperado.",
}


class CameraError(HardwareError):
    """A camera problem with a Spanish ``message`` for the UI.

    ``code`` is one of :data:`MESSAGES`' keys: no_camera, busy, disconnected,
    stalled, unavailable, config, source, timeout, stopped, bad_spec, format.
    """

    def __init__(self, code: str, message: str | None = None, detail: str | None = None) -> None:
        super().__init__(code, message or MESSAGES.get(code, "Error de cámara."), detail)
