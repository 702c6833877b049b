"""`fieldkit-demo`: the whole chain on one machine, every part as its own process.

    fieldkit-demo [--data-dir DIR] [--camera SPEC] [--transport mqtt|https]
    fieldkit-demo --headless --records N [--offline] [--transport mqtt|https] [--data-dir DIR] [--json]

A throwaway deployment under DIR (default: a new temporary folder): the server
(`fieldkit-server init` + `serve`, with a synthetic roll imported), Mosquitto
when installed (else HTTPS only), a demo device provisioned with
`fieldkit-server admin add-device` (its keys and CSR made here, the private
keys never leave DIR/device), generated cards in DIR/cards, then either the
kiosk on the replay camera, or (`--headless`) N records captured through
`fieldkit-kiosk capture` (the same code path as "Guardar") and synced by
`fieldkit-sync run`, ending with one JSON summary. Nothing of the server is
imported: it is driven through its command line only. Every process started
is stopped on exit, Ctrl-C or failure (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as _dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROG = "fieldkit-demo"
BIN = Path(sys.executable).parent
DEVICE_ID = "demo-0001"
PROCESS_ID, ASPIRANT_ID, AUX_ID, DEMO_PIN = "demo-ci-df01", "asp-demo", "aux-demo", "123456"


class DemoError(Exception):
    """A step of the demo failed; the message says which and where its log is."""


class _Stop(BaseException):
    """SIGTERM / SIGHUP: unwind like Ctrl-C so every child is stopped."""


@dataclass
class Procs:
    """Children started by the demo, stopped in reverse order."""

    logs: Path
    running: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as log:
            p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env=env, start_new_session=True)  # Ctrl-C is ours to handle
        self.running.append((name, p))
        return p

    def check(self) -> None:
        for name, p in self.running:
            if p.poll() is not None:
                raise DemoError(f"{name} terminó con estado {p.returncode} "
                                f"(registro: {self.logs}/{name}.log)")

    def stop_all(self) -> None:
        for _name, p in reversed(self.running):
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _name, p in reversed(self.running):
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    p.kill()
                p.wait(5)
        self.running.clear()


def run_cmd(logs: Path, name: str, *argv: str, timeout: float = 300) -> str:
    """Run a command to completion; its output is logged; DemoError if it fails."""
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    with (logs / f"{name}.log").open("a") as f:
        f.write(f"$ {' '.join(argv)}\n{p.stdout}{p.stderr}\n")
    if p.returncode != 0:
        raise DemoError(f"{name} falló ({p.returncode}): {(p.stderr or p.stdout).strip()[-500:]}")
    return p.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, procs: Procs, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check()
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise DemoError(f"nada escucha en el puerto {port} tras {timeout:.0f} s")


def tool(name: str) -> str:
    return str(BIN / name)


# --- the server side ---------------------------------------------------------------------

@dataclass
class Deployment:
    root: Path
    logs: Path
    https_port: int
    mqtt_port: int | None = None

    @property
    def server_toml(self) -> Path:
        return self.root / "server" / "server.toml"


def start_server(root: Path, procs: Procs, want_mqtt: bool, roll_rows: int) -> Deployment:
    logs = procs.logs
    dep = Deployment(root, logs, free_port(), free_port() if want_mqtt else None)
    server = root / "server"
    args = ["--https-port", str(dep.https_port), "--suite", "x25519"]
    if dep.mqtt_port:
        args += ["--mqtt-port", str(dep.mqtt_port)]
    run_cmd(logs, "server-init", tool("fieldkit-server"), "init", str(server), *args)
    run_cmd(logs, "testdata", tool("fieldkit-testdata"), "roll", "--out", str(root / "roll.csv"),
            "-n", str(roll_rows), "--seed", "7")
    if "roll" in run_cmd(logs, "server-help", tool("fieldkit-server"), "--help"):
        run_cmd(logs, "roll-import", tool("fieldkit-server"), "roll", "import", "--config",
                str(dep.server_toml), str(root / "roll.csv"))
    if dep.mqtt_port:
        conf = server / "mosquitto" / "mosquitto.conf"
        text = conf.read_text()
        if os.geteuid() == 0 and "\nuser " not in text:
            # As root mosquitto would switch to user "mosquitto", who cannot write DIR.
            conf.write_text(text.replace("\nlistener ", "\nuser root\n\nlistener ", 1))
        procs.start("mosquitto", [shutil.which("mosquitto") or "mosquitto", "-c", str(conf)])
        wait_port(dep.mqtt_port, procs)
    serve = [tool("fieldkit-server"), "serve", "--config", str(dep.server_toml)]
    procs.start("server", serve if dep.mqtt_port else [*serve, "--no-mqtt"])
    wait_port(dep.https_port, procs)
    return dep


def server_records(dep: Deployment) -> int:
    out = run_cmd(dep.logs, "server-stats", tool("fieldkit-server"), "admin", "stats", "--config",
                  str(dep.server_toml), timeout=60)
    return int(json.loads(out)["records"])


# --- the device --------------------------------------------------------------------------

def provision_device(dep: Deployment, transport: str) -> Path:
    """Keys made here (private keys stay in DIR/device/keys), certificate from the server's CA via
    `fieldkit-server admin add-device --csr`, and a device.toml. Returns the config path."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.x509.oid import NameOID

    from sync.keyfile import create_key_file
    from sync.pin import hash_pin

    dev = dep.root / "device"
    keys = dev / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    pem, pkcs8 = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    none = serialization.NoEncryption()

    def private(path: Path, data: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)

    sign = ed25519.Ed25519PrivateKey.generate()
    private(keys / "device-sign.key", sign.private_bytes(pem, pkcs8, none))
    (keys / "device-sign.pub").write_bytes(sign.public_key().public_bytes(
        pem, serialization.PublicFormat.SubjectPublicKeyInfo))
    tls = ec.generate_private_key(ec.SECP256R1())
    private(keys / "device.key", tls.private_bytes(pem, pkcs8, none))
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DEVICE_ID)])).sign(tls, hashes.SHA256())
    (keys / "device.csr").write_bytes(csr.public_bytes(pem))
    create_key_file(keys / "outbox.key")
    server = dep.root / "server"
    for src, dst in (("pki/ca.crt", "ca.crt"), ("keys/server-seal.pub", "server-seal.pub"),
                     ("keys/server-sign.pub", "server-sign.pub")):
        shutil.copyfile(server / src, keys / dst)
    run_cmd(dep.logs, "add-device", tool("fieldkit-server"), "admin", "add-device", "--config",
            str(dep.server_toml), "--id", DEVICE_ID, "--sign-pub", str(keys / "device-sign.pub"),
            "--csr", str(keys / "device.csr"), "--cert-out", str(keys / "device.crt"))
    today = _dt.date.today()
    mqtt = f'mqtt_url = "mqtts://127.0.0.1:{dep.mqtt_port}"' if dep.mqtt_port else ""
    cfg = dev / "device.toml"
    cfg.write_text(f"""# fieldkit-demo device (synthetic). PIN of the demo auxiliary: {DEMO_PIN}
locale = "es"
idle_lock_minutes = 30

[device]
id = "{DEVICE_ID}"
folio_prefix = "DM7"
data_dir = "data"

[server]
https_url = "https://127.0.0.1:{dep.https_port}"
{mqtt}
transport = "{transport}"
seal_suite = "x25519"

[keys]
ca = "keys/ca.crt"
client_cert = "keys/device.crt"
client_key = "keys/device.key"
signing_key = "keys/device-sign.key"
outbox_key = "keys/outbox.key"
server_seal_public = "keys/server-seal.pub"
server_sign_public = "keys/server-sign.pub"

[[processes]]
id = "{PROCESS_ID}"
kind = "candidatura_independiente"
name = "Candidatura independiente (DEMO, MUESTRA)"
aspirant_id = "{ASPIRANT_ID}"
aspirant_name = "ASPIRANTE DEMO"
start = "{today - _dt.timedelta(days=10)}"
end = "{today + _dt.timedelta(days=30)}"
scope = {{ level = "nacional" }}

[[auxiliaries]]
id = "{AUX_ID}"
name = "AUXILIAR DEMO"
pin_hash = "{hash_pin(DEMO_PIN)}"
processes = ["{PROCESS_ID}"]
""")
    # The kiosk's first save would make the outbox; made now, the agent starts on it at once.
    from kiosk.save import SaveContext
    from sync.config import load_config

    SaveContext.from_config(load_config(cfg)).close()
    return cfg


