"""A deployment's files are private: no local user but the server's (and Mosquitto, for what it
must read) can read the store, its -wal/-shm, the keys or the config.

The attack: `fieldkit-server init` left the folder 0755 and the SQLite store, its -wal/-shm and
server.toml 0644, so any local account read every opened record, the password hashes, the
enrollment-code keys and the MQTT share-group secret. Everything here runs as an operator
would: `fieldkit-server init`, `serve`, `admin`, `check-config` as subprocesses started with
umask 022 (a shell's default), real files, a real SQLite store that a real HTTPS record went
into, and the real Mosquitto started as root and dropping to user `mosquitto`. Where the tests
run as root, the unprivileged user `nobody` tries to read every file, as an attacker would.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ed25519

from server_stub.deploy import keys, pki
from server_stub.deploy.broker import BrokerConfig, BrokerTLS
from server_stub.deploy.broker_process import Broker, free_port
from sync.wire.sealing import Sealer
from tests.helpers.mqtt import Identity, TestClient, make_client, wait_until
from tests.helpers.outbox import tiny_record

FIELDKIT_SERVER = str(Path(sys.executable).parent / "fieldkit-server")
MOSQUITTO = "/usr/sbin/mosquitto"
WIDE_UMASK = 0o022  # what a login shell hands the command
ROOT = os.geteuid() == 0
# Mosquitto reads these after dropping to its user (group mosquitto, 0640) ...
BROKER_READS = {"mosquitto/mosquitto.conf", "mosquitto/acl", "pki/ca.crt", "pki/server.crt",
                "pki/server.key"}
# ... and writes these (its own, 0600 / 0700).
BROKER_WRITES = {"mosquitto/mosquitto.log", "mosquitto/mosquitto.pid"}
BROKER_OWNS = "mosquitto/data"


def fieldkit(*args: str, ok: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([FIELDKIT_SERVER, *args], capture_output=True, text=True, timeout=timeout,
                       umask=WIDE_UMASK)
    if ok:
        assert r.returncode == 0, f"fieldkit-server {' '.join(args)}: {r.returncode}\n{r.stdout}{r.stderr}"
    return r


def init(root: Path, *extra: str) -> dict[str, int]:
    ports = {"https": free_port(), "mqtt": free_port(), "enroll": free_port(), "mqtt_server": free_port()}
    fieldkit("init", str(root), "--suite", "x25519", "--https-port", str(ports["https"]),
             "--mqtt-port", str(ports["mqtt"]), "--enroll-port", str(ports["enroll"]),
             "--mqtt-server-port", str(ports["mqtt_server"]), *extra)
    return ports


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder every user may pass through and list, like /srv (pytest's tmp folder is 0700,
    which would hide the problem from the attacker and the deployment from Mosquitto)."""
    d = Path(tempfile.mkdtemp(prefix="fk-files-", dir="/tmp"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def tree(root: Path) -> dict[str, tuple[int, str, str]]:
    """Every path under `root` (and root as '.'): (mode, owner, group)."""
    out = {}
    for p in [root, *sorted(root.rglob("*"))]:
        st = p.lstat()
        rel = "." if p == root else str(p.relative_to(root))
        out[rel] = (stat.S_IMODE(st.st_mode), pwd.getpwuid(st.st_uid).pw_name,
                    grp.getgrgid(st.st_gid).gr_name)
    return out


def table(modes: dict[str, tuple[int, str, str]]) -> str:
    return "\n".join(f"  {m:04o} {u}:{g}  {rel}" for rel, (m, u, g) in modes.items())


def expected(rel: str, is_dir: bool, me: str, my_group: str) -> tuple[int, str, str]:
    """What init must leave. As root the broker drops to user mosquitto and is given what it
    needs; as anyone else Mosquitto runs as that user and nothing is shared."""
    if not ROOT:
        return (0o700 if is_dir else 0o600), me, my_group
    if rel == BROKER_OWNS or rel.startswith(BROKER_OWNS + "/") or rel in BROKER_WRITES:
        return (0o700 if is_dir else 0o600), "mosquitto", "mosquitto"
    if rel in BROKER_READS:
        return 0o640, me, "mosquitto"
    if rel == ".":
        return 0o710, me, "mosquitto"  # the broker's group passes through, cannot list
    if rel in ("pki", "mosquitto"):
        return 0o750, me, "mosquitto"
    return (0o700 if is_dir else 0o600), me, my_group


def others_can_read(root: Path) -> list[str]:
    """Files under `root` the unprivileged user `nobody` manages to read (root only)."""
    nobody = pwd.getpwnam("nobody")
    read = []
    for p in sorted(root.rglob("*")):
        if p.is_file():
            r = subprocess.run(["cat", str(p)], capture_output=True, user=nobody.pw_uid,
                               group=nobody.pw_gid, extra_groups=[], timeout=10)
            if r.returncode == 0:
                read.append(f"{p.relative_to(root)} ({len(r.stdout)} bytes)")
    return read


def assert_private(root: Path) -> dict[str, tuple[int, str, str]]:
    modes = tree(root)
    print(f"\nmodes under {root}:\n{table(modes)}")
    if ROOT:
        stolen = others_can_read(root)
        assert not stolen, f"user nobody read: {stolen}\n{table(modes)}"
    world = {rel: m for rel, (m, _u, _g) in modes.items() if m & 0o007}
    assert not world, f"open to others: { {k: f'{v:04o}' for k, v in world.items()} }\n{table(modes)}"
    return modes


# --- init ------------------------------------------------------------------------------------



def add_device(tmp_path: Path, cfg: str, device_id: str) -> tuple[pki.PrivateKey, ed25519.Ed25519PrivateKey]:
    """Register a device the way an operator does (`admin add-device --csr`): its TLS key and
    its envelope-signing key; the certificate lands in tmp_path/dev.crt."""
    dev_key, csr = pki.make_csr(device_id)
    sign = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "sign.pub").write_bytes(keys.ed25519_public_pem(sign.public_key()))
    (tmp_path / "dev.csr").write_bytes(csr)
    fieldkit("admin", "add-device", "--config", cfg, "--id", device_id, "--sign-pub",
             str(tmp_path / "sign.pub"), "--csr", str(tmp_path / "dev.csr"),
             "--cert-out", str(tmp_path / "dev.crt"))
    return dev_key, sign

def test_init_makes_a_private_deployment_whatever_the_umask(open_dir: Path) -> None:
    root = open_dir / "dep"
    init(root)
    modes = assert_private(root)
    me = pwd.getpwuid(os.geteuid()).pw_name
    my_group = grp.getgrgid(os.getegid()).gr_name
    want = {rel: expected(rel, (root / rel).is_dir(), me, my_group) for rel in modes}
    wrong = {rel: (f"{m:04o} {u}:{g}", "want {:04o} {}:{}".format(*want[rel]))
             for rel, (m, u, g) in modes.items() if (m, u, g) != want[rel]}
    assert not wrong, f"{wrong}\n{table(modes)}"
    for rel in ("server.toml", "keys/server-seal.key", "keys/server-sign.key", "pki/ca.key", "data"):
        assert rel in modes
    r = fieldkit("check-config", "--config", str(root / "server.toml"))
    assert r.stdout.strip().endswith(": ok"), r.stdout + r.stderr  # the broker's 0640 key is fine


# --- serve: the store and what else it writes ------------------------------------------------


def test_serve_keeps_the_store_wal_shm_and_acuses_private(open_dir: Path, tmp_path: Path) -> None:
    root = open_dir / "dep"
    ports = init(root)
    cfg = str(root / "server.toml")
    out = tmp_path / "serve.out"
    with out.open("wb") as f:
        proc = subprocess.Popen([FIELDKIT_SERVER, "serve", "--config", cfg, "--no-mqtt"], stdout=f, stderr=f,
                                umask=WIDE_UMASK, start_new_session=True)
    try:
        assert wait_until(lambda: "fieldkit-server ready" in out.read_text(errors="replace") or
                          proc.poll() is not None, 60), out.read_text()
        assert proc.poll() is None, out.read_text()
        # A device, registered the way an operator does it, sends one record over HTTPS.
        dev_key, sign = add_device(tmp_path, cfg, "dev-files-1")
        key_path = pki.write_key(tmp_path / "dev.key", dev_key)
        sealer = Sealer("dev-files-1", sign, keys.load_seal_public(root / "keys" / "server-seal.pub"))
        sealed = sealer.seal(replace(tiny_record("dev-files-1", image_bytes=400), folio="TST-00001"))
        resp = requests.post(f"https://127.0.0.1:{ports['https']}/v1/records", data=sealed.data,
                             cert=(str(tmp_path / "dev.crt"), str(key_path)),
                             verify=str(root / "pki" / "ca.crt"), timeout=30,
                             headers={"Content-Type": "application/cbor"})
        assert resp.status_code == 200, resp.text
        db = root / "data" / "fieldkit.db"
        # The acuse worker writes the record's e-mail receipt (name and address inside).
        assert wait_until(lambda: any((root / "data").rglob("*.eml")), 30), table(tree(root))
        for p in (db, db.with_name("fieldkit.db-wal"), db.with_name("fieldkit.db-shm")):
            assert p.exists(), p  # serve holds the store open: SQLite's WAL files are there
        modes = assert_private(root)
        for rel, (m, _u, _g) in modes.items():
            if rel.startswith("data/"):
                assert m == (0o700 if (root / rel).is_dir() else 0o600), f"{rel}: {m:04o}\n{table(modes)}"
    finally:
        proc.terminate()
        proc.wait(30)
    assert_private(root)


def test_open_store_makes_the_sqlite_files_0600_under_a_wide_umask(tmp_path: Path) -> None:
    from server_stub.core.store import open_store

    old = os.umask(WIDE_UMASK)
    try:
        store = open_store(f"sqlite:{tmp_path / 'new' / 'fieldkit.db'}")
        try:
            store.list_devices()
            got = {p.name: f"{stat.S_IMODE(p.stat().st_mode):04o}" for p in (tmp_path / "new").iterdir()}
        finally:
            store.close()
    finally:
        os.umask(old)
    assert got == {"fieldkit.db": "0600", "fieldkit.db-wal": "0600", "fieldkit.db-shm": "0600"}, got
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700


# --- check-config and serve refuse what others can read --------------------------------------


@pytest.mark.parametrize("rel", ["data/fieldkit.db", "server.toml", "keys/server-seal.key",
                                 "keys/server-sign.key", "pki/ca.key", "pki/server_ingest-1.key",
                                 "pki/server.key"])
def test_check_config_and_serve_refuse_a_file_others_can_read(tmp_path: Path, rel: str) -> None:
    root = tmp_path / "dep"
    init(root)
    cfg = str(root / "server.toml")
    fieldkit("admin", "stats", "--config", cfg)  # creates the store
    target = root / rel
    target.chmod(0o644)  # the attack: readable by every local user
    fix = f"chmod 600 {target}"
    for args in (["check-config", "--config", cfg], ["serve", "--config", cfg, "--no-mqtt"]):
        r = fieldkit(*args, ok=False, timeout=60)
        print(f"$ fieldkit-server {' '.join(args)}  -> {r.returncode}\n{r.stderr}")
        assert r.returncode == 2, (args, r.returncode, r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and str(target) in lines[0] and fix in lines[0] and "0644" in lines[0], lines
        assert "Traceback" not in r.stderr
    subprocess.run(fix, shell=True, check=True)
    fieldkit("check-config", "--config", cfg)


def test_an_old_deployment_gets_the_fix_commands_not_a_traceback(tmp_path: Path) -> None:
    """What the old init left (folders 0755, files 0644, private keys 0600, store 0644 with its
    -wal/-shm): one line per exposed file with its command; running them makes it pass."""
    root = tmp_path / "dep"
    init(root)
    cfg = str(root / "server.toml")
    fieldkit("admin", "stats", "--config", cfg)
    for p in [root, *root.rglob("*")]:
        if p.is_dir():
            p.chmod(0o755)
        else:
            p.chmod(0o600 if p.name.endswith(".key") else 0o644)
        os.chown(p, -1, os.getegid())
    db = root / "data" / "fieldkit.db"
    for suffix in ("-wal", "-shm"):  # left behind by a server that did not stop cleanly
        db.with_name(db.name + suffix).write_bytes(b"")
        db.with_name(db.name + suffix).chmod(0o644)
    for args in (["check-config", "--config", cfg], ["serve", "--config", cfg, "--no-mqtt"]):
        r = fieldkit(*args, ok=False, timeout=60)
        print(f"$ fieldkit-server {' '.join(args)}  -> {r.returncode}\n{r.stderr}")
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        lines = r.stderr.strip().splitlines()
        named = {re.sub(r":.*", "", line.removeprefix("fieldkit-server: ")) for line in lines}
        want = {str(root / "server.toml"), str(db), f"{db}-wal", f"{db}-shm"}
        assert named == want, lines
        assert all(re.search(r"fix: chmod 600 \S+$", line) for line in lines), lines
    for line in lines:
        subprocess.run(line.split("fix: ", 1)[1], shell=True, check=True)
    fieldkit("check-config", "--config", cfg)


# --- the broker, as user mosquitto -----------------------------------------------------------


def _text(p: Path) -> str:
    try:
        return p.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _proc_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("no Uid line")


@pytest.mark.parametrize("broker_user", [None, "mosquitto"], ids=["default-user", "user-mosquitto"])
def test_broker_started_as_root_runs_as_mosquitto_on_the_private_deployment(
        open_dir: Path, tmp_path: Path, broker_user: str | None) -> None:
    try:
        mosq = pwd.getpwnam("mosquitto")
    except KeyError:
        pytest.fail("user 'mosquitto' does not exist: install the mosquitto package "
                    "(scripts/setup.sh does: apt-get install mosquitto), which creates it")
    if not ROOT:
        pytest.skip("needs root: Mosquitto drops to its user only when root starts it")
    root = open_dir / "dep"
    ports = init(root, *(["--broker-user", broker_user] if broker_user else []))
    conf = root / "mosquitto" / "mosquitto.conf"
    text = conf.read_text()
    assert ("user mosquitto" in text) == (broker_user == "mosquitto") and "user root" not in text
    assert_private(root)
    cfg = str(root / "server.toml")
    log = root / "mosquitto" / "mosquitto.log"
    said_path = tmp_path / "mosquitto.out"
    with said_path.open("wb") as said_file:
        proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=said_file, stderr=said_file,
                                umask=WIDE_UMASK, start_new_session=True)
    clients: list[TestClient] = []
    try:
        pid_file = root / "mosquitto" / "mosquitto.pid"
        up = wait_until(lambda: proc.poll() is not None or (_text(pid_file).strip() == str(proc.pid)
                        and "running" in _text(log)), 20)
        if not up or proc.poll() is not None:
            said = _text(log) + _text(said_path)
            pytest.fail(f"mosquitto as user mosquitto: exit {proc.poll()}\n{said}")
        assert _proc_uid(proc.pid) == mosq.pw_uid  # it dropped privileges

        # Not started by this object: only its host and port, for the test clients.
        addr = Broker(BrokerConfig(BrokerTLS(root / "pki" / "ca.crt", root / "pki" / "server.crt",
                                             root / "pki" / "server.key"), root / "mosquitto", ports["mqtt"]),
                      binary=Path(MOSQUITTO))

        def connect(name: str, cert: Path, key: Path) -> TestClient:
            c = TestClient(make_client(root / "pki" / "ca.crt", Identity(name, cert, key)), addr)
            clients.append(c)
            assert c.connect(), (name, c.connack, c.connect_errors, _text(log))
            return c

        # A device (certificate from the deployment's CA) and the server's MQTT identity: mutual
        # TLS with the key and certificates Mosquitto read as user mosquitto, then the ACL.
        ca = pki.load_ca(root / "pki" / "ca.crt", root / "pki" / "ca.key")
        dev_cert, dev_key = pki.write_issued(pki.issue_device_cert(ca, "dev-mq-1"), tmp_path / "dev.crt",
                                             tmp_path / "dev.key")
        assert dev_key is not None
        pki_dir = root / "pki"
        ingest = ("server:ingest-1", pki_dir / "server_ingest-1.crt", pki_dir / "server_ingest-1.key")
        server = connect(*ingest)
        device = connect("dev-mq-1", dev_cert, dev_key)
        acks = "fieldkit/v1/devices/dev-mq-1/acks"
        assert not device.subscribe(acks)[0].is_failure
        assert not server.wait_puback(server.publish(acks, b"ack-1")).is_failure
        assert wait_until(lambda: len(device.messages) == 1, 10), _text(log)

        # Revocation rewrites the ACL and SIGHUPs the broker, which re-reads its config and ACL
        # as user mosquitto: the rewritten ACL must keep its group and mode.
        sign = ed25519.Ed25519PrivateKey.generate()
        (tmp_path / "sign.pub").write_bytes(keys.ed25519_public_pem(sign.public_key()))
        fieldkit("admin", "add-device", "--config", cfg, "--id", "dev-mq-1", "--sign-pub",
                 str(tmp_path / "sign.pub"), "--cert", str(dev_cert))
        r = fieldkit("admin", "revoke-device", "--config", cfg, "--id", "dev-mq-1", "--json")
        assert '"broker": "reloaded"' in r.stdout, r.stdout
        assert wait_until(lambda: "Reloading config" in _text(log), 10)
        acl = (root / "mosquitto" / "acl")
        st = acl.stat()
        assert (stat.S_IMODE(st.st_mode), grp.getgrgid(st.st_gid).gr_name) == (0o640, "mosquitto")
        assert "user dev-mq-1\ntopic deny #" in acl.read_text()
        # The reloaded ACL is in force: the revoked device gets nothing more.
        server.wait_puback(server.publish(acks, b"ack-2"))
        time.sleep(0.5)
        assert len(device.messages) == 1
        connect(*ingest)
        assert "Error" not in _text(log), _text(log)
    finally:
        for c in clients:
            c.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
    assert_private(root)


# --- a broker user other than mosquitto (--broker-user) --------------------------------------


@pytest.fixture
def system_user() -> Iterator[str]:
    """A fresh system user with its own group, like a package's daemon account (removed after)."""
    if not ROOT:
        pytest.skip("needs root: init shares the broker's files with its group only as root")
    name = f"fkbrk{os.getpid() % 100000}"
    subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--shell",
                    "/usr/sbin/nologin", name], check=True, capture_output=True, timeout=60)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], capture_output=True, timeout=60)


