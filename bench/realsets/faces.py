"""Real face video clips (labelled segments) and real face stills, for benching liveness and
the selfie verdict.

    from bench.realsets.faces import load_clips, load_stills
    for clip in load_clips():             # every clip whose file is present
        frames = clip.frames()            # list of H x W x 3 uint8 RGB, read with cv2.VideoCapture
        for seg in clip.segments:         # seg.action: blink | turn_left | turn_right | none
            part = clip.cut(frames, seg)  # [(rgb, t_seconds), ...] from the segment's start
    stills = load_stills()                # FaceStill.rgb(), .label good|bad, .reasons

The media live outside the repo (manifest "root", default /work/.mirror/realfaces) and are
rebuilt by build_faces.py. held_out is fixed per file from its sha256; nobody tunes on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.realsets import read_rgb

MANIFEST = Path(__file__).resolve().parent / "faces.json"
ACTIONS = ("blink", "turn_left", "turn_right", "none")
ATTACK_KINDS = ("photo_still", "photo_waved", "screen_replay")


@dataclass(frozen=True)
class Segment:
    clip: str
    start_s: float
    end_s: float
    action: str                 # blink | turn_left | turn_right | none
    note: str
    held_out: bool


@dataclass(frozen=True)
class FaceClip:
    id: str
    path: Path
    kind: str                   # live | photo_still | photo_waved | screen_replay
    fps: float                  # the file's frame rate (cv2.CAP_PROP_FPS)
    frame_count: int
    width: int
    height: int
    mirrored: str               # "no" or "unknown"
    held_out: bool
    source: str
    sha256: str
    segments: tuple[Segment, ...] = field(default_factory=tuple)

    @property
    def attack(self) -> bool:
        return self.kind in ATTACK_KINDS

    def frames(self) -> list[np.ndarray]:
        """Every frame, RGB uint8, in order; frame i is at t = i / fps."""
        import cv2

        cap = cv2.VideoCapture(str(self.path))
        out: list[np.ndarray] = []
        try:
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        finally:
            cap.release()
        if not out:
            raise ValueError(f"{self.path}: no frame could be decoded")
        return out

    def cut(self, frames: list[np.ndarray], seg: Segment,
            fps: float | None = None) -> list[tuple[np.ndarray, float]]:
        """The segment's frames with times from its start, optionally decimated to ``fps``.

        Decimation keeps a frame when at least 1/fps has passed since the last kept one, so
        the times stay those of the source frames (as a slower camera would deliver them).
        """
        out: list[tuple[np.ndarray, float]] = []
        last = -1e9
        step = 0.0 if fps is None or fps >= self.fps else 1.0 / fps
        for i, fr in enumerate(frames):
            t = i / self.fps
            if t < seg.start_s - 1e-6 or t > seg.end_s + 1e-6:
                continue
            rel = t - seg.start_s
            if rel - last >= step - 0.5 / self.fps:
                out.append((fr, rel))
                last = rel
        return out


@dataclass(frozen=True)
class FaceStill:
    path: Path
    label: str                  # good | bad
    reasons: tuple[str, ...]    # for bad: blurred, dark, off_centre, too_small, several_faces,
    #                             occluded, profile
    borderline: bool
    held_out: bool
    source: str
    sha256: str
    width: int
    height: int

    def rgb(self) -> np.ndarray:
        """H x W x 3 uint8 RGB, EXIF orientation applied."""
        return read_rgb(self.path, self.width, self.height)


class FaceList(list[Any]):
    """The loaded entries; `missing` counts manifest entries whose file was not there."""

    missing: int = 0


def _manifest(manifest: Path | str | None, root: Path | str | None) -> tuple[dict, Path]:
    man = json.loads(Path(manifest or MANIFEST).read_text(encoding="utf-8"))
    base = Path(root) if root is not None else Path(man["root"])
    if not base.is_dir():
        raise FileNotFoundError(
            f"real-face media not found at {base}: run bench/realsets/build_faces.py "
            "(needs the GitHub mirrors listed in bench/realsets/README.md)"
        )
    return man, base


def load_clips(manifest: Path | str | None = None, root: Path | str | None = None) -> FaceList:
    """Clips of the manifest whose files exist, each with its segments (missing ones counted)."""
    man, base = _manifest(manifest, root)
    segs: dict[str, list[Segment]] = {}
    for s in man["segments"]:
        if s["action"] not in ACTIONS:
            raise ValueError(f"segment of {s['clip']}: unknown action {s['action']!r}")
        segs.setdefault(s["clip"], []).append(
            Segment(s["clip"], float(s["start_s"]), float(s["end_s"]), s["action"], s.get("note", ""),
                    bool(s["held_out"])))
    out = FaceList()
    for c in man["clips"]:
        path = base / c["path"]
        if not path.is_file():
            out.missing += 1
            continue
        out.append(FaceClip(c["id"], path, c["kind"], float(c["fps"]), int(c["frames"]), int(c["width"]),
                            int(c["height"]), c["mirrored"], bool(c["held_out"]), c["source"], c["sha256"],
                            tuple(segs.get(c["id"], ()))))
    return out


def load_stills(manifest: Path | str | None = None, root: Path | str | None = None) -> FaceList:
    """Stills of the manifest whose files exist (missing ones are skipped and counted)."""
    man, base = _manifest(manifest, root)
    out = FaceList()
    for s in man["stills"]:
        path = base / s["path"]
        if not path.is_file():
            out.missing += 1
            continue
        out.append(FaceStill(path, s["label"], tuple(s["reasons"]), bool(s["borderline"]),
                             bool(s["held_out"]), s["source"], s["sha256"], int(s["width"]),
                             int(s["height"])))
    return out
