"""Camera delivery benchmark on the replay backend (no hardware needed).

For 1280x720 and 1920x1080 synthetic frames, replayed at a target rate and
unthrottled, prints the achieved fps, the delivery latency from the backend
handing a frame over to (a) a CallbackOutput on the camera thread, (b) a
ThreadedOutput consumer thread and (c) a latest_frame() poller, and the
cost of the BGR->RGB conversion the Pi backend does per frame.

    .venv/bin/python bench/bench_camera.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from hardware.camera import CallbackOutput, Camera, CameraError, ThreadedOutput
from hardware.camera.pi import to_rgb
from hardware.camera.replay import ReplayBackend


def make_frames(d: Path, size: tuple[int, int], n: int = 8) -> Path:
    rng = np.random.default_rng(0)
    w, h = size
    d.mkdir(parents=True)
    for i in range(n):
        img = rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8)
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
        cv2.putText(img, f"{i}", (w // 3, h // 2), cv2.FONT_HERSHEY_SIMPLEX, 8, (255, 255, 255), 12)
        cv2.imwrite(str(d / f"{i:03d}.png"), img)
    return d


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def run(folder: Path, fps: float, seconds: float) -> dict[str, object]:
    cb_lat: list[float] = []
    th_lat: list[float] = []
    poll_lat: list[float] = []

    def on_frame(f) -> None:
        cb_lat.append(time.monotonic() - f.timestamp)

    def slowish(f) -> None:
        th_lat.append(time.monotonic() - f.timestamp)
        time.sleep(0.02)  # an analyser that takes 20 ms

    cam = Camera(ReplayBackend(folder, fps=fps))
    cam.add_output(CallbackOutput(on_frame))
    threaded = cam.add_output(ThreadedOutput(slowish))
    assert isinstance(threaded, ThreadedOutput)
    stop = threading.Event()

    def poller() -> None:
        last = -1
        while not stop.is_set():
            try:
                f = cam.latest_frame(0.5, newer_than=last)
            except CameraError:
                continue
            poll_lat.append(time.monotonic() - f.timestamp)
            last = f.index

    cam.start()
    first = cam.latest_frame(10)
    cam.latest_frame(30, newer_than=first.index + 8)  # one full loop: every image decoded and cached
    t = threading.Thread(target=poller)
    t.start()
    start_frames = cam.status().frames
    t0 = time.monotonic()
    time.sleep(seconds)
    frames = cam.status().frames - start_frames
    elapsed = time.monotonic() - t0
    stop.set()
    t.join()
    cam.stop()
    threaded.close()
    return {
        "fps": frames / elapsed,
        "cb": (statistics.median(cb_lat) * 1000, pct(cb_lat, 99)),
        "thread": (statistics.median(th_lat) * 1000, pct(th_lat, 99)),
        "poll": (statistics.median(poll_lat) * 1000, pct(poll_lat, 99)),
        "dropped": threaded.dropped,
        "analysed": threaded.delivered,
    }


def convert_cost(size: tuple[int, int], reps: int = 50) -> float:
    w, h = size
    bgr = np.random.default_rng(1).integers(0, 255, (h, w, 3), dtype=np.uint8)
    t0 = time.perf_counter()
    for _ in range(reps):
        to_rgb(bgr, "RGB888")
    return (time.perf_counter() - t0) / reps * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'size':>10} {'target':>7} {'got fps':>8} {'callback ms p50/p99':>20} "
              f"{'thread ms p50/p99':>18} {'poll ms p50/p99':>16} {'analysed/dropped':>17}")
        for size in ((1280, 720), (1920, 1080)):
            folder = make_frames(Path(tmp) / f"{size[0]}x{size[1]}", size)
            for target in (30.0, 1000.0):
                r = run(folder, target, args.seconds)
                label = "max" if target >= 1000 else f"{target:g}"
                cb, th, po = r["cb"], r["thread"], r["poll"]
                print(f"{size[0]}x{size[1]:<5} {label:>7} {r['fps']:8.1f} {cb[0]:9.3f}/{cb[1]:<9.3f} "
                      f"{th[0]:8.3f}/{th[1]:<8.3f} {po[0]:7.3f}/{po[1]:<7.3f} "
                      f"{r['analysed']:>8}/{r['dropped']:<8}")
        for size in ((1280, 720), (1920, 1080)):
            print(f"RGB888 (BGR in memory) -> RGB at {size[0]}x{size[1]}: {convert_cost(size):.2f} ms/frame")


if __name__ == "__main__":
    main()
