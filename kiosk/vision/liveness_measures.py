"""Per-frame liveness measures on facial landmarks (kiosk.vision.landmarks).

* **Eye opening**, by two methods that check each other: the eye aspect ratio (Soukupová &
  Čech 2016) on the eye model's eyelid contour — the mean gap between the upper and lower lid
  at five points across the eye, over the eye's width — and the appearance of the eye: the
  correlation of its crop (aligned on the eye corners) with the same crop while open. A
  closed lid hides the iris and the white; a shadow or a squint moves the contour but not
  both. (The face mesh's own eyelid points barely move at a blink: it is not used for it.)
* **Head pose relative to the person's own frontal pose**: the rotation that best maps the
  neutral frame's rigid face points (forehead, brow ridge, nose, eye corners, cheekbones — not
  the mouth or jaw, which move when talking) onto this frame's, in 3-D (the mesh's depth), with a
  free scale (Umeyama 1991). Yaw, pitch and roll in degrees; positive yaw: the nose moves toward
  the image's right (the person's left in an unmirrored camera). A photo held up or waved shows
  the same flat face whatever its angle, so the mesh fitted on it keeps its frontal shape.
* **Whether a face is still the same person** (the selfie is bound to the person who passed):
  the face's texture read at the mesh points (:func:`face_texture`: grey, blurred at a fixed
  fraction of the eye distance, so any face size reads alike) compared by normalised
  correlation (:func:`texture_similarity`), and the rigid points' shape after a 3-D similarity
  fit (:func:`shape_residual`: pose and size removed, RMS over the eye distance). The texture
  tells people apart; the mesh's shape barely does (its model leans toward an average face).
  docs/liveness.md gives both on real faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.vision.face import Box
from kiosk.vision.landmarks import FaceMesh, Landmarker, shared

# Rigid points: forehead, glabella, nose bridge and tip, eye corners, temples, cheekbones, alae.
RIGID = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 33, 133, 362, 263, 127, 356, 234, 454,
         116, 345, 123, 352, 50, 280, 98, 327, 108, 337, 67, 297)
# Eyelid pairs (upper, lower) across the middle of the eye on the eye model's 16-point contour
# (0..8 lower lid corner to corner, 9..15 upper lid).
_EYE_PAIRS = ((10, 2), (11, 3), (12, 4), (13, 5), (14, 6))


def eye_aspect(contour: np.ndarray) -> float:
    """Eye aspect ratio on the eye model's contour (16 points)."""
    width = float(np.linalg.norm(contour[0] - contour[8]))
    if width < 1.0:
        return 0.0
    return float(np.mean([np.linalg.norm(contour[u] - contour[lo]) for u, lo in _EYE_PAIRS])) / width


def patch_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two eye crops' middles (the opening, not the brow)."""
    x = a[20:48, 8:56].astype(np.float64).ravel()
    y = b[20:48, 8:56].astype(np.float64).ravel()
    x, y = x - x.mean(), y - y.mean()
    d = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / d) if d > 1e-6 else 0.0


def face_proportion(mesh: FaceMesh) -> float:
    """Forehead-to-nose-tip over the outer eye corners' distance, in the image. A blink leaves
    it alone; a photo tilted toward or away from the camera squashes it (the mesh fitted on the
    photo still reads as a frontal face, so the pose gate alone does not see the tilt)."""
    p = mesh.points[:, :2]
    width = float(np.linalg.norm(p[33] - p[263]))
    return float(np.linalg.norm(p[10] - p[1])) / width if width > 1.0 else 0.0


def rigid_points(mesh: FaceMesh) -> np.ndarray:
    return mesh.points[list(RIGID)].astype(np.float64)


