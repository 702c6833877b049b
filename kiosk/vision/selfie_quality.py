"""Single-frame selfie quality: one face, centred, large enough, sharp and well lit.

Pure: an RGB numpy frame in, a :class:`SelfieQuality` with Spanish reasons out. Faces are
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
    reasons: tuple[str, ...]          # Spanish, for the UI; empty when ok
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
        return SelfieQuality(False, ("No se detecta un rostro: mire de frente a la cámara",), None, 0)
    reasons: list[str] = []
    if len(faces) > 1 and faces[1][2] > 0.5 * faces[0][2]:
        reasons.append("Hay más de un rostro: solo la persona que da su apoyo debe aparecer")
    box = faces[0]
    x, y, w, h = box
    cx, cy = (x + w / 2) / W - 0.5, (y + h / 2) / H - 0.5
    size = w / W
    patch = _face_patch(gray, box)
    sharp = float(cv2.Laplacian(patch, cv2.CV_64F).var())
    luma = float(patch.mean())
    clipped = float((patch >= 250).mean())
    if size < MIN_FACE_FRAC:
        reasons.append("Acérquese a la cámara: el rostro se ve muy pequeño")
    if abs(cx) > MAX_CENTRE_OFFSET or not -MAX_CENTRE_OFFSET_UP <= cy <= MAX_CENTRE_OFFSET:
        reasons.append("Centre el rostro en el recuadro")
    if sharp < MIN_SHARPNESS:
        reasons.append("La imagen está borrosa: quédese quieto un momento")
    if luma < MIN_LUMA:
        reasons.append("Hay poca luz: busque un lugar más iluminado")
    elif luma > MAX_LUMA or clipped > MAX_CLIPPED:
        reasons.append("Hay demasiada luz o reflejo sobre el rostro")
    scores = {"face_frac": size, "offset_x": cx, "offset_y": cy, "sharpness": sharp,
              "luma": luma, "clipped": clipped}
    return SelfieQuality(not reasons, tuple(reasons), box, len(faces), scores)
