"""`fieldkit-demo`: the whole chain on one machine, every part as its own process.

    fieldkit-demo [--data-dir DIR] [--camera SPEC] [--transport mqtt|https] [--verbose]
    fieldkit-demo --headless --records N [--offline] [--transport mqtt|https] [--data-dir DIR] [--json]
    fieldkit-demo --self-service [--data-dir DIR] [--transport mqtt|https]

A throwaway deployment under DIR (default: a new temporary folder): the server
(`fieldkit-server init` + `serve`, with a synthetic roll imported), Mosquitto
when installed (else HTTPS only), a demo device provisioned with
`fieldkit-server admin add-device` (its keys and CSR made here, the private
keys never leave DIR/device), generated cards in DIR/cards, then either the
kiosk on the replay camera (`--self-service`: a self-service device enrolled with a
self-service code, the kiosk at "Dar mi apoyo"; the codes e-mailed land in
DIR/server/data/acuses), or (`--headless`) N records captured through
`fieldkit-kiosk capture` (the same code path as "Guardar") and synced by
`fieldkit-sync run`, ending with one JSON summary. Nothing of the server is
imported: it is driven through its command line only. Every port is chosen
free at run time, so two demos run at once on one host. Every process started
is stopped on exit, Ctrl-C or failure (SIGTERM, then SIGKILL); one that exits
early is named with the error it printed. Logs go to DIR/logs (`--verbose`: DEBUG).

Parts: kiosk/demo/procs.py (children, commands, ports), kiosk/demo/deployment.py
(server, device, cards), kiosk/demo/headless.py and kiosk/demo/gui.py (the two modes).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from kiosk.demo.deployment import provision_device, provision_self_service, start_server
from kiosk.demo.gui import gui
from kiosk.demo.headless import headless
from kiosk.demo.procs import DemoError, Procs

PROG = "fieldkit-demo"


class _Stop(BaseException):
    """SIGTERM / SIGHUP: unwind like Ctrl-C so every child is stopped."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Todo el kit de campo en esta máquina (demo).")
    p.add_argument("--data-dir", help="carpeta del despliegue desechable (por omisión, una temporal)")
    p.add_argument("--headless", action="store_true", help="sin ventana: captura N credenciales generadas")
    p.add_argument("--records", type=int, default=3, help="con --headless: cuántos apoyos capturar")
    p.add_argument("--offline", action="store_true", help="con --headless: sin agente de sincronización")
    p.add_argument("--transport", choices=("mqtt", "https"), help="por omisión mqtt si hay Mosquitto")
    p.add_argument("--camera", help="cámara del kiosco (por omisión replay de las credenciales generadas)")
    p.add_argument("--timeout", type=float, default=60.0, help="espera máxima de la sincronización (s)")
    p.add_argument("--keep", action="store_true", help="no borrar la carpeta temporal al terminar")
    p.add_argument("--json", action="store_true", help="con --headless: un objeto JSON (docs/cli.md)")
    p.add_argument("--self-service", action="store_true",
                   help="un dispositivo de autoservicio: el ciudadano da su apoyo sin auxiliar "
                        "(docs/self-service.md); los códigos de activación llegan como correos a "
                        "DIR/server/data/acuses")
    p.add_argument("--verbose", action="store_true",
                   help="registros detallados (depuración) del servidor y del agente en DIR/logs")
    return p


def _interrupted(e: BaseException | None) -> bool:
    seen = 0
    while e is not None and seen < 20:
        if isinstance(e, (KeyboardInterrupt, _Stop)):
            return True
        e, seen = e.__cause__ or e.__context__, seen + 1
    return False


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    if ns.records < 1:
        print(f"{PROG}: --records debe ser al menos 1", file=sys.stderr)
        return 2
    if ns.self_service and ns.headless:
        print(f"{PROG}: --self-service abre el kiosco (sin --headless): el ciudadano escribe su código",
              file=sys.stderr)
        return 2
    has_broker = shutil.which("mosquitto") is not None
    if ns.transport == "mqtt" and not has_broker:
        print(f"{PROG}: --transport mqtt pide Mosquitto, que no está instalado", file=sys.stderr)
        return 2
    ns.transport = ns.transport or ("mqtt" if has_broker else "https")
    temp = ns.data_dir is None
    root = Path(ns.data_dir or tempfile.mkdtemp(prefix="fieldkit-demo-")).resolve()
    if not temp and root.exists() and any(root.iterdir()):
        print(f"{PROG}: {root} no está vacía; use una carpeta nueva", file=sys.stderr)
        return 2
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs = Procs(logs)

    def on_signal(_s: int, _f: object) -> None:
        raise _Stop

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
    rc = 1
    try:
        dep = start_server(root, procs, want_mqtt=ns.transport == "mqtt" or (not ns.headless and has_broker),
                           roll_rows=max(60, 4 * ns.records), log_level="DEBUG" if ns.verbose else "INFO")
        provision = provision_self_service if ns.self_service else provision_device
        cfg = provision(dep, ns.transport)
        if ns.headless:
            summary = headless(ns, root, procs, dep, cfg)
            print(json.dumps(summary) if ns.json else "\n".join(f"{k}: {v}" for k, v in summary.items()))
            ok = summary["pending"] == (summary["captured"] if ns.offline else 0)
            # A card the capture refused was reported and skipped: not a failure of the demo.
            done = summary["captured"] + len(summary["skipped"]) == ns.records and summary["captured"] > 0
            rc = 0 if ok and done else 1
        else:
            rc = gui(ns, root, procs, dep, cfg)
    except BaseException as e:
        # The signal's exception may come back wrapped by whatever it interrupted (a SIGTERM
        # during an import surfaced as "RuntimeError: Error calling __set_name__"): follow the chain.
        if _interrupted(e):
            print(f"{PROG}: interrumpido; deteniendo todo", file=sys.stderr)
            rc = 130
        elif isinstance(e, (DemoError, subprocess.TimeoutExpired, OSError)):
            print(f"{PROG}: {e}", file=sys.stderr)
            rc = 1
        else:
            raise
    finally:
        procs.stop_all()
        for s, h in old.items():
            signal.signal(s, h)
        if temp and not ns.keep and rc == 0:
            shutil.rmtree(root, ignore_errors=True)
        elif rc != 0:
            print(f"{PROG}: registros en {logs}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
