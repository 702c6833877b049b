"""Card vision figures: live-frame cost, QR decode rate, MRZ read rate.

    .venv/bin/python bench/bench_vision.py [N]      (N frames per set, default 60)

1. ms per frame for the live path (find card + quality + fast QR on a 768-px crop) at
   1280x720 and 1920x1080 (the 720p frames scaled up), single-threaded OpenCV.
2. QR decode rate (codes found / codes present) and ms per image on hard frames
   (tests.helpers.vision.HARD): ours (kiosk.vision.qr.decode_qr on crop then frame)
   against plain zxing-cpp and plain pyzbar on the whole frame.
3. MRZ read rate (three lines exact with valid check digits) and ms per card on the
   straightened crops of the same frames: our OCR-B template reader against Debian's
   Tesseract 5 (`tesseract --psm 6` with the MRZ alphabet as whitelist, on the MRZ band of
   the crop, lines kept only if they are 30 characters).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import zxingcpp
from pyzbar import pyzbar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kiosk.mrz import parse as M
from kiosk.mrz.reader import read_mrz
from kiosk.vision.card import find_card, straighten
from kiosk.vision.qr import decode_qr
from kiosk.vision.quality import assess_frame
from tests.helpers.vision import HARD, genuine_back_frames, truth_payloads


def _ms(fn, reps: int = 1) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps * 1000


LIVE_CROP = (768, 485)      # the live QR check works on a smaller straightened card


def live_frame(img: np.ndarray) -> None:
    c = find_card(img)
    assess_frame(img, c)
    if c is not None and not c.touches_border:
        decode_qr(None, straighten(img, c.corners, LIVE_CROP), fast=True)


def bench_live(frames: list[np.ndarray]) -> None:
    print("1. live frame: find card + quality + fast QR (ms per frame, median / p90)")
    for label, scale in (("1280x720", 1.0), ("1920x1080", 1.5)):
        imgs = [f if scale == 1.0 else cv2.resize(f, None, fx=scale, fy=scale) for f in frames]
        live_frame(imgs[0])
        parts: dict[str, list[float]] = defaultdict(list)
        cpu0 = time.process_time()
        for img in imgs:
            t0 = time.perf_counter()
            c = find_card(img)
            t1 = time.perf_counter()
            assess_frame(img, c)
            t2 = time.perf_counter()
            if c is not None and not c.touches_border:
                decode_qr(None, straighten(img, c.corners, LIVE_CROP), fast=True)
            t3 = time.perf_counter()
            parts["find"].append((t1 - t0) * 1000)
            parts["quality"].append((t2 - t1) * 1000)
            parts["qr"].append((t3 - t2) * 1000)
            parts["total"].append((t3 - t0) * 1000)
        cpu = (time.process_time() - cpu0) / len(imgs) * 1000
        row = ", ".join(f"{k} {np.median(v):.1f}/{np.percentile(v, 90):.1f}" for k, v in parts.items())
        print(f"   {label}: {row}; CPU time {cpu:.1f} ms per frame")


def _zxing(img: np.ndarray) -> set[bytes]:
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return {bytes(r.bytes) for r in zxingcpp.read_barcodes(g, formats=zxingcpp.BarcodeFormat.QRCode)}


def _zbar(img: np.ndarray) -> set[bytes]:
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    out = set()
    for r in pyzbar.decode(g, symbols=[pyzbar.ZBarSymbol.QRCODE]):
        out.add(r.data)
        with contextlib.suppress(UnicodeDecodeError, UnicodeEncodeError):
            out.add(r.data.decode("utf-8").encode("latin-1"))
    return out


def _ours(img: np.ndarray) -> set[bytes]:
    c = find_card(img)
    crop = straighten(img, c.corners) if c is not None and not c.touches_border else None
    return set(decode_qr(img, crop).payloads)


def bench_qr(frames) -> None:  # type: ignore[no-untyped-def]
    print("2. QR decode rate (codes read / present) and ms per image, hard frames")
    stats: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0.0]))
    for f in frames:
        want = truth_payloads(f.truth)
        for name, fn in (("ours", _ours), ("zxing-cpp", _zxing), ("pyzbar", _zbar)):
            t = time.perf_counter()
            got = fn(f.image)
            ms = (time.perf_counter() - t) * 1000
            for key in (f.effects[0], "ALL"):
                s = stats[key][name]
                s[0] += len(want & got)
                s[1] += len(want)
                s[2] += ms
    n_by = defaultdict(int)
    for f in frames:
        n_by[f.effects[0]] += 1
    n_by["ALL"] = len(frames)
    print(f"   {'kind':<12} {'ours':>16} {'zxing-cpp':>16} {'pyzbar':>16}")
    for key in [*HARD, "ALL"]:
        cells = []
        for name in ("ours", "zxing-cpp", "pyzbar"):
            ok, tot, ms = stats[key][name]
            cells.append(f"{ok / max(tot, 1):5.2f} {ms / n_by[key]:6.1f}ms")
        print(f"   {key:<12} " + " ".join(f"{c:>16}" for c in cells))


def _tesseract(crop: np.ndarray) -> list[str] | None:
    g = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    h, w = g.shape
    band = g[int(0.64 * h):int(0.98 * h), int(0.03 * w):int(0.97 * w)]
    _, png = cv2.imencode(".png", band)
    r = subprocess.run(["tesseract", "stdin", "stdout", "--psm", "6", "-c",
                        "tessedit_char_whitelist=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"],
                       input=png.tobytes(), capture_output=True, timeout=60)
    lines = [ln.replace(" ", "") for ln in r.stdout.decode().splitlines() if ln.strip()]
    lines = [ln for ln in lines if len(ln) == 30]
    return lines[-3:] if len(lines) >= 3 else None


def bench_mrz(frames) -> None:  # type: ignore[no-untyped-def]
    print("3. MRZ: three lines exact with valid check digits, ms per card (straightened crop)")
    crops = []
    for f in frames:
        c = find_card(f.image)
        if c is not None and not c.touches_border:
            crops.append((f, straighten(f.image, c.corners)))
    readers = [("ours (OCR-B templates)", lambda crop: (lambda r: None if r is None or not r.checks_ok
                                                          else list(r.lines))(read_mrz(crop)))]
    if shutil.which("tesseract"):
        readers.append(("tesseract 5 --psm 6", _tesseract))
    for name, fn in readers:
        ok, wrong_but_valid, ms, by_kind = 0, 0, [], defaultdict(lambda: [0, 0])
        for f, crop in crops:
            t = time.perf_counter()
            lines = fn(crop)
            ms.append((time.perf_counter() - t) * 1000)
            right = lines == f.truth["mrz"]
            if lines is not None and not right:
                with contextlib.suppress(M.MrzFormatError):
                    wrong_but_valid += M.parse_td1(lines).valid
            ok += right
            by_kind[f.effects[0]][0] += right
            by_kind[f.effects[0]][1] += 1
        kinds = " ".join(f"{k} {a}/{b}" for k, (a, b) in by_kind.items())
        print(f"   {name}: {ok}/{len(crops)} = {ok / max(len(crops), 1):.3f}, "
              f"median {np.median(ms):.1f} ms; wrong lines passing the check digits: {wrong_but_valid}")
        print(f"      by kind: {kinds}")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    cv2.setNumThreads(1)
    load = Path("/proc/loadavg").read_text().split()[0]
    print(f"load average {load} on {len(os.sched_getaffinity(0))} cores (other work inflates wall times)")
    print(f"generating {n} hard back frames (tests/helpers/vision.py) ...", flush=True)
    frames = genuine_back_frames(list(range(7000, 7000 + n)), kinds=HARD)
    bench_live([f.image for f in frames])
    bench_qr(frames)
    bench_mrz(frames)


if __name__ == "__main__":
    main()
