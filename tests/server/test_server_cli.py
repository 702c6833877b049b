"""`fieldkit-server` as an operator runs it: init, config errors, admin, serve (subprocess)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from server_stub.cli.main import main
from server_stub.core.config import load_config
from server_stub.core.store import open_store
from server_stub.deploy import keys, pki


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server_stub.cli", *args], capture_output=True,
                          text=True, timeout=60)


def test_init_makes_a_complete_deployment_and_refuses_to_overwrite(tmp_path: Path) -> None:
    root = tmp_path / "dep"
    assert main(["init", str(root), "--workers", "2", "--suite", "x25519"]) == 0
    cfg = load_config(root / "server.toml")
    assert [i.name for i in cfg.mqtt.identities] == ["server:ingest-1", "server:ingest-2"]
    assert cfg.mqtt.share_group.startswith("ingest-") and len(cfg.mqtt.share_group) > 20
    for p in [*cfg.keys.seal_keys, cfg.keys.sign_key, cfg.tls.ca_key, *(i.key for i in cfg.mqtt.identities)]:
        assert p is not None and stat.S_IMODE(p.stat().st_mode) == 0o600, p
    # The TLS key is also the broker's: as root, Mosquitto reads it as user mosquitto, through its
    # group (tests/server/test_server_files.py has every mode).
    assert stat.S_IMODE(cfg.tls.server_key.stat().st_mode) == (0o640 if os.geteuid() == 0 else 0o600)
    assert keys.load_seal_public(cfg.keys.seal_public).suite.name == "x25519"
    assert keys.load_seal_private(cfg.keys.seal_keys[0]).public_key() == keys.load_seal_public(
        cfg.keys.seal_public)
    keys.load_ed25519_public(cfg.keys.sign_public)
    acl = (root / "mosquitto" / "acl").read_text()
    assert "user server:ingest-2" in acl
    before = (root / "keys" / "server-seal.key").read_bytes()
    r = cli("init", str(root))
    assert r.returncode == 1 and "refusing to overwrite" in r.stderr
    assert (root / "keys" / "server-seal.key").read_bytes() == before
    assert cli("check-config", "--config", str(root / "server.toml")).returncode == 0


def test_bad_config_is_one_line_naming_file_and_field_exit_2(tmp_path: Path) -> None:
    root = tmp_path / "dep"
    assert main(["init", str(root)]) == 0
    cfg = root / "server.toml"
    text = cfg.read_text()
    for bad, field in ((text.replace("port = 8443", 'port = "x"'), "https.port"),
                       (text + "\n[extra]\nx = 1\n", "extra"),
                       (text.replace("[store]", "[store]\nurl2 = 1"), "store.url2"),
                       (text.replace('url = "sqlite:data/fieldkit.db"', 'url = "mysql://x"'), "store.url")):
        cfg.write_text(bad)
        r = cli("serve", "--config", str(cfg))
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and str(cfg) in lines[0] and field in lines[0], lines
    r = cli("serve", "--config", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and "missing.toml" in r.stderr
    cfg.write_text(text)
    os.chmod(root / "keys" / "server-sign.key", 0o644)
    r = cli("check-config", "--config", str(cfg))
    assert r.returncode == 2 and "0600" in r.stderr


def test_admin_add_device_from_csr_list_revoke(tmp_path: Path) -> None:
    root = tmp_path / "dep"
    assert main(["init", str(root)]) == 0
    cfg = str(root / "server.toml")
    _key, csr = pki.make_csr("kiosk-07")
    (tmp_path / "kiosk.csr").write_bytes(csr)
    sign = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "sign.pub").write_bytes(keys.ed25519_public_pem(sign.public_key()))
    out = tmp_path / "kiosk.crt"
    r = cli("admin", "add-device", "--config", cfg, "--id", "kiosk-07", "--sign-pub",
            str(tmp_path / "sign.pub"), "--csr", str(tmp_path / "kiosk.csr"), "--cert-out", str(out))
    assert r.returncode == 0, r.stderr
    assert pki.cert_common_name(pki.load_cert(out)) == "kiosk-07"
    pub = str(tmp_path / "sign.pub")
    r = cli("admin", "add-device", "--config", cfg, "--id", "kiosk-07", "--sign-pub", pub)
    assert r.returncode == 1 and "already registered" in r.stderr
    r = cli("admin", "add-device", "--config", cfg, "--id", "bad.id", "--sign-pub", pub)
    assert r.returncode == 1 and "invalid device id" in r.stderr
    assert cli("admin", "revoke-device", "--config", cfg, "--id", "kiosk-07").returncode == 0
    store = open_store(load_config(cfg).store_url())
    try:
        [d] = store.list_devices()
        raw = sign.public_key().public_bytes_raw()
        assert (d.device_id, d.state, d.sign_pub) == ("kiosk-07", "revoked", raw)
    finally:
        store.close()