def test_check_config_accepts_a_deployment_made_for_another_broker_user(
        open_dir: Path, system_user: str) -> None:
    """init --broker-user NAME shares pki/server.key 0640 with NAME's group: check-config and
    serve must accept what init just made, and still refuse everything else."""
    root = open_dir / "dep"
    init(root, "--broker-user", system_user)
    group = grp.getgrgid(pwd.getpwnam(system_user).pw_gid).gr_name
    modes = assert_private(root)
    assert modes["pki/server.key"][0] == 0o640 and modes["pki/server.key"][2] == group, table(modes)
    assert f"user {system_user}" in (root / "mosquitto" / "mosquitto.conf").read_text()
    cfg = str(root / "server.toml")
    r = fieldkit("check-config", "--config", cfg, ok=False)
    print(f"$ fieldkit-server check-config  -> {r.returncode}\n{r.stdout}{r.stderr}")
    assert r.returncode == 0 and r.stdout.strip().endswith(": ok"), r.stdout + r.stderr

    def refused(target: Path, *want: str) -> None:
        for args in (["check-config", "--config", cfg], ["serve", "--config", cfg, "--no-mqtt"]):
            r = fieldkit(*args, ok=False, timeout=60)
            print(f"$ fieldkit-server {' '.join(args)}  -> {r.returncode}\n{r.stderr}")
            assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.returncode, r.stderr)
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and str(target) in lines[0], lines
            assert all(w in lines[0] for w in want), (want, lines)

    key = root / "pki" / "server.key"
    key.chmod(0o644)  # the broker's key, now readable by every local user
    refused(key, "0644", f"chmod 600 {key}", f"chgrp {group} {key} && chmod 640 {key}")
    key.chmod(0o640)
    os.chown(key, -1, grp.getgrnam("mosquitto").gr_gid)  # a group this deployment's broker is not
    refused(key, "0640", f"chgrp {group} {key}")
    os.chown(key, -1, pwd.getpwnam(system_user).pw_gid)
    toml = root / "server.toml"  # only the broker's key may be shared, not the config
    os.chown(toml, -1, pwd.getpwnam(system_user).pw_gid)
    toml.chmod(0o640)
    refused(toml, "0640", f"chmod 600 {toml}")
    toml.chmod(0o600)
    fieldkit("check-config", "--config", cfg)


