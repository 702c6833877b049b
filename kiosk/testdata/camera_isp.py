"""The small camera's sensor and image processor, after the optics: raw mosaic to JPEG.

`develop(radiance, sensor, exposure, out_size, rng)` takes linear RGB radiance at
the sensor's sampling grid (already band-limited by the lens and the pixel
aperture, see camera_model) and returns what the camera delivers:

1. **Exposure**: the auto-exposure's scale (`meter`) times the radiance; the
   channels overlap (`crosstalk`: dye filters pass some of their neighbours'
   light), photosites clip at full well (speculars saturate).
2. **Bayer CFA** (RGGB): each photosite keeps one channel, so colour is sampled
   at half the pixel rate and fine patterns alias into colour moiré.
3. **Noise**: shot noise (Poisson, from the photosite's electrons: full well
   over the analogue gain, so a dim room is noisier) and read noise, then
   10-bit quantisation.
4. **White balance**: grey-world on the mosaic, applied only in part
   (`awb_adapt`: cameras keep some of a warm light's cast) and with an error.
5. **Demosaic** (OpenCV edge-aware), colour matrix (the inverse crosstalk,
   slightly off), chroma denoise (as ISPs do; it also softens colour moiré),
   luma sharpening, the ISP's scaler for the preview stream, a tone curve
   (sRGB with some contrast) and JPEG with 4:2:0 chroma.

Not modelled: rolling shutter, lens shading colour, hot pixels, defective
demosaic artefacts of a real ISP, temporal denoise, HDR.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from kiosk.testdata.harsh_scene import noise

RAW_MAX = 1023  # 10-bit raw


@dataclass(frozen=True)
class SensorParams:
    full_well_e: float              # electrons at saturation, one full-resolution photosite
    read_noise_e: float             # electrons rms
    gain: float                     # analogue gain (from the room's light: dim room, high gain)
    crosstalk: tuple[float, ...]    # 3x3 row-major: raw = M @ scene RGB
    ccm_error: float                # the ISP's colour matrix misses the inverse by this much
    awb_adapt: float                # share of the grey-world correction left undone (0..1)
    awb_err: tuple[float, float]    # log-errors of the red and blue gains
    ae_target: float                # mean linear luminance the auto-exposure aims at
    sharpen: float                  # unsharp-mask amount on luma
    chroma_nr: float                # sigma (sensor px) of the chroma denoise
    contrast: float                 # tone-curve S strength (0: plain sRGB)
    jpeg_preview: int
    jpeg_still: int


def draw_sensor(rng: random.Random, lux: float, cct: float) -> SensorParams:
    """A camera unit and its processing, for a room of `lux` lit at `cct` kelvin."""
    a, b = rng.uniform(0.08, 0.16), rng.uniform(0.03, 0.08)
    m = (1 - a - b, a, b, a * 0.8, 1 - 1.6 * a, a * 0.8, b, a * 1.2, 1 - b - a * 1.2)
    warm = max(0.0, min(1.0, (4500 - cct) / 1800))   # under warm light cameras keep more of the cast
    return SensorParams(
        full_well_e=rng.uniform(3500, 6500), read_noise_e=rng.uniform(1.8, 3.5),
        gain=float(np.clip(700 / lux * rng.uniform(0.8, 1.25), 1.0, 16.0)),
        crosstalk=m, ccm_error=rng.uniform(0.0, 0.05),
        awb_adapt=rng.uniform(0.05, 0.2) + warm * rng.uniform(0.1, 0.35),
        awb_err=(rng.gauss(0, 0.05), rng.gauss(0, 0.05)),
        ae_target=rng.uniform(0.13, 0.24), sharpen=rng.uniform(0.3, 1.0),
        chroma_nr=rng.uniform(0.8, 1.8), contrast=rng.uniform(0.0, 0.25),
        jpeg_preview=rng.randint(80, 95), jpeg_still=rng.randint(85, 95))


def matrix(sp: SensorParams) -> np.ndarray:
    return np.array(sp.crosstalk, np.float32).reshape(3, 3)


def meter(lin: np.ndarray, sp: SensorParams) -> float:
    """Auto-exposure: scale that brings the centre-weighted mean luminance to the target."""
    small = cv2.resize(lin, (64, 48), interpolation=cv2.INTER_AREA)
    y = small @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    yy, xx = np.mgrid[-1:1:48j, -1:1:64j]
    w = np.exp(-(xx ** 2 + yy ** 2) / 0.5)
    return float(sp.ae_target / max(float((y * w).sum() / w.sum()), 1e-4))


@cache
def _tone_lut(contrast: float) -> np.ndarray:
    x = np.linspace(0, 1, 4096)
    s = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    s = s + contrast * (s - 0.5) * s * (1 - s) * 4       # a gentle S: ISPs add contrast
    return np.clip(np.round(s * 255), 0, 255).astype(np.uint8)


def _mosaic(raw: np.ndarray) -> np.ndarray:
    """RGGB: one channel per photosite."""
    m = np.empty(raw.shape[:2], np.float32)
    m[0::2, 0::2] = raw[0::2, 0::2, 0]
    m[0::2, 1::2] = raw[0::2, 1::2, 1]
    m[1::2, 0::2] = raw[1::2, 0::2, 1]
    m[1::2, 1::2] = raw[1::2, 1::2, 2]
    return m


def _sites(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return m[0::2, 0::2], np.concatenate([m[0::2, 1::2].ravel(), m[1::2, 0::2].ravel()]), m[1::2, 1::2]


def develop(lin: np.ndarray, sp: SensorParams, scale: float, out_size: tuple[int, int],
            binning: float, jpeg_q: int, rng: random.Random) -> tuple[np.ndarray, dict]:
    """Linear radiance at the sensor grid -> RGB uint8 at `out_size`, through the whole pipeline.

    `binning`: photosites summed per sensor sample (4 for a 2x2-binned preview mode), which
    gathers that many times the electrons.
    """
    h, w = lin.shape[:2]
    raw = cv2.transform(lin * np.float32(scale), matrix(sp))
    m = np.clip(_mosaic(raw), 0, 1)
    electrons_full = sp.full_well_e * binning / sp.gain
    sigma = np.sqrt(m / electrons_full + (sp.read_noise_e * np.sqrt(binning) / sp.full_well_e / binning
                                          * sp.gain) ** 2)
    field = noise((h + 67, w + 61), 23)
    dy, dx = rng.randint(0, 67), rng.randint(0, 61)
    m = m + sigma * field[dy:dy + h, dx:dx + w]
    m = np.clip(np.round(m * RAW_MAX), 0, RAW_MAX) / RAW_MAX
    # Grey-world on unclipped photosites, partly applied and a little wrong.
    r, g, b = (float(np.mean(c[c < 0.98])) if np.any(c < 0.98) else 1.0 for c in _sites(m))
    adapt = 1 - sp.awb_adapt
    gr = (g / max(r, 1e-4)) ** adapt * np.exp(sp.awb_err[0])
    gb = (g / max(b, 1e-4)) ** adapt * np.exp(sp.awb_err[1])
    m[0::2, 0::2] *= gr
    m[1::2, 1::2] *= gb
    bayer = np.clip(m * 65535, 0, 65535).astype(np.uint16)
    rgb = cv2.cvtColor(bayer, cv2.COLOR_BayerRGGB2RGB_EA).astype(np.float32) / 65535
    ccm = np.linalg.inv(matrix(sp)) + np.float32(sp.ccm_error) * np.array(
        [[1, -1, 0], [0, 1, -1], [-1, 0, 1]], np.float32) * np.float32(rng.choice((-1, 1)))
    rgb = cv2.transform(rgb, ccm.astype(np.float32))
    ycc = cv2.cvtColor(np.clip(rgb, 0, 1), cv2.COLOR_RGB2YCrCb)
    y, cr, cb = cv2.split(ycc)
    cr = cv2.GaussianBlur(cr, (0, 0), sp.chroma_nr)
    cb = cv2.GaussianBlur(cb, (0, 0), sp.chroma_nr)
    y = y + np.float32(sp.sharpen) * (y - cv2.GaussianBlur(y, (0, 0), 1.0))
    rgb = cv2.cvtColor(cv2.merge([y, cr, cb]), cv2.COLOR_YCrCb2RGB)
    if (w, h) != out_size:
        rgb = cv2.resize(rgb, out_size, interpolation=cv2.INTER_AREA)
    idx = np.clip(rgb * 4095 + 0.5, 0, 4095).astype(np.uint16)
    out = _tone_lut(round(sp.contrast, 3))[idx]
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, jpeg_q])
    assert ok
    dec = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    assert dec is not None
    out = cv2.cvtColor(dec, cv2.COLOR_BGR2RGB)
    return out, {"wb_gains": [round(float(gr), 3), round(float(gb), 3)], "jpeg_q": jpeg_q}
