"""The sheet, the room's light and what the lens makes of them, for kiosk/testdata/camera_model.py.

The vocabulary (`Sheet`, `Surface`, `Light`, colour temperature to RGB) and the
physics of one frame: irradiance, reflections, band-limited sampling, lateral
chromatic aberration, vignetting.

Smooth quantities (irradiance, speculars, the room in glass) are computed on a
coarse grid of the image and scaled up; the sheet's fine layer is filtered by
the camera's footprint (PSF and pixel aperture, a Gaussian) on the sheet's own
raster before it is sampled at the sensor grid, so what lies above the sensor's
Nyquist aliases as in a real camera and no finer.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

F_NORM = 0.83            # focal length / image width: a 62-degree horizontal field
STILL = (4056, 3040)     # the full sensor
_COARSE = 160  # coarse grid columns for smooth fields


class FineEmitter(Protocol):
    def __call__(self, u: np.ndarray, v: np.ndarray, footprint_mm: float) -> np.ndarray:
        """Emission (relative to the display's white, linear RGB) at sheet points (mm), averaged
        over a Gaussian footprint of sigma `footprint_mm`."""
        ...


@dataclass(frozen=True)
class Surface:
    kind: str                   # "matte" | "gloss" | "screen"
    f0: float = 0.0             # Fresnel reflectance at normal incidence of the top layer
    roughness_deg: float = 0.0  # width of the specular lobe
    white_nits: float = 0.0     # screens: luminance of full white
    white_cct: float = 6500.0   # screens: white point


@dataclass
class Sheet:
    """What is physically in front of the camera, in millimetres on its own plane."""
    kind: str
    outline_mm: np.ndarray              # (N, 2) the object's outline
    card_mm: np.ndarray                 # (4, 2) TL TR BR BL of the card picture on it
    albedo: np.ndarray                  # coarse linear reflectance of the whole object
    coarse_ppmm: float
    surface: Surface
    fine_origin_mm: tuple[float, float] = (0.0, 0.0)
    fine: np.ndarray | None = None      # linear reflectance raster of the fine region
    fine_ppmm: float = 0.0
    fine_outline_mm: np.ndarray | None = None   # where the fine layer replaces the coarse one
    emit: np.ndarray | None = None      # coarse emission (screens), relative to the display white
    emitter: FineEmitter | None = None  # screens: the fine layer as a function
    ovd_mm: np.ndarray | None = None    # polygon of an optically variable patch
    lift_mm: float = 0.3                # height over the table (shadow)
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Light:
    cct: float
    tint: float                  # green (+) / magenta (-) offset: fluorescent, LED
    cct2: float                  # the second light (window or lamp), mixed in across the scene
    mix: float                   # its share at the far side of the field (0: none)
    mix_dir: tuple[float, float]
    gradient: float              # relative illuminance change across the field
    grad_dir: tuple[float, float]
    ambient: float               # diffuse share of the irradiance (the rest: the key lamp)
    key_dir: tuple[float, float, float]    # unit vector from the scene to the key lamp
    key_radius_deg: float
    key_lum: float               # key lamp luminance over a white diffuser's
    window_dir: tuple[float, float, float]
    window_lum: float            # 0 when there is no window
    room_lum: float              # walls and ceiling as a mirror sees them
    hood_deg: float              # the kiosk's dark body around the camera, seen in a mirror
    lux: float


def cct_rgb(kelvin: float, tint: float = 0.0) -> np.ndarray:
    """Linear sRGB of a Planckian light (Kim et al.'s locus), luminance 1."""
    t = float(np.clip(kelvin, 1700, 20000))
    if t <= 4000:
        x = -0.2661239e9 / t ** 3 - 0.2343589e6 / t ** 2 + 0.8776956e3 / t + 0.179910
    else:
        x = -3.0258469e9 / t ** 3 + 2.1070379e6 / t ** 2 + 0.2226347e3 / t + 0.240390
    if t <= 2222:
        y = -1.1063814 * x ** 3 - 1.34811020 * x ** 2 + 2.18555832 * x - 0.20219683
    elif t <= 4000:
        y = -0.9549476 * x ** 3 - 1.37418593 * x ** 2 + 2.09137015 * x - 0.16748867
    else:
        y = 3.0817580 * x ** 3 - 5.87338670 * x ** 2 + 3.75112997 * x - 0.37001483
    xyz = np.array([x / y, 1.0, (1 - x - y) / y])
    m = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])
    rgb = np.clip(m @ xyz, 1e-3, None) * np.array([1.0, 1.0 + tint, 1.0])
    return (rgb / (rgb @ [0.2126, 0.7152, 0.0722])).astype(np.float32)


def srgb_to_linear(img: np.ndarray) -> np.ndarray:
    x = img.astype(np.float32) / 255 if img.dtype == np.uint8 else img.astype(np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)