# --- revocation when the broker's ACL cannot be written --------------------------------------


def test_revoke_reports_an_acl_it_cannot_write_instead_of_a_traceback(tmp_path: Path) -> None:
    """The ACL's folder is not writable by the server's user: the device is revoked in the
    registry and the report says why the broker was not updated (no traceback, no 500).
    As root, the command runs without CAP_DAC_OVERRIDE (setpriv), so the folder's mode applies
    to it as to any other user."""
    root = tmp_path / "dep"
    init(root)
    cfg = str(root / "server.toml")
    add_device(tmp_path, cfg, "dev-acl-1")
    broker_dir, acl = root / "mosquitto", root / "mosquitto" / "acl"
    before = acl.read_bytes()
    prefix = (["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all", "--"]
              if ROOT else [])
    broker_dir.chmod(0o550)  # the folder holding the ACL: no write for its owner either
    try:
        r = subprocess.run([*prefix, FIELDKIT_SERVER, "admin", "revoke-device", "--config", cfg,
                            "--id", "dev-acl-1", "--json"], capture_output=True, text=True,
                           timeout=120, umask=WIDE_UMASK)
        print(f"$ fieldkit-server admin revoke-device --json  -> {r.returncode}\n{r.stdout}{r.stderr}")
    finally:
        broker_dir.chmod(0o750 if ROOT else 0o700)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    report = json.loads(r.stdout)
    assert report["broker"].startswith("error: ") and str(acl) in report["broker"], report
    assert "Permission denied" in report["broker"], report
    assert report["denied_devices"] == ["dev-acl-1"], report
    assert acl.read_bytes() == before and not (broker_dir / "acl.tmp").exists()
    listed = fieldkit("admin", "list-devices", "--config", cfg, "--json")
    assert [d["state"] for d in json.loads(listed.stdout)] == ["revoked"], listed.stdout
    # Once the folder is writable again, revoking again writes the deny rule.
    r2 = fieldkit("admin", "revoke-device", "--config", cfg, "--id", "dev-acl-1", "--json")
    assert "user dev-acl-1\ntopic deny #" in acl.read_text(), (r2.stdout, acl.read_text())


