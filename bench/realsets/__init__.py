"""Real photographs of ID-1 cards with hand-checked corners, for benching the card finder.

    from bench.realsets import load_cards
    cards = load_cards()                 # every image whose file is present
    tune = [c for c in cards if not c.held_out]

The images live outside the repo (manifest "root", default /work/.mirror/realcards) and are
rebuilt by build_cards.py. Corners are in the frame of the image after its EXIF orientation,
which is what RealImage.rgb() returns. Nobody tunes on held_out images (README.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MANIFEST = Path(__file__).resolve().parent / "cards.json"


@dataclass(frozen=True)
class RealImage:
    path: Path
    corners: np.ndarray  # float32 (4, 2): TL, TR, BR, BL of the card as printed
    held_out: bool
    cut: bool
    multi: bool
    source: str
    scene: str
    kind: str
    sha256: str
    width: int
    height: int

    def rgb(self) -> np.ndarray:
        """H x W x 3 uint8 RGB, EXIF orientation applied (the frame the corners refer to)."""
        return read_rgb(self.path, self.width, self.height)


def read_rgb(path: Path, width: int, height: int) -> np.ndarray:
    """An image file as H x W x 3 uint8 RGB, EXIF orientation applied, checked against the
    manifest's size."""
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        out = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    if out.shape[:2] != (height, width):
        raise ValueError(f"{path}: {out.shape[1]}x{out.shape[0]}, manifest says {width}x{height}")
    return out


class CardSet(list[RealImage]):
    """The loaded images; `missing` counts manifest entries whose file was not there."""

    missing: int = 0


def load_cards(manifest: Path | str | None = None, root: Path | str | None = None) -> CardSet:
    """Images of the manifest whose files exist (missing ones are skipped and counted)."""
    man_path = Path(manifest) if manifest is not None else MANIFEST
    man = json.loads(man_path.read_text(encoding="utf-8"))
    base = Path(root) if root is not None else Path(man["root"])
    if not base.is_dir():
        raise FileNotFoundError(
            f"real-card images not found at {base}: run bench/realsets/build_cards.py "
            "(needs the GitHub mirrors listed in bench/realsets/README.md)"
        )
    out = CardSet()
    for img in man["images"]:
        path = base / img["path"]
        if not path.is_file():
            out.missing += 1
            continue
        corners = np.asarray(img["corners"], dtype=np.float32).reshape(4, 2)
        out.append(
            RealImage(
                path=path,
                corners=corners,
                held_out=bool(img["held_out"]),
                cut=bool(img["cut"]),
                multi=bool(img["multi"]),
                source=str(img["source"]),
                scene=str(img["scene"]),
                kind=str(img["kind"]),
                sha256=str(img["sha256"]),
                width=int(img["width"]),
                height=int(img["height"]),
            )
        )
    return out