def make_cards(dep: Deployment, n: int) -> list[Path]:
    """N generated cards a kiosk accepts (models E-H, still valid), from the roll, in DIR/cards."""
    year = _dt.date.today().year
    with (dep.root / "roll.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
        fields = list(rows[0]) if rows else []
    good = [r for r in rows if r["modelo"] in "EFGH" and int(r["vigencia"]) >= year][:n]
    if len(good) < n:
        raise DemoError(f"el padrón sintético sólo tiene {len(good)} credenciales vigentes con QR")
    chosen = dep.root / "roll-demo.csv"
    with chosen.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fields)
        w.writeheader()
        w.writerows(good)
    out = dep.root / "cards"
    run_cmd(dep.logs, "testdata", tool("fieldkit-testdata"), "cards", "--roll", str(chosen),
            "--out", str(out), "-n", str(n), "--jobs", str(min(n, os.cpu_count() or 1)))
    return sorted(p for p in out.iterdir() if (p / "back.png").exists())


def capture(dep: Deployment, cfg: Path, card: Path, i: int, n_selfies: int) -> str:
    k = i % n_selfies
    sel = dep.root / "selfies"
    frames = next(sel.glob(f"frames-{k:03d}-live-*"))
    out = run_cmd(dep.logs, "capture", tool("fieldkit-kiosk"), "capture", "--config", str(cfg),
                  "--front", str(card / "front.png"), "--back", str(card / "back.png"),
                  "--selfie", str(sel / f"selfie-{k:03d}.jpg"), "--selfie-frames", str(frames),
                  "--signature", str(dep.root / "signatures" / f"signature-{i:03d}.json"),
                  "--process", PROCESS_ID, "--email", f"muestra{i}@example.org", "--json")
    return str(json.loads(out)["folio"])