# --- acuses de recibo: receipts with the citizen's e-mail and folio --------------------------


def test_check_config_and_serve_refuse_old_acuses_others_can_read(tmp_path: Path) -> None:
    """An upgraded deployment keeps the receipts the old server wrote 0644 (folder 0755): each
    holds a citizen's name, e-mail address and folio. check-config and serve refuse them with one
    command for the folder (quoted: the deployment's path has a space)."""
    root = tmp_path / "old dep"
    init(root)
    cfg = str(root / "server.toml")
    acuses = root / "data" / "acuses"
    acuses.mkdir(mode=0o755)
    acuses.chmod(0o755)
    for i in (1, 2):
        eml = acuses / f"TST-0000{i}.eml"
        eml.write_text("To: ciudadana@example.org\nSubject: Acuse TST-00001\n\nfolio TST-00001\n")
        eml.chmod(0o644)
    fix = f"chmod -R go= '{acuses}'"
    for args in (["check-config", "--config", cfg], ["serve", "--config", cfg, "--no-mqtt"]):
        r = fieldkit(*args, ok=False, timeout=60)
        print(f"$ fieldkit-server {' '.join(args)}  -> {r.returncode}\n{r.stderr}")
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.returncode, r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and str(acuses) in lines[0] and lines[0].endswith(f"fix: {fix}"), lines
        assert "2 " in lines[0] and ".eml" in lines[0], lines
    subprocess.run(lines[0].split("fix: ", 1)[1], shell=True, check=True)
    assert {stat.S_IMODE(p.stat().st_mode) for p in acuses.iterdir()} == {0o600}
    fieldkit("check-config", "--config", cfg)
    # A receipt readable by its group only is refused as well.
    (acuses / "TST-00001.eml").chmod(0o640)
    r = fieldkit("check-config", "--config", cfg, ok=False)
    assert r.returncode == 2 and str(acuses) in r.stderr and "1 " in r.stderr, r.stderr


def test_replace_keeping_access_leaves_no_tmp_file_when_it_fails(tmp_path: Path) -> None:
    from server_stub.deploy.file_modes import replace_keeping_access

    target = tmp_path / "acl"
    target.mkdir()  # os.replace cannot put a file over a folder, even as root
    with pytest.raises(OSError):
        replace_keeping_access(target, b"user x\ntopic deny #\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acl"]
