"""The capture, with no Qt: the flow state machine, frame analysis and "Guardar"."""
