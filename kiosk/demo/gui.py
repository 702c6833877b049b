"""`fieldkit-demo` with a window: the kiosk on the replay camera (the generated cards on a
table, then a live selfie) with the sync agent running beside it."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from kiosk.demo.deployment import DEMO_PIN, Deployment, device_counts, mail_folder, make_cards, server_records
from kiosk.demo.procs import Procs, tool


def replay_folder(root: Path, card: Path) -> Path:
    """Scenes for the replay camera (hardware.camera.replay): the card's front and its back on a
    table, and a live selfie per liveness challenge; the kiosk asks for the scene of each step,
    so the face does what the challenge asks."""
    import cv2
    import numpy as np

    from kiosk.testdata.selfies import CHALLENGES, make_sequence

    out = root / "replay"

    def put(scene: str, i: int, rgb: np.ndarray) -> None:
        (out / scene).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out / scene / f"{i:04d}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    for side in ("front", "back"):
        bgr = cv2.imread(str(card / f"{side}.png"))
        assert bgr is not None, f"{card / side}.png unreadable"
        img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        table = np.full((720, 1280, 3), (92, 70, 52), np.uint8)
        small = cv2.resize(img, (820, 518), interpolation=cv2.INTER_AREA)
        table[101:619, 230:1050] = small
        put(side, 0, table)
    for challenge in CHALLENGES:
        seq = make_sequence("live", challenge, 0, size=(1280, 720), fps=15, seconds=4)
        for i, (frame, _t) in enumerate(seq):
            put(f"selfie-{challenge}", i, frame)
    return out


def gui(ns: argparse.Namespace, root: Path, procs: Procs, dep: Deployment, cfg: Path) -> int:
    cards = make_cards(dep, 3)
    camera = ns.camera or f"replay:{replay_folder(root, cards[0])}@15"
    procs.start("sync-agent", [tool("fieldkit-sync"), "--config", str(cfg), "run",
                               *(["--verbose"] if ns.verbose else [])])
    who = f"Kiosco: auxiliar «AUXILIAR DEMO», PIN {DEMO_PIN}."
    if getattr(ns, "self_service", False):
        who = f"Kiosco de autoservicio: los códigos de activación llegan como correos a {mail_folder(dep)}."
    print(f"{who} Credenciales de prueba en {root / 'cards'}.\n"
          f"Servidor: https://127.0.0.1:{dep.https_port} · registros del demo en {procs.logs}", flush=True)
    kiosk = subprocess.Popen([tool("fieldkit-kiosk"), "--config", str(cfg), "--camera", camera, "--windowed"])
    try:
        rc = kiosk.wait()
    finally:
        if kiosk.poll() is None:
            kiosk.terminate()
            kiosk.wait(10)
    if rc != 0:  # its own lines (Qt's, the kiosk's) went to this terminal just above
        print(f"fieldkit-demo: el kiosco terminó con estado {rc}", file=sys.stderr, flush=True)
    pending, acked = device_counts(cfg)
    print(f"Servidor: {server_records(dep)} registro(s); "
          f"dispositivo: {pending} pendiente(s), {acked} borrado(s).")
    return rc
