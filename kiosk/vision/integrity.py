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
  sublimation under a laminate, photographed) and most of its content (text,
  guilloche) give a smooth spectrum. We average the spectra of many overlapping
  tiles (Welch's method: a pattern covering the whole surface adds up coherently,
  content does not) and measure how far the strongest peak rises above its
  spectral neighbourhood — and whether it does so in most regions of the card on
  their own: a card's QR code or bar block has a module grid too, but only where
  it is printed.
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
PERIODIC_PEAK_MIN = 3.0    # ln(power / neighbourhood median) of the strongest spectral peak ...
COVERAGE_MIN = 0.75        # ... standing out on its own in at least this share of the card's regions
PRINT_BLACK_MIN = 0.22     # darkest / brightest level above this: ink on paper, not a screen
SCREEN_CAST_MAX = -6.0     # mean Lab b* below this (strongly blue) with a periodic pattern: a screen

_TILE = 64
_MIN_FREQ = 0.08  # cycles/pixel: below this the spectrum is the card's own layout
_LATTICE_DEG = 30.0        # two peaks this far apart in orientation are two directions of a lattice
_REGIONS = (3, 4)          # rows x columns of the card, for coverage
_REGION_PEAK_MIN = 1.5     # a region's prominence at the strongest peak's frequency to count as covered
_MAX_TILES = 640           # a larger crop gets sparser tiles, not more of them
_MAX_CANDIDATES = 8        # peaks looked at for a lattice's second direction


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


def linear_rgb(x: np.ndarray) -> np.ndarray:
    """sRGB values 0-255 to linear light 0-1 (float32 in, float32 out)."""
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
    lin = linear_rgb(small) + 1e-4
    around = cv2.GaussianBlur(lin, (0, 0), w / 6)
    balanced = lin / (around / around.mean(axis=2, keepdims=True))
    balanced = cv2.GaussianBlur(balanced, (0, 0), 1.5)  # demosaic and JPEG chroma noise
    peak = max(float(np.percentile(balanced, 99)), 1e-3)
    out = _srgb(balanced / peak).astype(np.uint8)
    ab = cv2.cvtColor(out, cv2.COLOR_RGB2LAB)[..., 1:].reshape(-1, 2).astype(np.float32) - 128.0
    return float(np.percentile(np.hypot(ab[:, 0], ab[:, 1]), 99))


@dataclass(frozen=True, slots=True)
class Periodicity:
    """The strongest spectral peak of a card crop and how much it looks like a medium's lattice."""

    peak: float       # prominence (ln of power over its neighbourhood's median) of the strongest peak
    freq: float       # its frequency, cycles/px
    lattice: float    # prominence of the strongest peak >= _LATTICE_DEG off it that covers the card too
    coverage: float   # share of the card's regions in which the strongest peak stands out on its own


