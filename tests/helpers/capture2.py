"""Test data for "Capture II": straightened card crops and synthetic selfie sequences.

Card crops: generated variants straightened with their *truth* corners (so these
tests do not depend on the card finder).

Selfie sequences: built from scikit-image's `astronaut` photo. They exercise the
liveness *decision logic*; they are not evidence that real spoofs fail or real
people pass (see docs/liveness.md).

* live turn and blink: the photo as a textured 3-D head (kiosk.testdata.face_render:
  its own face mesh turned by a true yaw; eyelids lowered over the eyes);
* photo attacks: the same still photo held static, moved / rotated / scaled
  around the frame, tilted (about a vertical axis) or pitched (tipped in pulses).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.testdata.cards import sample_card

# The selfie sequences live in the package (fieldkit-testdata selfies uses them too).
from kiosk.testdata.selfies import Sequence, astronaut, make_sequence
from kiosk.testdata.variants import make_variants

CARD_W, CARD_H = 1024, 646


def jpeg(rgb: np.ndarray, quality: int = 92) -> np.ndarray:
    """Round-trip through JPEG, as the generator's files and real cameras deliver frames."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def straighten(frame: np.ndarray, corners) -> np.ndarray:
    """The card face from a frame, by its truth corners (TL, TR, BR, BL), at 1024 x 646."""
    dst = np.float32([[0, 0], [CARD_W, 0], [CARD_W, CARD_H], [0, CARD_H]])
    m = cv2.getPerspectiveTransform(np.float32(corners), dst)
    return cv2.warpPerspective(frame, m, (CARD_W, CARD_H), flags=cv2.INTER_LINEAR)


@dataclass
class CardSample:
    seed: int
    label: str
    side: str
    effects: list[str]
    crop: np.ndarray          # straightened 1024 x 646 RGB
    face_box: list[int]       # truth portrait box on the front (card pixels)
    corners: list[list[float]]  # truth card corners in the frame
    frame: np.ndarray | None = None


def card_samples(seeds, labels=("genuine", "photocopy", "screen", "print"), n_genuine: int = 2,
                 keep_frames: bool = False, sides=("front", "back")) -> list[CardSample]:
    out = []
    for seed in seeds:
        front, back, truth = sample_card(seed)
        for v in make_variants(front, back, seed, n_genuine=n_genuine):
            if v.label not in labels or v.side not in sides:
                continue
            frame = jpeg(v.image)
            out.append(CardSample(seed, v.label, v.side, v.effects, straighten(frame, v.corners),
                                  truth["front"]["face_box"], v.corners, frame if keep_frames else None))
    return out


def card_shots(seeds, shots_per_side: int = 3, negatives: bool = True, sides=("front", "back"),
               keep_frames: bool = False) -> list[CardSample]:
    """Cheaper than make_variants for many samples: per card, `shots_per_side` genuine
    photographs of each side (the first clean, the rest with 1-2 effects) and, with
    `negatives`, one photocopy, screen and print of each side. Same generator functions."""
    from kiosk.testdata.variants import (
        EFFECTS,
        _on_paper,
        halftone,
        on_screen,
        photocopy,
        photograph,
        photograph_sheet,
    )

    out = []
    for seed in seeds:
        front, back, truth = sample_card(seed)
        rng = random.Random(f"shots:{seed}")
        nprng = np.random.default_rng(seed)
        for side, img in (("front", front), ("back", back)):
            if side not in sides:
                continue
            vs = []
            for i in range(shots_per_side):
                eff = [] if i == 0 else rng.sample(EFFECTS, rng.randint(1, 2))
                if "blur" in eff and "motion_blur" in eff:
                    eff.remove("motion_blur")
                vs.append(photograph(img, side, "genuine", f"g{i}", rng, nprng, eff))
            if negatives:
                sheet, box = _on_paper(photocopy(img, rng, nprng), rng)
                vs.append(photograph_sheet(sheet, box, side, "photocopy", "pc", rng, nprng))
                phone, box = on_screen(img, rng, nprng)
                vs.append(photograph_sheet(phone, box, side, "screen", "sc", rng, nprng))
                sheet, box = _on_paper(halftone(img, rng), rng)
                vs.append(photograph_sheet(sheet, box, side, "print", "pr", rng, nprng))
            for v in vs:
                frame = jpeg(v.image)
                out.append(CardSample(seed, v.label, v.side, v.effects, straighten(frame, v.corners),
                                      truth["front"]["face_box"], v.corners,
                                      frame if keep_frames else None))
    return out


__all__ = ["CardSample", "Sequence", "astronaut", "card_samples", "card_shots",
           "jpeg", "make_sequence", "straighten"]