def _grid(x0: float, y0: float, x1: float, y1: float, cols: int) -> tuple[np.ndarray, np.ndarray]:
    gw = max(2, min(cols, int(x1 - x0)))
    gh = max(2, round(gw * (y1 - y0) / max(x1 - x0, 1)))
    xs = x0 + (np.arange(gw) + 0.5) * (x1 - x0) / gw - 0.5
    ys = y0 + (np.arange(gh) + 0.5) * (y1 - y0) / gh - 0.5
    return np.meshgrid(xs, ys)


def irradiance(light: Light, grid: tuple[int, int], f: float, normal: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Irradiance (RGB, white diffuser = 1) on the table and on the sheet, over the whole grid."""
    w, h = grid
    x, y = _grid(0, 0, w, h, _COARSE)
    xn, yn = (x - (w - 1) / 2) / f, (y - (h - 1) / 2) / f
    m = light.mix * np.clip(0.5 + (xn * light.mix_dir[0] + yn * light.mix_dir[1]) / 0.7, 0, 1)
    main = cct_rgb(light.cct, light.tint)
    amb = (1 - m)[..., None] * main + m[..., None] * cct_rgb(light.cct2)
    g = 1 + light.gradient * np.clip((xn * light.grad_dir[0] + yn * light.grad_dir[1]) / 0.6, -1, 1)
    k = np.array(light.key_dir)
    shade = max(float(normal @ k), 0.0) / max(-k[2], 0.3)
    a = light.ambient
    e_t = g[..., None] * (a * amb + (1 - a) * main)
    e_s = g[..., None] * (a * amb + (1 - a) * shade * main)
    return (cv2.resize(e_t.astype(np.float32), grid, interpolation=cv2.INTER_LINEAR),
            cv2.resize(e_s.astype(np.float32), grid, interpolation=cv2.INTER_LINEAR))


def table_view(table: np.ndarray, grid: tuple[int, int], f: float) -> np.ndarray:
    """The table texture (made over the still's field) seen by a camera mode."""
    tw, th = table.shape[1], table.shape[0]
    s = F_NORM * tw / f               # table px per grid px
    w, h = grid
    m = np.array([[s, 0, (tw - 1) / 2 - s * (w - 1) / 2], [0, s, (th - 1) / 2 - s * (h - 1) / 2]])
    return cv2.warpAffine(table, m, grid, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT)


def polygon_mask(pts: np.ndarray, size: tuple[int, int], origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Anti-aliased coverage (0..1) of a polygon given in grid pixels."""
    w, h = size
    img = np.zeros((h, w), np.uint8)
    p = np.round((pts - np.array(origin)) * 16).astype(np.int32)
    cv2.fillPoly(img, [p], 255, cv2.LINE_AA, shift=4)
    return img.astype(np.float32) / 255


def soft(img: np.ndarray, sigma: float) -> np.ndarray:
    """A wide Gaussian blur, done at a reduced size when the kernel is large."""
    k = max(1, int(sigma / 3))
    if k == 1:
        return cv2.GaussianBlur(img, (0, 0), sigma)
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)
    return cv2.resize(cv2.GaussianBlur(small, (0, 0), sigma / k), (w, h), interpolation=cv2.INTER_LINEAR)


def bbox(pts: np.ndarray, grid: tuple[int, int], pad: int = 4) -> tuple[int, int, int, int]:
    x0, y0 = np.floor(pts.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int) + pad
    return max(0, int(x0)), max(0, int(y0)), min(grid[0], int(x1)), min(grid[1], int(y1))


def warp_raster(img: np.ndarray, ppmm: float, origin: tuple[float, float], hom: np.ndarray,
                roi: tuple[int, int, int, int]) -> np.ndarray:
    """Sample a raster on the sheet (`ppmm`, its pixel (0, 0) at `origin` mm) at the ROI's pixels."""
    half = 0.5 / ppmm
    s_inv = np.array([[1 / ppmm, 0, origin[0] + half], [0, 1 / ppmm, origin[1] + half], [0, 0, 1]])
    x0, y0, x1, y1 = roi
    m = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]]) @ hom @ s_inv
    return cv2.warpPerspective(img, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)


