"""Is this the original card? Photocopy, screen and print checks on a straightened crop.

Pure functions: an RGB numpy image of the card face (straightened to ID-1,
ideally the 1024 x 646 crop the card finder produces) in, an
:class:`IntegrityResult` out. No Qt, no camera, no file I/O.

Three physical cues, explained in docs/integrity.md:

* **Colour** — a grey toner photocopy has no colour of its own: whatever
  chroma its photograph shows comes from the light (a warm lamp, a window on
  one side, a white balance left partly undone), and light changes slowly
  across a card. So the card is white-balanced *locally* — in linear RGB, each
  pixel divided by the chromaticity of its blurred surroundings (a sixth of
  the card's width) — and what colour is left (the 99th percentile of Lab
  chroma on a lightly smoothed 256-px copy) is the card's own: a genuine card's
  coloured print keeps it, a grey copy's is gone under any cast.
* **Periodic structure** — a phone/monitor shows the card through a regular
  pixel grid, and a printer renders it through a regular halftone dot screen.
  Both put sharp, isolated peaks in the 2-D power spectrum (directly, or as a
  moiré after the camera resamples them). A real card's print (offset/dye
  sublimation under a laminate, photographed) and its content (text,
  guilloche, QR modules placed at random) give a smooth spectrum. We average
  the spectra of many overlapping tiles (Welch's method: a pattern covering the
  whole surface adds up coherently, content does not) and measure how far the
  strongest peak rises above its spectral neighbourhood.
* **Tone range and cast** — to tell a screen from a print once a periodic
  pattern is found: ink on paper cannot reach a deep black (washed-out blacks),
  while a backlit screen has a cool (blue) cast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import scipy.fft

# Verdicts.
OK = "ok"
PHOTOCOPY = "photocopy"
SCREEN = "screen"
PRINT = "print"
VERDICTS = (OK, PHOTOCOPY, SCREEN, PRINT)

REASONS = {
    OK: "",
    PHOTOCOPY: "Parece una fotocopia en blanco y negro: presente la credencial original.",
    SCREEN: "Parece una credencial mostrada en una pantalla: presente la credencial original.",
    PRINT: "Parece una impresión o fotografía impresa de la credencial: presente la credencial original.",
}

# Thresholds (see docs/integrity.md for how they were chosen and what they mean).
LOCAL_CHROMA_MIN = 7.0     # own colour (Lab chroma, 99th pct, after local white balance) below this: grey
PERIODIC_PEAK_MIN = 3.0    # ln(power / neighbourhood median) of the strongest spectral peak
PRINT_BLACK_MIN = 0.22     # darkest / brightest level above this: ink on paper, not a screen
SCREEN_CAST_MAX = -6.0     # mean Lab b* below this (strongly blue) with a periodic pattern: a screen

_TILE = 64
_MIN_FREQ = 0.08  # cycles/pixel: below this the spectrum is the card's own layout


@dataclass(frozen=True, slots=True)
class IntegrityResult:
    verdict: str                        # one of VERDICTS
    reason: str                         # Spanish, for the UI; "" when ok
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.verdict == OK



def _prepare(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError("se esperaba una imagen RGB (alto x ancho x 3)")
    h, w = rgb.shape[:2]
    if w < 256 or h < 160:
        raise ValueError(f"imagen de la credencial demasiado pequeña ({w}x{h})")
    if rgb.dtype != np.uint8:
        rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    return rgb


def chroma_spread(rgb: np.ndarray) -> float:
    """90th percentile of chroma around the mean colour, scaled to full brightness.

    Computed on a 4x-downsampled image (averages out sensor and JPEG chroma noise).
    """
    small = cv2.resize(rgb, (rgb.shape[1] // 4, rgb.shape[0] // 4), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    ab = lab[..., 1:].reshape(-1, 2) - 128.0
    ab -= np.median(ab, axis=0)
    c = np.hypot(ab[:, 0], ab[:, 1])
    bright = max(float(np.percentile(lab[..., 0], 99)), 20.0) / 255.0
    return float(np.percentile(c, 90) / bright)


def _linear(x: np.ndarray) -> np.ndarray:
    x = x / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def _srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0, 1)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055) * 255


def own_chroma(rgb: np.ndarray) -> float:
    """The card's own colour once the light's is taken out: 99th percentile of Lab chroma after
    a local white balance (each pixel over its surroundings' chromaticity, in linear RGB)."""
    w = 256
    small = cv2.resize(rgb, (w, max(1, round(w * rgb.shape[0] / rgb.shape[1]))),
                       interpolation=cv2.INTER_AREA).astype(np.float32)
    lin = _linear(small) + 1e-4
    around = cv2.GaussianBlur(lin, (0, 0), w / 6)
    balanced = lin / (around / around.mean(axis=2, keepdims=True))
    balanced = cv2.GaussianBlur(balanced, (0, 0), 1.5)  # demosaic and JPEG chroma noise
    peak = max(float(np.percentile(balanced, 99)), 1e-3)
    out = _srgb(balanced / peak).astype(np.uint8)
    ab = cv2.cvtColor(out, cv2.COLOR_RGB2LAB)[..., 1:].reshape(-1, 2).astype(np.float32) - 128.0
    return float(np.percentile(np.hypot(ab[:, 0], ab[:, 1]), 99))


def periodic_peak(gray: np.ndarray, tile: int = _TILE) -> tuple[float, float]:
    """Prominence (natural log) and frequency (cycles/px) of the strongest periodic peak.

    High-pass the image, average the power spectra of half-overlapping Hann-windowed
    tiles, and compare each bin above ``_MIN_FREQ`` with the median of its 7x7
    neighbourhood.
    """
    g = gray.astype(np.float32)
    hp = g - cv2.GaussianBlur(g, (0, 0), 2)
    h, w = hp.shape
    step = tile // 2
    ys = range(0, h - tile + 1, step)
    xs = range(0, w - tile + 1, step)
    tiles = np.stack([hp[y:y + tile, x:x + tile] for y in ys for x in xs])
    tiles -= tiles.mean(axis=(1, 2), keepdims=True)
    win = np.outer(np.hanning(tile), np.hanning(tile)).astype(np.float32)
    half = (np.abs(scipy.fft.rfft2(tiles * win, workers=1)) ** 2).mean(axis=0)  # tile x (tile//2+1)
    # The power spectrum of a real image is symmetric: P(-u, -v) = P(u, v).
    full = np.empty((tile, tile), np.float64)
    full[:, : half.shape[1]] = half
    k = np.arange(half.shape[1], tile)
    full[:, k] = half[(-np.arange(tile)) % tile][:, tile - k]
    lp = np.log(np.fft.fftshift(full) + 1e-6).astype(np.float32)
    # Median of each bin's 7x7 neighbourhood, with wrap-around (the spectrum is periodic).
    pad = np.pad(lp, 3, mode="wrap")
    win_view = np.lib.stride_tricks.sliding_window_view(pad, (7, 7))
    bg = np.median(win_view.reshape(tile, tile, 49), axis=2)
    f = np.fft.fftshift(np.fft.fftfreq(tile))
    r = np.hypot(f[:, None], f[None, :])
    prom = np.where(r > _MIN_FREQ, lp - bg, -np.inf)
    i = int(np.argmax(prom))
    return float(prom.flat[i]), float(r.flat[i])


def tone_stats(rgb: np.ndarray) -> tuple[float, float]:
    """(black ratio = 1st / 99.5th percentile of grey, mean Lab b* = yellow(+)/blue(-) cast)."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    small = gray[::2, ::2]
    lo, hi = np.percentile(small, [1, 99.5])
    lab_b = cv2.cvtColor(rgb[::4, ::4], cv2.COLOR_RGB2LAB)[..., 2].astype(np.float32) - 128.0
    return float(lo / max(hi, 1.0)), float(lab_b.mean())


def check_integrity(card: np.ndarray) -> IntegrityResult:
    """Classify a straightened card face (RGB) as ``ok``, ``photocopy``, ``screen`` or ``print``.

    Works on either side of the card. The image should be the card only (no
    background), at least 256 px wide; 1024 x 646 is what it was tuned on.
    """
    rgb = _prepare(card)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    chroma = chroma_spread(rgb)
    own = own_chroma(rgb)
    peak, freq = periodic_peak(gray)
    black, cast_b = tone_stats(rgb)
    scores = {"own_chroma": own, "chroma_spread": chroma, "periodic_peak": peak, "peak_freq": freq,
              "black_ratio": black, "cast_b": cast_b}
    if own < LOCAL_CHROMA_MIN:
        verdict = PHOTOCOPY  # toner copies are often halftoned too: grey is the stronger cue
    elif peak >= PERIODIC_PEAK_MIN:
        verdict = PRINT if black >= PRINT_BLACK_MIN and cast_b >= SCREEN_CAST_MAX else SCREEN
    else:
        verdict = OK
    return IntegrityResult(verdict, REASONS[verdict], scores)
