"""The card-model chooser's pictures: synthetic fronts (MUESTRA) shipped as PNG files.

Drawn once by ``scripts/make_chooser_pictures.py`` with the test-data generator, so the
kiosk never runs the generator at run time.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

MODELS = ("E", "F", "G", "H", "D", "C")
PICTURES = Path(__file__).parent / "pictures"
PICTURE_SIZE = (400, 252)  # ID-1 proportions; the chooser shows them at 200x126 scaled px


def card_pictures() -> dict[str, np.ndarray]:
    """RGB picture of each model's front, by model letter (a missing file is left out)."""
    out = {}
    for m in MODELS:
        bgr = cv2.imread(str(PICTURES / f"card_{m}.png"), cv2.IMREAD_COLOR)
        if bgr is not None:
            out[m] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return out
