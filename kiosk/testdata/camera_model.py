"""A planar sheet in a room, photographed by a small camera: geometry, light, reflectance, optics.

The sheet (kiosk/testdata/fakes.py makes them: a laminated card, a photocopy, a
print, a phone...) is what is physically there, at its own resolution. A
`Scene` puts it before the camera and lights it; `render(scene, resolution)`
photographs it; the sensor and ISP are kiosk/testdata/camera_isp.py.

* **Geometry**: a pinhole camera with a 62-degree horizontal field (F_NORM),
  the sheet a plane at pose (R, t) in millimetres, so perspective is true and
  a tilt changes where the speculars fall. The preview is the 2x2-binned
  sensor mode's 16:9 crop (2028 x 1141) scaled by the ISP to 1280 x 720; the
  still is the full 4056 x 3040 sensor. Both see the same scene.
* **Light**: a room illuminant of 2700-6500 K (uniform in mired, with a green
  or magenta tint for fluorescent and LED light), optionally a second one
  (window or other lamp) mixed in across the scene; a key lamp (direction,
  angular size, luminance) that lights the sheet with a cosine and shows in
  glossy surfaces; the room's walls (what glass reflects) with the kiosk's dark
  hood around the camera; an illuminance gradient. Units: the radiance of a
  white diffuser lit by the room is 1.
* **Reflectance**: matte (Lambertian albedo), gloss (Lambertian under a clear
  layer: Schlick Fresnel with a lobe of the key lamp, the window and the room,
  widened by the surface roughness), screen (emission in the display's own
  white, independent of the room, plus the same reflection off its glass). An
  optically variable patch (genuine cards) reflects the room through a
  grating: its hue follows the reflected direction, so it changes with tilt.
* **Optics and sampling**: the sheet's fine layer (halftone dots, sub-pixel
  grid) is band-limited by the lens PSF and the pixel aperture *before* it is
  sampled at the sensor grid, so patterns above the sensor's Nyquist alias as
  a real camera would; lateral chromatic aberration and vignetting follow.

Not modelled: depth of field across a tilted sheet (one PSF per frame),
anisotropic footprints on tilted sheets, inter-reflections, motion blur,
rolling shutter, flare and ghosts, fluorescence of paper brighteners.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.testdata import camera_optics as O
from kiosk.testdata import harsh_scene
from kiosk.testdata.camera_isp import SensorParams, develop, draw_sensor, meter
from kiosk.testdata.camera_optics import (
    F_NORM,
    STILL,
    FineEmitter,
    Light,
    Sheet,
    Surface,
    cct_rgb,
    srgb_to_linear,
)

BINNED = (2028, 1141)    # the 2x2-binned mode's 16:9 crop the preview is scaled from
PREVIEW = (1280, 720)
TABLE_SIZE = (1280, 960)  # the table texture covers the still's field at this size
__all__ = ["BINNED", "F_NORM", "PREVIEW", "STILL", "FineEmitter", "Light", "Optics", "Pose", "Render",
           "Scene", "Sheet", "Surface", "cct_rgb", "draw_scene", "render", "srgb_to_linear", "tilted"]


@dataclass(frozen=True)
class Optics:
    psf_still: float             # Gaussian sigma in full-resolution pixels (lens + focus)
    ca: float                    # lateral chromatic aberration: red scaled 1+ca, blue 1-ca
    vignette: float              # light lost at the field's corner


@dataclass(frozen=True)
class Pose:
    rot: tuple[float, ...]       # 3x3 row-major, sheet -> camera
    t: tuple[float, float, float]

    @property
    def r(self) -> np.ndarray:
        return np.array(self.rot, np.float64).reshape(3, 3)


@dataclass
class Scene:
    sheet: Sheet
    pose: Pose
    light: Light
    optics: Optics
    sensor: SensorParams
    table: np.ndarray            # linear albedo, TABLE_SIZE, over the still's field
    seed: int


@dataclass
class Render:
    frame: np.ndarray            # RGB uint8
    corners: np.ndarray          # (4, 2) float32, the card picture's TL TR BR BL in the frame
    px_per_mm: float             # frame pixels per millimetre of the card picture
    info: dict


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _sphere(rng: random.Random, lo_deg: float, hi_deg: float) -> tuple[float, float, float]:
    """A direction toward the ceiling behind the camera, `lo..hi` degrees off its axis."""
    b, p = math.radians(rng.uniform(lo_deg, hi_deg)), rng.uniform(0, 2 * math.pi)
    return (math.sin(b) * math.cos(p), math.sin(b) * math.sin(p), -math.cos(b))


def draw_light(rng: random.Random) -> Light:
    cct = 1e6 / rng.uniform(1e6 / 6500, 1e6 / 2700)
    window = rng.random() < 0.3
    mixed = window or rng.random() < 0.2
    a, g = rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi)
    return Light(
        cct=cct, tint=rng.choice((0.0, 0.0, rng.uniform(-0.03, 0.06))),
        cct2=rng.uniform(5500, 7500) if window else 1e6 / rng.uniform(1e6 / 6500, 1e6 / 2700),
        mix=rng.uniform(0.3, 0.8) if mixed else 0.0, mix_dir=(math.cos(a), math.sin(a)),
        gradient=rng.uniform(0.0, 0.3), grad_dir=(math.cos(g), math.sin(g)),
        ambient=rng.uniform(0.35, 0.8), key_dir=_sphere(rng, 4, 65),
        key_radius_deg=rng.uniform(1.5, 10), key_lum=rng.uniform(15, 250),
        window_dir=_sphere(rng, 35, 75), window_lum=rng.uniform(3, 12) if window else 0.0,
        room_lum=rng.uniform(0.25, 1.0), hood_deg=rng.uniform(8, 25),
        lux=math.exp(rng.uniform(math.log(120), math.log(1200))))


def draw_optics(rng: random.Random) -> Optics:
    return Optics(psf_still=rng.uniform(0.5, 1.3), ca=rng.uniform(0.0002, 0.0012),
                  vignette=rng.uniform(0.15, 0.45))


def _rot(ax: float, ay: float, az: float) -> np.ndarray:
    cx, sx, cy, sy = math.cos(ax), math.sin(ax), math.cos(ay), math.sin(ay)
    cz, sz = math.cos(az), math.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rx @ ry @ rz


Mode = tuple[tuple[int, int], tuple[int, int], float, float]


def mode(resolution: str | tuple[int, int], optics: Optics) -> Mode:
    """(sensor grid, output size, photosites per sample, PSF sigma in grid px) of a camera mode:
    "preview", "still", or (w, h) for a full-field sensor of that size."""
    if resolution == "preview":
        return BINNED, PREVIEW, 4.0, math.hypot(optics.psf_still / 2, 0.25)
    if resolution == "still":
        return STILL, STILL, 1.0, optics.psf_still
    if isinstance(resolution, str):
        raise ValueError(f"unknown resolution {resolution!r}")
    w, h = resolution
    s = w / STILL[0]
    return (w, h), (w, h), max(1.0, 1 / s ** 2), math.hypot(optics.psf_still * s, 0.25 if s < 0.75 else 0.0)


def intrinsics(grid: tuple[int, int]) -> np.ndarray:
    w, h = grid
    f = F_NORM * w
    return np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]])


def homography(pose: Pose, grid: tuple[int, int]) -> np.ndarray:
    """Sheet millimetres -> grid pixels."""
    r = pose.r
    return intrinsics(grid) @ np.column_stack([r[:, 0], r[:, 1], np.array(pose.t)])


def project(pts_mm: np.ndarray, hom: np.ndarray) -> np.ndarray:
    p = np.column_stack([pts_mm, np.ones(len(pts_mm))]) @ hom.T
    return p[:, :2] / p[:, 2:3]


def place(sheet: Sheet, rng: random.Random, fill: tuple[float, float] = (0.5, 0.75),
          max_tilt_deg: float = 12.0) -> Pose:
    """Pose the sheet so its card picture fills `fill` of the preview's width, rotated a little,
    tilted, off centre, and wholly inside the preview."""
    card = sheet.card_mm
    width_mm = float(np.linalg.norm(card[1] - card[0]))
    centre = card.mean(axis=0)
    yaw = math.radians(rng.uniform(-14, 14))
    ax, ay = (math.radians(rng.uniform(-max_tilt_deg, max_tilt_deg)) for _ in range(2))
    r = _rot(ax, ay, yaw)
    z = F_NORM * PREVIEW[0] / (rng.uniform(*fill) * PREVIEW[0] / width_mm)
    xn = rng.uniform(-0.1, 0.1) / F_NORM
    yn = rng.uniform(-0.08, 0.08) * PREVIEW[1] / PREVIEW[0] / F_NORM
    for _ in range(40):
        t = z * np.array([xn, yn, 1.0]) - r @ np.array([centre[0], centre[1], 0.0])
        pose = Pose(tuple(r.ravel()), (float(t[0]), float(t[1]), float(t[2])))
        pts = project(card, homography(pose, BINNED))
        if pts.min() >= 12 and (pts[:, 0] <= BINNED[0] - 12).all() and (pts[:, 1] <= BINNED[1] - 12).all():
            return pose
        z *= 1.04
        xn, yn = xn * 0.9, yn * 0.9
    return pose


def tilted(pose: Pose, pivot_mm: np.ndarray, ax_deg: float, ay_deg: float) -> Pose:
    """The same sheet turned by small angles about the camera's x and y axes through a sheet point."""
    r, t = pose.r, np.array(pose.t)
    c = r @ np.array([pivot_mm[0], pivot_mm[1], 0.0]) + t
    d = _rot(math.radians(ax_deg), math.radians(ay_deg), 0.0)
    t2 = d @ (t - c) + c
    return Pose(tuple((d @ r).ravel()), (float(t2[0]), float(t2[1]), float(t2[2])))


