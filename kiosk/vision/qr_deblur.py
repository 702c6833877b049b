"""Small, blurred QR codes: where the card prints them, deblurred at the camera's own resolution.

On a card photographed at 4.5-8 px per mm a module is 1.5-3 px, and a little defocus or a shaken
hand smears it past what a binariser can undo: zxing-cpp then does not even locate the symbol.
The card's layout says where to look (docs/credential.md section 10: the dense codes at the top
left, the public code at the top left on E/F and right of the middle on G/H). For each place:

 1. the place is cut from the *source* image, the camera frame when the frame-to-card homography
    is known (the straightened crop was resampled once already, which smears a 1.5 px module
    further), else the crop brought back to about a camera's scale;
 2. the blur's direction is read from the gradients' structure tensor (a sharp QR's gradients are
    isotropic, its two axes carrying equal energy; a motion blur removes the energy along its
    direction), and Wiener deconvolution is tried with a few point spread functions: defocus
    (Gaussian) and motion along that direction, of a few lengths;
 3. each result is warped to the card's frame at ~20 px per mm (~6 px per module) and decoded by
    zxing-cpp, which checks the Reed-Solomon code words: a wrong PSF gives no read, never a
    wrong one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import cv2
import numpy as np

CARD_MM = 85.6                 # ID-1 width
OUT_PX_PER_MM = 20.0           # the rectified view zxing reads: ~6 px per 0.3 mm module
MARGIN = 0.22                  # around a code's printed place, of its side (outline error, quiet zone)
WIENER_K = 0.01                # noise-to-signal of the Wiener filter (grey levels 0-255)
LENS_SIGMA = 0.5               # the lens's own blur, under a motion blur
MAX_SOURCE_PX_PER_MM = 10.0    # a source sharper than this is resampled first...
SOURCE_PX_PER_MM = 7.0         # ...to this
DEFOCUS_SIGMAS = (0.9, 1.3)
MOTION_LENGTHS = (3.5, 2.5, 4.5, 5.5)
ANGLE_STEPS = (0.0, -12.0, 12.0)  # degrees around the tensor's estimate
ISOTROPIC = 0.7                # eigenvalue ratio above which the blur is taken for defocus first
# Where E-H backs print their codes, (x, y, side) as fractions of the card's width / height /
# width; the first place holds E/F's single code as well as G/H's first dense one.
PLACES = ((0.04, 0.06, 0.252), (0.31, 0.06, 0.252), (0.82, 0.40, 0.139))

Box = tuple[float, float, float]          # x, y, side in crop px


def places(card_w: int, card_h: int, upright: bool | None) -> list[Box]:
    """The code places on the straightened card; both ways up unless the orientation is known."""
    out: list[Box] = []
    turns = (False, True) if upright is None else ((False,) if upright else (True,))
    for turned in turns:
        for fx, fy, fs in PLACES:
            side = (fs + 2 * MARGIN * fs) * card_w
            x, y = (fx - MARGIN * fs) * card_w, fy * card_h - MARGIN * fs * card_w
            if turned:
                x, y = card_w - x - side, card_h - y - side
            out.append((x, y, side))
    return out


def _psf_gauss(sigma: float) -> np.ndarray:
    n = math.ceil(3 * sigma) * 2 + 1
    k = cv2.getGaussianKernel(n, sigma)
    return (k @ k.T).astype(np.float32)


def _psf_motion(length: float, angle: float) -> np.ndarray:
    n = math.ceil(length) * 2 + 7
    k = np.zeros((n, n), np.float32)
    c, d = n // 2, np.array([math.cos(angle), math.sin(angle)]) * length / 2
    cv2.line(k, (round((c - d[0]) * 16), round((c - d[1]) * 16)),
             (round((c + d[0]) * 16), round((c + d[1]) * 16)), 1.0, 1, cv2.LINE_AA, 4)
    soft = cv2.GaussianBlur(k, (0, 0), LENS_SIGMA).astype(np.float32)
    return soft / soft.sum()


def _wiener(g: np.ndarray, psf: np.ndarray) -> np.ndarray:
    h, w = g.shape
    pad = np.zeros((h, w), np.float32)
    ph, pw = psf.shape
    pad[:ph, :pw] = psf
    pad = np.roll(pad, (-(ph // 2), -(pw // 2)), (0, 1))
    hf = np.fft.rfft2(pad)
    out = np.fft.irfft2(np.fft.rfft2(g) * np.conj(hf) / (np.abs(hf) ** 2 + WIENER_K), s=(h, w))
    return out.astype(np.float32)


def blur_direction(g: np.ndarray) -> tuple[float, float]:
    """(angle of the least gradient energy in radians, smallest / largest eigenvalue)."""
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1)
    a, b, c = float((gx * gx).mean()), float((gx * gy).mean()), float((gy * gy).mean())
    ev, vec = np.linalg.eigh(np.array([[a, b], [b, c]]))
    v = vec[:, 0]
    return math.atan2(float(v[1]), float(v[0])) % math.pi, float(ev[0] / max(ev[1], 1e-6))


def _psfs(g: np.ndarray) -> list[tuple[str, np.ndarray | None]]:
    angle, ratio = blur_direction(g)
    defocus: list[tuple[str, np.ndarray | None]] = [
        (f"desenfoque_{s}", _psf_gauss(s)) for s in DEFOCUS_SIGMAS]
    motion: list[tuple[str, np.ndarray | None]] = [
        (f"movido_{ln}", _psf_motion(ln, angle + math.radians(da)))
        for da in ANGLE_STEPS for ln in MOTION_LENGTHS]
    first, second = (defocus, motion) if ratio > ISOTROPIC else (motion, defocus)
    return [("tal_cual", None), *first, *second]


def deblurred_views(src: np.ndarray, to_card: np.ndarray, box: Box, card_w: int
                    ) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """For one place (crop px): (stage, rectified grey view, view px -> crop px), one per PSF.

    `src` is the grey source image, `to_card` its homography to the pixels of the crop, a card
    `card_w` px wide."""
    x, y, side = box
    s = OUT_PX_PER_MM * CARD_MM / card_w             # view px per crop px
    n = max(32, round(side * s))
    to_view_card = np.array([[s, 0, -x * s], [0, s, -y * s], [0, 0, 1]], np.float64)
    to_view = to_view_card @ to_card
    corners = np.array([[[0, 0], [n, 0], [n, n], [0, n]]], np.float32)
    try:
        c = cv2.perspectiveTransform(corners, np.linalg.inv(to_view))[0]
    except np.linalg.LinAlgError:
        return                                        # a degenerate homography: nothing to cut
    if not np.isfinite(c).all():
        return
    h, w = src.shape[:2]
    x0, y0 = (int(v) - 8 for v in np.floor(c.min(0)))
    x1, y1 = (int(v) + 8 for v in np.ceil(c.max(0)))
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 - x0 < 16 or y1 - y0 < 16:
        return
    sub = src[y0:y1, x0:x1].astype(np.float32)
    warp = to_view @ np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], np.float64)
    # The PSFs are sized for a camera's 4.5-8 px per mm: a sharper source (a high-resolution
    # frame) is brought down to that first, else its blur is wider than every guess.
    place_mm = side / card_w * CARD_MM
    ppmm = math.sqrt(abs(float(cv2.contourArea(c.astype(np.float32))))) / max(place_mm, 1e-6)
    if ppmm > MAX_SOURCE_PX_PER_MM:
        f = SOURCE_PX_PER_MM / ppmm
        sub = np.asarray(cv2.resize(sub, (max(16, round(sub.shape[1] * f)), max(16, round(sub.shape[0] * f))),
                                    interpolation=cv2.INTER_AREA), np.float32)
        fx, fy = sub.shape[1] / (x1 - x0), sub.shape[0] / (y1 - y0)
        warp = warp @ np.array([[1 / fx, 0, 0], [0, 1 / fy, 0], [0, 0, 1]], np.float64)
    back = np.linalg.inv(to_view_card)
    for stage, psf in _psfs(sub):
        img = sub if psf is None else _wiener(sub, psf)
        view = cv2.warpPerspective(img, warp, (n, n), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        yield stage, np.clip(view, 0, 255).astype(np.uint8), back
