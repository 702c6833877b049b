"""A face photo turned into a textured 3-D head: true yaw / pitch and closing eyelids.

The 468-point face mesh of the photo (kiosk.vision.landmarks: x, y and a depth z per point) is
the head's shape and the photo its texture. A frame is rendered by rotating the mesh about a
pivot behind the face (the neck), projecting it orthographically, and warping every triangle of
the photo onto its new place (piecewise affine, nearer triangles drawn last so the far cheek is
hidden); a ring of fixed points around the head lets the hair and background stretch instead of
tearing. A blink lowers each upper eyelid onto the lower one: the eye's opening is covered with
the lid's own skin and edged with a lash line.

What this is: synthetic test material whose true pose and eyelid state are known, so that the
suite and the demos can pass an honest landmark-based liveness check. What it is not: evidence
that real people pass or real spoofs fail — those figures come from real clips only
(bench/bench_liveness_real.py, docs/liveness.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
from scipy.spatial import Delaunay

# Eyelid contours as mesh indices, outer corner to inner corner (person's right eye, then left).
_UPPER = ((246, 161, 160, 159, 158, 157, 173), (466, 388, 387, 386, 385, 384, 398))
_LOWER = ((7, 163, 144, 145, 153, 154, 155), (249, 390, 373, 374, 380, 381, 382))
_CORNERS = ((33, 133), (263, 362))


@dataclass(frozen=True)
class Head:
    """A photo with its mesh, triangulated once."""
    image: np.ndarray      # RGB
    points: np.ndarray     # (468, 3) mesh, photo pixels (z: smaller = nearer)
    ring: np.ndarray       # (k, 2) fixed points around the head and on the photo's border
    triangles: np.ndarray  # (t, 3) indices into points + ring
    pivot: np.ndarray      # (3,) the rotation centre: behind the face, at the head's middle


def make_head(image: np.ndarray, points: np.ndarray) -> Head:
    h, w = image.shape[:2]
    xy = points[:, :2].astype(np.float64)
    c = xy.mean(axis=0)
    half = (xy.max(axis=0) - xy.min(axis=0)) / 2
    ang = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    ring = [c + np.stack([np.cos(ang), np.sin(ang)], 1) * half * k for k in (1.35, 1.9)]
    border = [(x, y) for x in np.linspace(0, w - 1, 5) for y in (0, h - 1)]
    border += [(x, y) for x in (0, w - 1) for y in np.linspace(0, h - 1, 5)[1:-1]]
    all_ring = np.vstack([*ring, np.array(border, np.float64)])
    all_ring[:, 0] = np.clip(all_ring[:, 0], 0, w - 1)
    all_ring[:, 1] = np.clip(all_ring[:, 1], 0, h - 1)
    tri = Delaunay(np.vstack([xy, all_ring])).simplices.astype(np.int32)
    face_w = 2 * half[0]
    # The neck: about two-thirds of a face width behind the mesh's mean depth.
    pivot = np.array([c[0], c[1], float(points[:, 2].mean()) + 0.65 * face_w])
    return Head(np.ascontiguousarray(image), points.astype(np.float64), all_ring, tri, pivot)


def _rotation(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """Positive yaw: the nose moves toward the image's right (the person's left, unmirrored)."""
    a, b, g = np.deg2rad([yaw_deg, pitch_deg, roll_deg])
    # Image axes: x right, y down, z away from the camera. Nose is nearer (smaller z), so a
    # rotation that sends -z toward +x is Ry(-a).
    ry = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), np.sin(b)], [0, -np.sin(b), np.cos(b)]])
    rz = np.array([[np.cos(g), -np.sin(g), 0], [np.sin(g), np.cos(g), 0], [0, 0, 1]])
    return rz @ rx @ ry


def posed_points(head: Head, yaw_deg: float = 0.0, pitch_deg: float = 0.0,
                 roll_deg: float = 0.0) -> np.ndarray:
    """The mesh after the pose: (468, 3) in photo pixels."""
    r = _rotation(yaw_deg, pitch_deg, roll_deg)
    return (head.points - head.pivot) @ r.T + head.pivot


def _close_eyes(img: np.ndarray, pts: np.ndarray, amount: float) -> np.ndarray:
    """Lower each upper lid by ``amount`` (1: shut): the opening above the new lid line is
    covered with the lid's own skin (taken from just above the eye) and edged with lashes."""
    out = img.astype(np.float32)
    h, w = img.shape[:2]
    for up, lo, corners in zip(_UPPER, _LOWER, _CORNERS, strict=True):
        u, d = pts[list(up), :2], pts[list(lo), :2]
        a, b = pts[corners[0], :2], pts[corners[1], :2]
        lid = u + (d - u) * min(amount, 1.0) * 0.9
        gap = float(np.mean(np.linalg.norm(d - u, axis=1)))
        poly = np.vstack([a, u, b, lid[::-1]])
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [np.round(poly * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
        m = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), max(0.6, gap * 0.12))[..., None]
        # The lid's skin: the image shifted down by a bit more than the eye's height.
        shift = np.array([[1, 0, 0], [0, 1, 1.6 * gap + 1]], np.float32)
        skin = cv2.warpAffine(out, shift, (w, h), borderMode=cv2.BORDER_REPLICATE)
        out = out * (1 - m) + skin * 0.97 * m
        lash = np.zeros((h, w), np.float32)
        line = np.vstack([a, lid, b])
        cv2.polylines(lash, [np.round(line * 16).astype(np.int32)], False, 1.0,
                      max(1, round(gap * 0.3)), cv2.LINE_AA, shift=4)
        k = (cv2.GaussianBlur(lash, (0, 0), 0.7) * 0.75 * min(amount, 1.0))[..., None]
        out = out * (1 - k) + np.array([55, 40, 35], np.float32) * k
    return np.clip(out, 0, 255).astype(np.uint8)