def _similarity_fit(base: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``base`` fitted onto ``cur`` by rotation, uniform scale and shift (Umeyama 1991), both
    centred: (fitted base, centred cur)."""
    a = base - base.mean(axis=0)
    b = cur - cur.mean(axis=0)
    u, s, vt = np.linalg.svd(b.T @ a)
    d = np.diag([1.0] * (a.shape[1] - 1) + [float(np.sign(np.linalg.det(u @ vt)))])
    scale = float((s * np.diag(d)).sum() / max(float((a * a).sum()), 1e-12))
    return scale * a @ (u @ d @ vt).T, b


# The outer eye corners (mesh 33 and 263) among the rigid points: the eye distance.
_EYE_OUTER = (RIGID.index(33), RIGID.index(263))


def shape_residual(base: np.ndarray, cur: np.ndarray) -> float:
    """How far the rigid points ``cur`` are from the shape ``base`` once pose and size are fitted
    away (3-D, the mesh's depth included): RMS distance over ``cur``'s eye distance."""
    fitted, b = _similarity_fit(base, cur)
    eyes = float(np.linalg.norm(cur[_EYE_OUTER[0]] - cur[_EYE_OUTER[1]]))
    if eyes < 1e-6:
        return float("inf")
    return float(np.sqrt(((fitted - b) ** 2).sum(axis=1).mean())) / eyes


TEXTURE_EYES_PX = 60.0   # the face is read with its eye distance at most this many pixels
TEXTURE_BLUR = 0.06      # blur sigma, times the eye distance: the features, not the pores


def face_texture(frame: np.ndarray, mesh: FaceMesh) -> np.ndarray:
    """The face's grey level at its 468 mesh points (float32), read on the face scaled to an eye
    distance of TEXTURE_EYES_PX and blurred by TEXTURE_BLUR of it: comparable across frames
    whatever the face's size and pose, for :func:`texture_similarity`."""
    p = mesh.points[:, :2].astype(np.float64)
    eyes = max(float(np.linalg.norm(p[33] - p[263])), 1.0)
    h, w = frame.shape[:2]
    x0, y0 = np.clip(np.floor(p.min(axis=0) - 0.1 * eyes), 0, [w - 1, h - 1]).astype(int)
    x1, y1 = np.clip(np.ceil(p.max(axis=0) + 0.1 * eyes), 0, [w - 1, h - 1]).astype(int)
    crop = frame[y0:y1 + 1, x0:x1 + 1]
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else np.ascontiguousarray(crop)
    k = min(1.0, TEXTURE_EYES_PX / eyes)
    while grey.shape[0] * k < grey.shape[0] / 2 - 1:   # halve cheaply first (a large face)
        grey = cv2.pyrDown(grey)
        k *= 2
    size = (max(1, round(grey.shape[1] * k)), max(1, round(grey.shape[0] * k)))
    small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    k = size[0] / max(crop.shape[1], 1)
    blurred = cv2.GaussianBlur(small.astype(np.float32), (0, 0), max(0.5, TEXTURE_BLUR * eyes * k))
    xy = (p - [x0, y0]) * k
    xi = np.clip(np.round(xy[:, 0]).astype(int), 0, blurred.shape[1] - 1)
    yi = np.clip(np.round(xy[:, 1]).astype(int), 0, blurred.shape[0] - 1)
    return blurred[yi, xi]


def texture_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised correlation of two face textures (:func:`face_texture`): 1 the same pattern of
    light and dark at the same points of the face; light's overall level and contrast left out."""
    x = a.astype(np.float64) - float(a.mean())
    y = b.astype(np.float64) - float(b.mean())
    d = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / d) if d > 1e-9 else 0.0


def relative_pose(base: np.ndarray, cur: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of the rotation taking rigid points ``base`` to ``cur``."""
    a = base - base.mean(axis=0)
    b = cur - cur.mean(axis=0)
    u, _, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt))
    r = u @ np.diag([1.0, 1.0, d]) @ vt  # cur ~ s R base
    # Image axes x right, y down, z away: a yaw that moves the (near) nose to +x sends -z to +x,
    # i.e. r[0, 2] < 0.
    yaw = float(np.degrees(np.arctan2(-r[0, 2], r[2, 2])))
    pitch = float(np.degrees(np.arcsin(np.clip(r[1, 2], -1, 1))))
    roll = float(np.degrees(np.arctan2(r[1, 0], r[0, 0])))
    return yaw, pitch, roll


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def one_face(a: Box, b: Box) -> bool:
    """Whether two boxes found by different means hold the same face: each one's centre lies
    inside the other."""
    def inside(p: Box, q: Box) -> bool:
        cx, cy = p[0] + p[2] / 2, p[1] + p[3] / 2
        return q[0] <= cx <= q[0] + q[2] and q[1] <= cy <= q[1] + q[3]

    return inside(a, b) and inside(b, a)


@dataclass(frozen=True, slots=True)
class FrameObs:
    """What one frame shows of the face. ``ear``: the eye aspect ratio, mean of both eyes (None
    when the eyes were not measured); ``texture``: :func:`face_texture` (None: not read)."""
    t: float
    mesh: FaceMesh | None
    n_faces: int
    ear: float | None = None
    faces: tuple[Box, ...] = ()   # the comparable faces' boxes, largest first
    texture: np.ndarray | None = None

    @property
    def box(self) -> Box | None:
        return None if self.mesh is None else self.mesh.box


def observe(frame: np.ndarray, t: float, prior: FaceMesh | None = None,
            landmarker: Landmarker | None = None, eyes: bool = True,
            texture: bool = True) -> FrameObs:
    """Landmarks and measures of one RGB frame (``prior``: the last frame's mesh, to track)."""
    lm = landmarker or shared()
    mesh, found = lm.faces_and_boxes(frame, prior, eyes=eyes)
    boxes = tuple(f.box for f in found)
    if mesh is None:
        return FrameObs(t, None, len(found), faces=boxes)
    ear = None
    if mesh.eyes is not None:
        ear = float(np.mean([eye_aspect(e) for e in mesh.eyes]))
    return FrameObs(t, mesh, len(found), ear, boxes, face_texture(frame, mesh) if texture else None)


def eye_similarity(o: FrameObs, open_patches: tuple[np.ndarray, np.ndarray]) -> float | None:
    """Mean similarity of this frame's eye crops to the open eyes' (None: not measured)."""
    if o.mesh is None or o.mesh.eye_patches is None:
        return None
    return float(np.mean([patch_similarity(a, b) for a, b in zip(o.mesh.eye_patches, open_patches,
                                                                  strict=True)]))