def device_counts(cfg_path: Path) -> tuple[int, int]:
    """(pending, acked_total) from the device's outbox, read-only."""
    from sync.config import load_config
    from sync.outbox import Outbox

    cfg = load_config(cfg_path)
    db = cfg.device.data_dir / "outbox.db"
    if not db.exists():
        return 0, 0
    with Outbox.open_with_key_file(db, cfg.keys.outbox_key, readonly=True) as ob:
        c = ob.counts()
    return c.unacknowledged, c.acked_total


# --- the two modes -------------------------------------------------------------------------

def headless(ns: argparse.Namespace, root: Path, procs: Procs, dep: Deployment, cfg: Path) -> dict[str, Any]:
    t0 = time.monotonic()
    n = ns.records
    n_selfies = 1  # one person's selfie and live sequence (turn left) serve every record
    logs = procs.logs
    with ThreadPoolExecutor(3) as pool:
        jobs = [pool.submit(run_cmd, logs, "testdata", tool("fieldkit-testdata"), "selfies", "--out",
                            str(root / "selfies"), "-n", str(n_selfies)),
                pool.submit(run_cmd, logs, "testdata", tool("fieldkit-testdata"), "signatures", "--out",
                            str(root / "signatures"), "-n", str(n))]
        cards = make_cards(dep, n)
        for j in jobs:
            j.result()
    if not ns.offline:
        procs.start("sync-agent", [tool("fieldkit-sync"), "--config", str(cfg), "run"])
    with ThreadPoolExecutor(max(1, min(n, os.cpu_count() or 1))) as pool:
        folios = list(pool.map(lambda ic: capture(dep, cfg, ic[1], ic[0], n_selfies), enumerate(cards)))
    stored = server_records(dep)
    if not ns.offline:
        deadline = time.monotonic() + ns.timeout
        while time.monotonic() < deadline:
            procs.check()
            stored = server_records(dep)
            if stored >= len(folios) and device_counts(cfg)[0] == 0:
                break
            time.sleep(0.3)
    pending, acked = device_counts(cfg)
    return {"captured": len(folios), "stored_at_server": stored, "erased_from_device": acked,
            "pending": pending, "transport": ns.transport, "offline": bool(ns.offline),
            "seconds": round(time.monotonic() - t0, 1), "folios": sorted(folios), "data_dir": str(root)}


