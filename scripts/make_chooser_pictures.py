"""Redraw the card-model chooser's pictures (kiosk/app/pictures/card_<model>.png).

The kiosk ships these files instead of running the synthetic card generator at run time.
Run after changing the generator's fronts: `.venv/bin/python scripts/make_chooser_pictures.py`.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import cv2

from kiosk.app.card_pictures import MODELS, PICTURE_SIZE, PICTURES
from kiosk.testdata.cards import render_front
from kiosk.testdata.roll import generate_roll


def main() -> None:
    base = next(generate_roll(1, 7))
    PICTURES.mkdir(parents=True, exist_ok=True)
    for m in MODELS:
        img, _ = render_front(replace(base, modelo=m), random.Random(f"chooser:{m}"))
        small = cv2.resize(img, PICTURE_SIZE, interpolation=cv2.INTER_AREA)
        path: Path = PICTURES / f"card_{m}.png"
        cv2.imwrite(str(path), cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
        print(path, path.stat().st_size)


if __name__ == "__main__":
    main()