def draw_scene(sheet: Sheet, seed: int, max_tilt_deg: float = 12.0) -> Scene:
    rng = random.Random(f"scene:{sheet.kind}:{seed}")
    light = draw_light(rng)
    optics = draw_optics(rng)
    pose = place(sheet, rng, max_tilt_deg=max_tilt_deg)
    sensor = draw_sensor(rng, light.lux, light.cct)
    kind = rng.choice(harsh_scene.TABLES)
    table = srgb_to_linear(np.clip(harsh_scene.table(kind, TABLE_SIZE[1], TABLE_SIZE[0], rng), 0, 255) / 255)
    return Scene(sheet, pose, light, optics, sensor, table, seed)


def _screen_white(sheet: Sheet, light: Light) -> np.ndarray:
    """A display's full white in scene units (a white diffuser lit by the room = 1)."""
    s = sheet.surface
    return cct_rgb(s.white_cct) * np.float32(s.white_nits / (light.lux / math.pi))


def _blend(dst: np.ndarray, src: np.ndarray, alpha: np.ndarray) -> None:
    dst += (src - dst) * alpha[..., None]


def radiance(scene: Scene, grid: tuple[int, int], psf: float, pose: Pose | None = None) -> np.ndarray:
    """Linear RGB radiance reaching the sensor grid, band-limited by the lens and the pixel."""
    sheet, light, pose = scene.sheet, scene.light, pose or scene.pose
    hom = homography(pose, grid)
    k = intrinsics(grid)
    f = float(k[0, 0])
    rot = pose.r
    e_table, e_sheet = O.irradiance(light, grid, f, -rot[:, 2] if rot[2, 2] > 0 else rot[:, 2])
    rad = O.table_view(scene.table, grid, f) * e_table
    outline = project(sheet.outline_mm, hom)
    mask = O.polygon_mask(outline, grid)
    ppmm = O.local_ppmm(hom, sheet.card_mm.mean(axis=0))
    kd = np.array(light.key_dir)
    shift = -kd[:2] / max(-kd[2], 0.3) * sheet.lift_mm * ppmm
    m = np.array([[1, 0, shift[0]], [0, 1, shift[1]]], np.float32)
    shadow = O.soft(cv2.warpAffine(mask, m, grid), 1 + 0.5 * float(np.hypot(*shift)))
    rad *= (1 - 0.85 * (1 - light.ambient) * shadow)[..., None]
    roi = O.bbox(outline, grid)
    x0, y0, x1, y1 = roi
    if x1 > x0 and y1 > y0:
        sl = (slice(y0, y1), slice(x0, x1))
        srad = O.warp_raster(sheet.albedo, sheet.coarse_ppmm, (0.0, 0.0), hom, roi) * e_sheet[sl]
        if sheet.emit is not None:
            emit = O.warp_raster(sheet.emit, sheet.coarse_ppmm, (0.0, 0.0), hom, roi)
            srad += emit * _screen_white(sheet, light)
        _blend(rad[sl], srad, mask[sl])
    rad = cv2.GaussianBlur(rad, (0, 0), psf)
    mask = cv2.GaussianBlur(mask, (0, 0), psf)
    # The fine layer, filtered by the footprint (PSF and pixel box) on the sheet, then sampled.
    foot_mm = math.sqrt(psf * psf + 1 / 12) / ppmm
    fine_poly = sheet.fine_outline_mm
    if fine_poly is None and sheet.fine is not None:
        fh, fw = sheet.fine.shape[:2]
        ox, oy = sheet.fine_origin_mm
        ex, ey = ox + fw / sheet.fine_ppmm, oy + fh / sheet.fine_ppmm
        fine_poly = np.array([[ox, oy], [ex, oy], [ex, ey], [ox, ey]])
    if fine_poly is not None:
        fpx = project(fine_poly, hom)
        froi = O.bbox(fpx, grid)
        fx0, fy0, fx1, fy1 = froi
        if fx1 > fx0 and fy1 > fy0:
            sl = (slice(fy0, fy1), slice(fx0, fx1))
            alpha = cv2.GaussianBlur(O.polygon_mask(fpx, (fx1 - fx0, fy1 - fy0), (fx0, fy0)), (0, 0), psf)
            if sheet.emitter is not None:
                u, v = O.sheet_points(hom, froi)
                frad = (O.warp_raster(sheet.albedo, sheet.coarse_ppmm, (0.0, 0.0), hom, froi) * e_sheet[sl]
                        + sheet.emitter(u, v, foot_mm) * _screen_white(sheet, light))
            else:
                assert sheet.fine is not None
                img, p = O.band_limit(sheet.fine, sheet.fine_ppmm, foot_mm)
                frad = O.warp_raster(img, p, sheet.fine_origin_mm, hom, froi) * e_sheet[sl]
            _blend(rad[sl], frad, alpha)
    if sheet.surface.kind in ("gloss", "screen") and x1 > x0 and y1 > y0:
        sl = (slice(y0, y1), slice(x0, x1))
        spec, ovd = O.reflection(light, sheet, np.linalg.inv(k), rot, np.array(pose.t), roi)
        rad[sl] += spec * mask[sl][..., None]
        if ovd is not None and sheet.ovd_mm is not None:
            om = cv2.GaussianBlur(O.polygon_mask(project(sheet.ovd_mm, hom), (x1 - x0, y1 - y0), (x0, y0)),
                                  (0, 0), psf)
            rad[sl] += ovd * om[..., None]
    rad = O.chromatic_aberration(rad, scene.optics.ca)
    return rad * O.vignetting(grid, f, scene.optics.vignette)[..., None]


