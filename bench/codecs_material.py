"""The material bench_codecs.py measures codecs on: MUESTRA and camera-model backs as the kiosk
reads them, generated fronts, portraits and selfies, and (where bench/realsets is built) the
tuning part of the real card photos and face stills. Each face comes with its face mesh, the
reference the stored image's mesh is compared with."""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kiosk.vision.landmarks import LEFT_EYE, RIGHT_EYE, shared
from sync.wire.record import ImageKind

K = ImageKind
TEXT = (0.28, 0.18, 0.79, 0.95)    # the front's text area, right of the portrait, left of the ghost
MILD = ("white_table", "wood", "grey_table", "soft_shadow", "low_light")


# --- material -------------------------------------------------------------------------------

@dataclass
class Back:
    group: str
    card: np.ndarray
    codes: frozenset[bytes]
    mrz: tuple[str, ...]


@dataclass
class Face:
    group: str
    img: np.ndarray                      # what the kiosk hands to the encoder
    view: tuple[int, int, int, int]      # x0, y0, x1, y1: where the face mesh runs (img px)
    pts: np.ndarray | None = None        # the original's mesh, img px
    iod: float = 0.0
    text: tuple[float, float, float, float] | None = None   # the front's text area


def backs(seeds: int, camera: int) -> list[Back]:
    from kiosk.cardread.credential import read_back
    from kiosk.testdata.harsh import harsh_frame
    from tests.helpers.kiosk import back_reading

    out = []
    reads = [("muestra", back_reading(s, m)) for m in "EFGH" for s in range(1, seeds + 1)]
    for seed in range(4 * camera):
        if sum(g == "camara" for g, r in reads if r.accepted) >= camera:
            break
        frame = harsh_frame(seed, "back", scenario=MILD[seed % len(MILD)]).image
        reads.append(("camara", read_back(frame, now_year=2026)))
    for group, r in reads:
        if r.accepted and r.card is not None and r.mrz is not None:
            out.append(Back(group, r.card, frozenset(c.data for c in r.qr.codes), r.mrz.lines))
    return out


def real_cards(n: int) -> list[np.ndarray]:
    from bench.realsets import load_cards

    try:
        cards = [c for c in load_cards() if not c.held_out and not c.cut and c.kind in ("id", "licence")]
    except FileNotFoundError as e:
        print(f"  (no real cards: {e})")
        return []
    box = np.array([[0, 0], [1024, 0], [1024, 646], [0, 646]], np.float32)
    return [cv2.warpPerspective(c.rgb(), cv2.getPerspectiveTransform(c.corners, box), (1024, 646),
                                flags=cv2.INTER_AREA) for c in cards[:n]]


def real_stills(n: int) -> list[np.ndarray]:
    from bench.realsets.faces import load_stills

    try:
        return [s.rgb() for s in load_stills() if s.label == "good" and not s.held_out][:n]
    except FileNotFoundError as e:
        print(f"  (no real faces: {e})")
        return []


def mesh(rgb: np.ndarray, view: tuple[int, int, int, int]) -> np.ndarray | None:
    x0, y0, x1, y1 = view
    m, _ = shared().faces(np.ascontiguousarray(rgb[y0:y1, x0:x1]), eyes=False)
    return None if m is None else m.points[:, :2] + [x0, y0]


def whole(img: np.ndarray) -> tuple[int, int, int, int]:
    return 0, 0, img.shape[1], img.shape[0]


def portrait_of(rgb: np.ndarray) -> np.ndarray | None:
    """A card-portrait-like 3:4 crop around a real still's face (246 x 323, as read_front's)."""
    pts = mesh(rgb, whole(rgb))
    if pts is None:
        return None
    (cx, cy), w = pts.mean(0), 1.6 * float(np.ptp(pts[:, 0]))
    crop = rgb[max(0, int(cy - 0.75 * w)):int(cy + 0.85 * w), max(0, int(cx - w / 2)):int(cx + w / 2)]
    return cv2.resize(crop, (246, 323), interpolation=cv2.INTER_AREA) if min(crop.shape[:2]) > 80 else None


def faces(kind: ImageKind, seeds: int, stills: list[np.ndarray]) -> list[Face]:
    from kiosk.capture.save import read_front
    from kiosk.testdata.selfies import make_selfie
    from tests.helpers.kiosk import card

    out: list[Face] = []
    for i, model in enumerate("EFGH" * seeds):
        front, _, truth = card(i // 4 + 1, model)
        if kind == K.CARD_FRONT:
            x, y, w, h = truth["front"]["face_box"]
            view = (max(0, x - w // 3), max(0, y - h // 4), x + w + w // 3, y + h + h // 4)
            out.append(Face("muestra", front, view, text=TEXT))
        elif kind == K.FACE_CROP:
            photo = read_front(front, model).photo
            assert photo is not None
            crop = np.ascontiguousarray(photo.crop)
            out.append(Face("muestra", crop, whole(crop)))
        else:
            s = make_selfie(i)
            out.append(Face("muestra", s, whole(s)))
    if kind == K.SELFIE:
        out += [Face("real", s, whole(s)) for s in stills]
    elif kind == K.FACE_CROP:
        out += [Face("real", p, whole(p)) for s in stills if (p := portrait_of(s)) is not None]
    done = []
    for f in out:
        if (pts := mesh(f.img, f.view)) is not None:
            iod = float(np.linalg.norm(pts[list(RIGHT_EYE)].mean(0) - pts[list(LEFT_EYE)].mean(0)))
            done.append(replace(f, pts=pts, iod=iod))
    return done




if __name__ == "__main__":
    # What material there is here: the counts bench_codecs.py would measure on.
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    print(f"backs: {len(backs(n, 2 * n))}, real card photos: {len(real_cards(28))}, "
          f"real stills: {len(real_stills(28))}, selfies: {len(faces(K.SELFIE, n, []))}")