def render(head: Head, yaw_deg: float = 0.0, pitch_deg: float = 0.0, roll_deg: float = 0.0,
           eyes_closed: float = 0.0) -> np.ndarray:
    """The photo with the head in that pose (same size as the photo)."""
    h, w = head.image.shape[:2]
    dst3 = posed_points(head, yaw_deg, pitch_deg, roll_deg)
    src = np.vstack([head.points[:, :2], head.ring])
    dst = np.vstack([dst3[:, :2], head.ring])
    depth = np.concatenate([dst3[:, 2], np.full(len(head.ring), dst3[:, 2].max() + 1)])
    tris = head.triangles
    # Far triangles first: the nearer ones overwrite them where the head hides its own side.
    order = np.argsort(-depth[tris].mean(axis=1))
    ids = np.full((h, w), -1, np.int32)
    for t in order:
        poly = np.round(dst[tris[t]] * 16).astype(np.int32)
        cv2.fillConvexPoly(ids, poly, int(t), lineType=cv2.LINE_8, shift=4)
    # Per-triangle affine from destination to source, then one remap for the whole image.
    a = np.zeros((len(tris), 2, 3), np.float64)
    for t, (i, j, k) in enumerate(tris):
        d = np.array([dst[i], dst[j], dst[k]], np.float32)
        s = np.array([src[i], src[j], src[k]], np.float32)
        e1, e2 = d[1] - d[0], d[2] - d[0]
        if abs(float(e1[0] * e2[1] - e1[1] * e2[0])) < 1e-6:
            continue  # a collapsed triangle (a shut eye's opening) covers no pixel
        a[t] = cv2.getAffineTransform(d, s)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    inside = ids >= 0
    m = a[np.where(inside, ids, 0)]
    map_x = np.where(inside, m[..., 0, 0] * xx + m[..., 0, 1] * yy + m[..., 0, 2], xx).astype(np.float32)
    map_y = np.where(inside, m[..., 1, 0] * xx + m[..., 1, 1] * yy + m[..., 1, 2], yy).astype(np.float32)
    out = cv2.remap(head.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return _close_eyes(out, dst3, eyes_closed) if eyes_closed > 0 else out


@cache
def astronaut_head() -> Head:
    """scikit-image's `astronaut` (NASA, public domain) as a head; its mesh measured once."""
    from skimage import data

    from kiosk.vision.landmarks import shared

    img = np.ascontiguousarray(data.astronaut())
    lm = shared()
    faces = lm.detect(img)
    if not faces:
        raise RuntimeError("no face found in the astronaut photo")
    mesh = lm.mesh(img, faces[0], eyes=False)
    if mesh is None:
        raise RuntimeError("no face mesh on the astronaut photo")
    mesh = lm.mesh(img, mesh, eyes=False) or mesh  # once more around itself, as tracking does
    return make_head(img, mesh.points)