def render(scene: Scene, resolution: str | tuple[int, int] = "preview", frame_seed: int = 0,
           pose: Pose | None = None, exposure: float | None = None) -> Render:
    """Photograph the scene. `exposure` fixes the auto-exposure's scale (a locked AE for a
    sequence); `pose` overrides the scene's (a tilted frame)."""
    grid, out, binning, psf = mode(resolution, scene.optics)
    pose = pose or scene.pose
    rad = radiance(scene, grid, psf, pose)
    scale = exposure if exposure is not None else meter(rad, scene.sensor)
    rng = random.Random(f"render:{scene.seed}:{resolution}:{frame_seed}")
    q = scene.sensor.jpeg_preview if resolution == "preview" else scene.sensor.jpeg_still
    frame, info = develop(rad, scene.sensor, scale, out, binning, q, rng)
    hom = homography(pose, grid)
    sx, sy = out[0] / grid[0], out[1] / grid[1]
    corners = (project(scene.sheet.card_mm, hom) + 0.5) * np.array([sx, sy]) - 0.5
    edges = np.linalg.norm(np.roll(corners, -1, axis=0) - corners, axis=1)
    card_w = float(np.linalg.norm(scene.sheet.card_mm[1] - scene.sheet.card_mm[0]))
    card_h = float(np.linalg.norm(scene.sheet.card_mm[3] - scene.sheet.card_mm[0]))
    ppmm = float((edges[0] + edges[2]) / (2 * card_w) + (edges[1] + edges[3]) / (2 * card_h)) / 2
    info.update({"resolution": list(out), "sensor_grid": list(grid), "psf_px": round(psf, 3),
                 "exposure": scale, "px_per_mm": round(ppmm, 3)})
    return Render(frame, corners.astype(np.float32), ppmm, info)