def replay_folder(root: Path, card: Path) -> Path:
    """Frames for the replay camera: the card's front, then its back, on a table, then a live selfie."""
    import cv2
    import numpy as np

    from kiosk.testdata.selfies import make_sequence

    out = root / "replay"
    out.mkdir(exist_ok=True)
    i = 0

    def put(rgb: np.ndarray) -> None:
        nonlocal i
        cv2.imwrite(str(out / f"{i:04d}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        i += 1

    for side in ("front", "back"):
        img = cv2.cvtColor(cv2.imread(str(card / f"{side}.png")), cv2.COLOR_BGR2RGB)
        table = np.full((720, 1280, 3), (92, 70, 52), np.uint8)
        small = cv2.resize(img, (820, 518), interpolation=cv2.INTER_AREA)
        table[101:619, 230:1050] = small
        for _ in range(45):
            put(table)
    for frame, _t in make_sequence("live", "blink", 0, size=(1280, 720), fps=15, seconds=4):
        put(frame)
    return out


def gui(ns: argparse.Namespace, root: Path, procs: Procs, dep: Deployment, cfg: Path) -> int:
    cards = make_cards(dep, 3)
    camera = ns.camera or f"replay:{replay_folder(root, cards[0])}@15"
    procs.start("sync-agent", [tool("fieldkit-sync"), "--config", str(cfg), "run"])
    print(f"Kiosco: auxiliar «AUXILIAR DEMO», PIN {DEMO_PIN}. Credenciales de prueba en {root / 'cards'}.\n"
          f"Servidor: https://127.0.0.1:{dep.https_port} · registros del demo en {procs.logs}", flush=True)
    kiosk = subprocess.Popen([tool("fieldkit-kiosk"), "--config", str(cfg), "--camera", camera, "--windowed"])
    try:
        rc = kiosk.wait()
    finally:
        if kiosk.poll() is None:
            kiosk.terminate()
            kiosk.wait(10)
    pending, acked = device_counts(cfg)
    print(f"Servidor: {server_records(dep)} registro(s); "
          f"dispositivo: {pending} pendiente(s), {acked} borrado(s).")
    return rc


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
    return p


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    if ns.records < 1:
        print(f"{PROG}: --records debe ser al menos 1", file=sys.stderr)
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
                           roll_rows=max(60, 4 * ns.records))
        cfg = provision_device(dep, ns.transport)
        if ns.headless:
            summary = headless(ns, root, procs, dep, cfg)
            print(json.dumps(summary) if ns.json else "\n".join(f"{k}: {v}" for k, v in summary.items()))
            ok = summary["pending"] == (summary["captured"] if ns.offline else 0)
            rc = 0 if ok and summary["captured"] == ns.records else 1
        else:
            rc = gui(ns, root, procs, dep, cfg)
    except (DemoError, subprocess.TimeoutExpired, OSError) as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        rc = 1
    except (KeyboardInterrupt, _Stop):
        print(f"{PROG}: interrumpido; deteniendo todo", file=sys.stderr)
        rc = 130
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
