"""`fieldkit-demo`'s throwaway deployment under DIR: the server (`fieldkit-server init` +
`serve`, a synthetic roll imported), Mosquitto when wanted, a demo device provisioned
through `fieldkit-server admin add-device`, generated cards, and what both sides hold.
Nothing of the server is imported: it is driven through its command line only."""

from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

from kiosk.demo.procs import DemoError, Procs, free_ports, run_cmd, tool, wait_port

DEVICE_ID = "demo-0001"
PROCESS_ID, ASPIRANT_ID, AUX_ID, DEMO_PIN = "demo-ci-df01", "asp-demo", "aux-demo", "123456"


@dataclass
class Deployment:
    root: Path
    logs: Path
    https_port: int
    mqtt_port: int | None = None
    enroll_port: int | None = None

    @property
    def server_toml(self) -> Path:
        return self.root / "server" / "server.toml"


def start_server(root: Path, procs: Procs, want_mqtt: bool, roll_rows: int,
                 log_level: str = "INFO") -> Deployment:
    """Init, roll import, Mosquitto (when wanted) and `serve`, on ports chosen now: no port of
    `fieldkit-server init`'s defaults is left, so two demos run side by side on one host."""
    logs = procs.logs
    https, enroll, mqtt, mqtt_server = free_ports(4)
    dep = Deployment(root, logs, https, mqtt if want_mqtt else None, enroll)
    server = root / "server"
    args = ["--https-port", str(dep.https_port), "--enroll-port", str(enroll), "--suite", "x25519"]
    if dep.mqtt_port:
        args += ["--mqtt-port", str(dep.mqtt_port), "--mqtt-server-port", str(mqtt_server)]
        if os.geteuid() == 0:
            # As root mosquitto would switch to user "mosquitto", who cannot reach DIR: it runs as
            # root here, and init then shares none of the deployment's files with another user.
            args += ["--broker-user", "root"]
    run_cmd(logs, "server-init", tool("fieldkit-server"), "init", str(server), *args)
    run_cmd(logs, "testdata", tool("fieldkit-testdata"), "roll", "--out", str(root / "roll.csv"),
            "-n", str(roll_rows), "--seed", "7")
    if "roll" in run_cmd(logs, "server-help", tool("fieldkit-server"), "--help"):
        run_cmd(logs, "roll-import", tool("fieldkit-server"), "roll", "import", "--config",
                str(dep.server_toml), str(root / "roll.csv"))
    if dep.mqtt_port:
        conf = server / "mosquitto" / "mosquitto.conf"
        procs.start("mosquitto", [shutil.which("mosquitto") or "mosquitto", "-c", str(conf)],
                    own_log=conf.with_name("mosquitto.log"))
        wait_port(dep.mqtt_port, procs, name="mosquitto")
    serve = [tool("fieldkit-server"), "--log-level", log_level, "serve", "--config", str(dep.server_toml)]
    procs.start("server", serve if dep.mqtt_port else [*serve, "--no-mqtt"])
    wait_port(dep.https_port, procs, name="server")
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

    from sync.common.pin import hash_pin
    from sync.outbox.keyfile import create_key_file

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
    from kiosk.capture.save import SaveContext
    from sync.device.config import load_config

    SaveContext.from_config(load_config(cfg)).close()
    return cfg


def provision_self_service(dep: Deployment, transport: str) -> Path:
    """A self-service device (docs/self-service.md) the way a coordinator makes one: the process
    and its aspirant defined on the server, a self-service enrollment code, and the kiosk's own
    `fieldkit-kiosk enroll` against the enrollment listener. Returns the config path."""
    from kiosk.capture.save import SaveContext
    from sync.device.config import load_config
    from sync.device.config_write import write_config

    server = ["--config", str(dep.server_toml)]
    today = _dt.date.today()
    run_cmd(dep.logs, "process", tool("fieldkit-server"), "process", "define", *server, "--id", PROCESS_ID,
            "--kind", "presidencia", "--name", "Candidatura independiente (DEMO, MUESTRA)",
            "--start", str(today - _dt.timedelta(days=10)), "--end", str(today + _dt.timedelta(days=30)))
    run_cmd(dep.logs, "process", tool("fieldkit-server"), "process", "add-aspirant", *server,
            "--process", PROCESS_ID, "--id", ASPIRANT_ID, "--name", "ASPIRANTE DEMO")
    code = json.loads(run_cmd(dep.logs, "enroll-code", tool("fieldkit-server"), "admin", "enroll-code",
                              *server, "--self-service", "--aspirant", ASPIRANT_ID, "--server-url",
                              f"https://127.0.0.1:{dep.enroll_port}", "--json"))
    cfg = dep.root / "device" / "device.toml"
    run_cmd(dep.logs, "enroll", tool("fieldkit-kiosk"), "--config", str(cfg), "enroll", code["uri"], "--json",
            private=(code["uri"], code["code"]))
    data = tomllib.loads(cfg.read_text())
    data["server"]["transport"] = transport
    write_config(cfg, data)
    SaveContext.from_config(load_config(cfg)).close()
    return cfg


def mail_folder(dep: Deployment) -> Path:
    """Where the demo server's e-mails land (`[acuse] mode = "outbox"`): acuses and activation codes."""
    return dep.root / "server" / "data" / "acuses"


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


def device_counts(cfg_path: Path) -> tuple[int, int]:
    """(pending, acked_total) from the device's outbox, read-only."""
    from sync.device.config import load_config
    from sync.outbox.outbox import Outbox

    cfg = load_config(cfg_path)
    db = cfg.device.outbox_path
    if not db.exists():
        return 0, 0
    with Outbox.open_with_key_file(db, cfg.keys.outbox_key, readonly=True) as ob:
        c = ob.counts()
    return c.unacknowledged, c.acked_total