def _tile_spectra(gray: np.ndarray, tile: int) -> tuple[np.ndarray, np.ndarray]:
    """Half power spectra (rfft2, not fftshifted) of Hann-windowed tiles of the high-passed
    image, and each tile's region index (a _REGIONS grid over the card). Tiles overlap by half
    on a 1024-px crop; on a larger one they are spaced so their number (the cost) stays about
    the same."""
    g = gray.astype(np.float32)
    hp = g - cv2.GaussianBlur(g, (0, 0), 2)
    h, w = hp.shape
    step = max(tile // 2, int(np.ceil(np.sqrt((h - tile) * (w - tile) / _MAX_TILES))))
    ys = np.arange(0, h - tile + 1, step)
    xs = np.arange(0, w - tile + 1, step)
    tiles = np.stack([hp[y:y + tile, x:x + tile] for y in ys for x in xs])
    tiles -= tiles.mean(axis=(1, 2), keepdims=True)
    win = np.outer(np.hanning(tile), np.hanning(tile)).astype(np.float32)
    power = np.abs(scipy.fft.rfft2(tiles * win, workers=1)) ** 2
    rows, cols = _REGIONS
    ry = np.minimum((ys + tile / 2) * rows // h, rows - 1).astype(int)
    rx = np.minimum((xs + tile / 2) * cols // w, cols - 1).astype(int)
    region = (ry[:, None] * cols + rx[None, :]).ravel()
    return power, region


def _whole(half: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bins (rows, cols) of full, unshifted spectra from their rfft2 halves (last two axes):
    a real image's power spectrum is symmetric, P(-u, -v) = P(u, v)."""
    tile = half.shape[-2]
    r, c = np.meshgrid(rows % tile, cols % tile, indexing="ij")
    stored = c <= tile // 2
    return half[..., np.where(stored, r, -r % tile), np.where(stored, c, -c % tile)]


def _log_and_background(spectrum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ln power and the median of each bin's 7x7 neighbourhood (wrapping: the spectrum is periodic)."""
    tile = spectrum.shape[0]
    lp = np.log(spectrum + 1e-6).astype(np.float32)
    pad = np.pad(lp, 3, mode="wrap")
    win_view = np.lib.stride_tricks.sliding_window_view(pad, (7, 7))
    return lp, np.median(win_view.reshape(tile, tile, 49), axis=2)


def _local_peaks(prom: np.ndarray) -> list[tuple[float, int, int]]:
    """Local maxima (3x3, wrapping) of a prominence map on one half-plane, strongest first."""
    tile = prom.shape[0]
    finite = np.where(np.isfinite(prom), prom, -1e9)
    pad = np.pad(finite, 1, mode="wrap")
    top = np.lib.stride_tricks.sliding_window_view(pad, (3, 3)).max(axis=(2, 3))
    # P(-u, -v) = P(u, v): keep one of each pair (row tile//2 is frequency 0, row 0 is -0.5).
    i, j = np.indices(prom.shape)
    half = (i > tile // 2) | (((i == tile // 2) | (i == 0)) & ((j >= tile // 2) | (j == 0)))
    ii, jj = np.nonzero((finite >= top) & half & (finite > 0))
    return sorted(((float(prom[a, b]), int(a), int(b)) for a, b in zip(ii, jj, strict=True)), reverse=True)


def _orientation(i: int, j: int, tile: int) -> float:
    return float(np.degrees(np.arctan2(i - tile // 2, j - tile // 2)) % 180.0)


def periodicity(gray: np.ndarray, tile: int = _TILE) -> Periodicity:
    """The strongest periodic peak above ``_MIN_FREQ`` and two tests that it is a medium's.

    High-pass the image and average the power spectra of Hann-windowed tiles (Welch: a
    pattern covering the whole surface adds up coherently, content does not); a bin's
    prominence is its ln power over the median of its 7x7 neighbourhood.

    A halftone screen or a pixel grid covers the sheet: its peak stands out in the spectrum
    of each region of the card on its own (``coverage``), whereas a card's own fine
    structure (a QR code's module grid, a bar block) sits in a part of it. It is also a 2-D
    lattice: there is a second peak, covering the card as well, in a clearly different
    orientation (``lattice``), which parallel lines lack. Only coverage enters the verdict:
    under the camera model an LCD's stripes often show one direction only (docs/integrity.md).
    """
    spectra, region = _tile_spectra(gray, tile)
    every = np.arange(tile)
    lp, bg = _log_and_background(np.fft.fftshift(_whole(spectra.mean(axis=0), every, every)))
    f = np.fft.fftshift(np.fft.fftfreq(tile))
    r = np.hypot(f[:, None], f[None, :])
    prom = np.where(r > _MIN_FREQ, lp - bg, -np.inf)
    peaks = _local_peaks(prom)
    if not peaks:
        return Periodicity(0.0, 0.0, 0.0, 0.0)
    top, i, j = peaks[0]
    angle = _orientation(i, j, tile)
    lattice = 0.0
    for p, a, b in peaks[1:_MAX_CANDIDATES]:
        d = abs(_orientation(a, b, tile) - angle)
        if min(d, 180.0 - d) >= _LATTICE_DEG and _coverage(spectra, region, a, b) >= COVERAGE_MIN:
            lattice = p
            break
    return Periodicity(top, float(r[i, j]), lattice, _coverage(spectra, region, i, j))


def _coverage(spectra: np.ndarray, region: np.ndarray, i: int, j: int) -> float:
    """Share of the card's regions whose own spectrum shows the peak at bin (i, j) (fftshifted
    indices): the prominence of the best of its 3x3 bins, each over the median of its 7x7
    neighbourhood."""
    tile = spectra.shape[1]
    near = np.arange(-4, 5) + tile // 2   # unshifted spectra: shift the indices instead
    patch = _whole(spectra, near + i, near + j).reshape(len(region), 81)
    member = (region[None, :] == np.unique(region)[:, None]).astype(np.float32)
    lp = np.log((member @ patch) / member.sum(axis=1, keepdims=True) + 1e-6).reshape(-1, 9, 9)
    bg = np.median(np.lib.stride_tricks.sliding_window_view(lp, (7, 7), axis=(1, 2)), axis=(3, 4))
    return float(np.mean((lp[:, 3:6, 3:6] - bg).max(axis=(1, 2)) >= _REGION_PEAK_MIN))


def periodic_peak(gray: np.ndarray, tile: int = _TILE) -> tuple[float, float]:
    """Prominence (natural log) and frequency (cycles/px) of the strongest periodic peak."""
    p = periodicity(gray, tile)
    return p.peak, p.freq


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
    background), at least 256 px wide; 1024 x 646 is what it was tuned on. A larger
    crop is analysed whole, with sparser tiles, at about the same cost.
    """
    rgb = _prepare(card)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    chroma = chroma_spread(rgb)
    own = own_chroma(rgb)
    per = periodicity(gray)  # the strongest peak, on the whole crop (see _tile_spectra for large ones)
    black, cast_b = tone_stats(rgb)
    scores = {"own_chroma": own, "chroma_spread": chroma, "periodic_peak": per.peak, "peak_freq": per.freq,
              "lattice_peak": per.lattice, "peak_coverage": per.coverage,
              "black_ratio": black, "cast_b": cast_b}
    medium = per.peak >= PERIODIC_PEAK_MIN and per.coverage >= COVERAGE_MIN  # a sheet's, not the card's
    if own < LOCAL_CHROMA_MIN:
        verdict = PHOTOCOPY  # toner copies are often halftoned too: grey is the stronger cue
    elif medium:
        verdict = PRINT if black >= PRINT_BLACK_MIN and cast_b >= SCREEN_CAST_MAX else SCREEN
    else:
        verdict = OK
    return IntegrityResult(verdict, REASONS[verdict], scores)
