"""Single-frame selfie quality: one face, centred, large enough, sharp and well lit.

Pure: an RGB numpy frame in, a :class:`SelfieQuality` with message codes out (`selfie.*`, their
texts in the kiosk's catalogues, in the auxiliary's and the citizen's words). Faces are
found by the same detector the liveness check tracks (kiosk.vision.landmarks: MediaPipe's
BlazeFace), which on real photos neither invents a second face in a collar or a background
the way the Haar cascade did, nor misses a face turned a little.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from kiosk.vision.face import Box, detect_faces, to_gray
from kiosk.vision.landmarks import LandmarkModelMissing, shared


@dataclass(frozen=True, slots=True)
class SelfieQuality:
    ok: bool
    codes: tuple[str, ...]            # why not, most important first (`selfie.*`); empty when ok
    face: Box | None                  # the face, frame pixels
    n_faces: int
    scores: dict[str, float] = field(default_factory=dict)



# Thresholds for the selfie (fractions of the frame unless said otherwise).
MIN_FACE_FRAC = 0.14      # face width / frame width
MAX_CENTRE_OFFSET = 0.18  # face centre from frame centre, per axis, in frame widths/heights
# A portrait's face sits above the frame's centre (eyes near the upper third): allowed higher.
MAX_CENTRE_OFFSET_UP = 0.22
MIN_SHARPNESS = 40.0      # variance of the Laplacian on the face at 128 px width
MIN_LUMA, MAX_LUMA = 60.0, 215.0
MAX_CLIPPED = 0.15        # fraction of face pixels at >= 250


def _face_patch(gray: np.ndarray, box: Box, width: int = 128) -> np.ndarray:
    x, y, w, h = box
    patch = gray[max(y, 0):y + h, max(x, 0):x + w]
    if patch.size == 0:
        return np.zeros((width, width), np.uint8)
    return cv2.resize(patch, (width, round(width * patch.shape[0] / max(patch.shape[1], 1))),
                      interpolation=cv2.INTER_AREA)


def assess_selfie(frame: np.ndarray, faces: list[Box] | None = None) -> SelfieQuality:
    """Is this frame a usable selfie? ``faces`` may be passed to reuse a detection."""
    gray = to_gray(frame)
    H, W = gray.shape
    if faces is None:
        try:
            found = sorted(shared().detect(frame), key=lambda f: -f.width)
            faces = [f.box for f in found if f.width >= 0.06 * W]
        except LandmarkModelMissing:
            # Without the landmark models the photo can still be judged: the older cascade.
            faces = detect_faces(gray, work_width=320, min_frac=0.06)
    faces = sorted((f for f in faces if f[2] >= 0.06 * W), key=lambda f: -f[2])
    if not faces:
        return SelfieQuality(False, ("selfie.no_face",), None, 0)
    codes: list[str] = []
    if len(faces) > 1 and faces[1][2] > 0.5 * faces[0][2]:
        codes.append("selfie.many_faces")
    box = faces[0]
    x, y, w, h = box
    cx, cy = (x + w / 2) / W - 0.5, (y + h / 2) / H - 0.5
    size = w / W
    patch = _face_patch(gray, box)
    sharp = float(cv2.Laplacian(patch, cv2.CV_64F).var())
    luma = float(patch.mean())
    clipped = float((patch >= 250).mean())
    if size < MIN_FACE_FRAC:
        codes.append("selfie.small")
    if abs(cx) > MAX_CENTRE_OFFSET or not -MAX_CENTRE_OFFSET_UP <= cy <= MAX_CENTRE_OFFSET:
        codes.append("selfie.center")
    if sharp < MIN_SHARPNESS:
        codes.append("selfie.blurred")
    if luma < MIN_LUMA:
        codes.append("selfie.dark")
    elif luma > MAX_LUMA or clipped > MAX_CLIPPED:
        codes.append("selfie.glare")
    scores = {"face_frac": size, "offset_x": cx, "offset_y": cy, "sharpness": sharp,
              "luma": luma, "clipped": clipped}
    return SelfieQuality(not codes, tuple(codes), box, len(faces), scores)