def band_limit(img: np.ndarray, ppmm: float, sigma_mm: float) -> tuple[np.ndarray, float]:
    """Filter a sheet raster by a Gaussian footprint of `sigma_mm` (box-downscaled first when
    the footprint spans many raster pixels); returns the raster and its new px per mm."""
    sig = sigma_mm * ppmm
    k = int(sig / 1.2) if sig > 1.8 else 1
    if k > 1:
        h, w = img.shape[:2]
        img = cv2.resize(img[: h - h % k, : w - w % k], (w // k, h // k), interpolation=cv2.INTER_AREA)
        ppmm, sig = ppmm / k, sig / k
    rest = math.sqrt(max(sig * sig - (1 / 12 if k > 1 else 0.0), 0.04))
    return cv2.GaussianBlur(img, (0, 0), rest), ppmm


def sheet_points(hom: np.ndarray, roi: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Sheet coordinates (mm) of the ROI's pixel centres."""
    x0, y0, x1, y1 = roi
    hinv = np.linalg.inv(hom).astype(np.float32)
    x = np.arange(x0, x1, dtype=np.float32)[None, :]
    y = np.arange(y0, y1, dtype=np.float32)[:, None]
    w = hinv[2, 0] * x + hinv[2, 1] * y + hinv[2, 2]
    u = (hinv[0, 0] * x + hinv[0, 1] * y + hinv[0, 2]) / w
    v = (hinv[1, 0] * x + hinv[1, 1] * y + hinv[1, 2]) / w
    return u.astype(np.float32), v.astype(np.float32)


def local_ppmm(hom: np.ndarray, at_mm: np.ndarray) -> float:
    p = np.array([[at_mm[0], at_mm[1], 1], [at_mm[0] + 1, at_mm[1], 1], [at_mm[0], at_mm[1] + 1, 1]]) @ hom.T
    p = p[:, :2] / p[:, 2:3]
    a, b = p[1] - p[0], p[2] - p[0]
    return math.sqrt(abs(float(a[0] * b[1] - a[1] * b[0])))


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0, 1)
    return x * x * (3 - 2 * x)


def reflection(light: Light, sheet: Sheet, kinv: np.ndarray, rot: np.ndarray, t: np.ndarray,
               roi: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray | None]:
    """What the sheet's clear top layer reflects (RGB radiance over the ROI) and, when the sheet
    has one, the optically variable patch's diffracted colour (same grid)."""
    x, y = _grid(*roi, cols=120)
    d = np.stack([x, y, np.ones_like(x)], -1) @ kinv.T
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    n = -rot[:, 2]
    if float(n @ t) > 0:  # the normal faces the camera
        n = -n
    v = -d
    cos_i = np.clip(v @ n, 1e-3, 1)
    r = 2 * cos_i[..., None] * n - v
    main = cct_rgb(light.cct, light.tint)

    def ang(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.arccos(np.clip((a * b).sum(-1), -1, 1))

    hood = math.radians(light.hood_deg)
    see = _smoothstep((ang(r, v) - hood) / math.radians(6))         # the kiosk's hood is dark

    def lobes(rough: float) -> np.ndarray:
        out = light.room_lum * see[..., None] * main
        for dirn, rad, lum, col in ((light.key_dir, light.key_radius_deg, light.key_lum, main),
                                    (light.window_dir, 14.0, light.window_lum, cct_rgb(light.cct2))):
            if lum <= 0:
                continue
            s2 = math.radians(rad) ** 2 + rough ** 2
            k = np.broadcast_to(np.array(dirn), r.shape)
            vis = _smoothstep((ang(k, v) - hood) / math.radians(4))
            peak = lum * math.radians(rad) ** 2 / s2
            out = out + (peak * vis * np.exp(-ang(r, k) ** 2 / (2 * s2)))[..., None] * col
        return out

    surf = sheet.surface
    fres = surf.f0 + (1 - surf.f0) * (1 - cos_i) ** 5
    spec = fres[..., None] * lobes(math.radians(max(surf.roughness_deg, 0.3)))
    size = (roi[2] - roi[0], roi[3] - roi[1])
    spec_full = cv2.resize(spec.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    if sheet.ovd_mm is None:
        return spec_full, None
    # A diffraction grating along the card's width: the colour sent to the camera follows the
    # reflected direction's component along it.
    s = r @ rot[:, 0] * 2.2 + r @ rot[:, 1] * 0.7 + float(sheet.params.get("ovd_phase", 0.0))
    hue = np.mod(s, 1.0)
    rgb = np.array([colorsys.hsv_to_rgb(float(hh), 0.75, 1.0) for hh in np.linspace(0, 1, 64)], np.float32)
    col = rgb[(hue * 63).astype(int)]
    ovd = 0.06 * col * lobes(math.radians(12)).mean(-1, keepdims=True)   # first-order efficiency
    return spec_full, cv2.resize(ovd.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)


def chromatic_aberration(img: np.ndarray, ca: float) -> np.ndarray:
    """Lateral CA: red imaged a little larger than green, blue a little smaller."""
    h, w = img.shape[:2]
    c = ((w - 1) / 2, (h - 1) / 2)
    out = img.copy()
    for ch, s in ((0, 1 + ca), (2, 1 - ca)):
        m = cv2.getRotationMatrix2D(c, 0, s)
        out[..., ch] = cv2.warpAffine(np.ascontiguousarray(img[..., ch]), m, (w, h), flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_REPLICATE)
    return out


def vignetting(grid: tuple[int, int], f: float, amount: float) -> np.ndarray:
    """Relative illumination, `1 - amount` at the corner of the full sensor's field."""
    w, h = grid
    x, y = _grid(0, 0, w, h, 64)
    corner2 = (0.25 + (STILL[1] / STILL[0] / 2) ** 2) / F_NORM ** 2
    r2 = (((x - (w - 1) / 2) / f) ** 2 + ((y - (h - 1) / 2) / f) ** 2) / corner2
    return cv2.resize((1 - amount * r2).astype(np.float32), grid, interpolation=cv2.INTER_LINEAR)
