"""Enrollment end to end with the real server, broker and TLS."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from kiosk.i18n import render
from server_stub.fleet import tables as fleet
from sync.agent.freeze import capture_refusal, offered_processes
from sync.common.msg import Msg
from sync.device.enroll import EnrollError, _make_keys, _redeem, _verify, enroll
from sync.wire import enrollment as proto
from tests.helpers.fleet import Fleet, wait_until

BIN = Path(sys.executable).parent


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_enroll_then_capture_and_sync(fleet_env: Fleet, tmp_path: Path) -> None:
    # The coordinator's CLI issues the code and its QR; the device's CLI redeems it.
    r = subprocess.run([str(BIN / "fieldkit-server"), "admin", "enroll-code", "--config",
                        str(fleet_env.server.config_path), "--auxiliary", "aux-0001",
                        "--auxiliary", "coord-01",
                        "--server-url", fleet_env.enroll_url, "--qr", str(tmp_path / "qr.png"), "--json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    issued = json.loads(r.stdout)
    assert (tmp_path / "qr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert issued["code"] in issued["uri"] and "ca=" in issued["uri"]
    cfg_path = tmp_path / "kiosk" / "device.toml"
    r = subprocess.run([str(BIN / "fieldkit-kiosk"), "--config", str(cfg_path), "enroll", issued["code"],
                        "--server", fleet_env.enroll_url, "--json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["ok"] and out["auxiliaries"] == ["aux-0001", "coord-01"]
    assert out["device_id"].startswith("fk-") and out["processes"] == ["ci-2027-df-0901"]

    from sync.device.enroll import EnrollResult
    from tests.helpers.fleet import FleetDevice

    dev = FleetDevice(EnrollResult(out["device_id"], out["folio_prefix"], cfg_path, out["processes"],
                                   out["auxiliaries"]))
    fleet_env.devices.append(dev)
    cfg = dev.config
    assert cfg.device.folio_prefix == out["folio_prefix"] and cfg.auxiliaries[1].role == "coordinador"
    for k in ("client_key", "signing_key", "outbox_key"):
        assert _mode(getattr(cfg.keys, k)) == 0o600
    for d in (cfg.keys.client_key.parent, cfg.device.data_dir, cfg_path.parent / "device.d"):
        assert _mode(d) == 0o700
    assert [p.id for p in offered_processes(cfg)] == ["ci-2027-df-0901"]
    assert capture_refusal(cfg) is None

    folios = dev.capture(3)
    assert all(f.startswith(out["folio_prefix"] + "-") for f in folios)
    agent = dev.agent()
    assert wait_until(lambda: fleet_env.server.stored_count() == 3, 30)
    assert wait_until(lambda: (hb := fleet_env.heartbeat(dev.id)) is not None and hb.online
                      and hb.pending == 0, 30)
    hb = fleet_env.heartbeat(dev.id)
    assert hb is not None and hb.free_disk_bytes and hb.app_version and hb.last_sync_ms
    assert agent.snapshot().pending == 0
    # The same code again, from another device: refused, nothing written there.
    with pytest.raises(EnrollError) as e:
        enroll(issued["uri"], config_path=tmp_path / "other" / "device.toml")
    assert e.value.reason == "used" and "ya se usó" in e.value.message
    assert not any((tmp_path / "other").rglob("*"))


def test_retry_with_the_same_keys_is_the_same_enrollment(fleet_env: Fleet, tmp_path: Path) -> None:
    code = proto.parse_code(fleet_env.code().uri)
    keys = _make_keys()
    ca = tmp_path / "ca.pem"
    ca.write_bytes(fleet_env.server.ca_cert.read_bytes())
    first = _redeem(fleet_env.enroll_url, ca, code, keys, 10)
    second = _redeem(fleet_env.enroll_url, ca, code, keys, 10)  # "the response was lost"
    assert first == second
    b = _verify(first, code, keys)
    assert fleet_env.store.get_device(b["device_id"]) is not None
    with pytest.raises(EnrollError) as e:  # another device's keys: a second use
        _redeem(fleet_env.enroll_url, ca, code, _make_keys(), 10)
    assert e.value.reason == "used"


def test_expired_wrong_server_tampered_and_foreign_csr_are_refused(fleet_env: Fleet, tmp_path: Path) -> None:
    target = tmp_path / "dev" / "device.toml"
    old = fleet_env.code(now_ms=int(time.time() * 1000) - 25 * 3600 * 1000)
    with pytest.raises(EnrollError) as e:
        enroll(old.code, fleet_env.enroll_url, target)
    assert e.value.reason == "expired" and "venció" in e.value.message

    # A code whose CA fingerprint is not this server's: refused before anything is sent.
    good = fleet_env.code()
    c = proto.parse_code(good.code)
    wrong = proto.EnrollCode(c.secret, "0" * 8 if c.fp_prefix != "0" * 8 else "1" * 8).display
    with pytest.raises(EnrollError) as e:
        enroll(wrong, fleet_env.enroll_url, target)
    assert e.value.reason == "wrong_server" and "huella" in e.value.message

    # A CSR naming another device: refused, and the code stays unused.
    code = proto.parse_code(good.uri)
    from server_stub.deploy import pki

    _k, csr = pki.make_csr("dev-0001")
    keys = _make_keys()
    req = {"v": 1, "code_id": code.code_id(), "csr": csr.decode(), "sign_pub": keys.sign_raw.hex(),
           "request_mac": proto.request_mac(code.mac_key(), csr, keys.sign_raw)}
    r = requests.post(fleet_env.enroll_url + "/v1/enroll", json=req, verify=str(fleet_env.server.ca_cert),
                      timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "csr_names_other_device"
    assert "dev-0001" in r.json()["message"]

    # Tampered bundles (changed field; re-signed by someone else): refused by the device.
    ca = tmp_path / "ca.pem"
    ca.write_bytes(fleet_env.server.ca_cert.read_bytes())
    bundle = _redeem(fleet_env.enroll_url, ca, code, keys, 10)
    body, sig, mac = proto.unpack_bundle(bundle)
    forged = body.replace(b'"folio_prefix":"', b'"folio_prefix":"Z')
    from cryptography.hazmat.primitives.asymmetric import ed25519

    evil = ed25519.Ed25519PrivateKey.generate()
    for data in (proto.pack_bundle(forged, sig, mac),
                 proto.pack_bundle(forged, evil.sign(proto.BUNDLE_CONTEXT + forged), mac),
                 proto.pack_bundle(body, sig, bytes(32)), b"not json"):
        with pytest.raises(EnrollError) as e:
            _verify(data, code, keys)
        assert e.value.reason == "tampered" and "auténtica" in e.value.message
    assert _verify(bundle, code, keys)["device_id"]
    assert not target.parent.exists() or not any(target.parent.rglob("*"))


def test_auxiliaries_of_two_aspirants_cannot_share_a_device(fleet_env: Fleet) -> None:
    from server_stub.verify import processes as procmod

    procmod.add_aspirant(fleet_env.store, "ci-2027-df-0901", "asp-0002", "OTRO ASPIRANTE", entidad=9,
                         distrito_federal=1)
    with pytest.raises(fleet.FleetError, match="un aspirante"):
        fleet.put_auxiliary(fleet_env.store, "aux-x", "X", "123456", ["ci-2027-df-0901"])


def test_freeze_policy_and_collection_period(fleet_env: Fleet) -> None:
    from dataclasses import replace

    from sync.device.config import FreezeSection

    dev = fleet_env.enroll("freeze")
    cfg = dev.config
    dev.capture(2)
    assert capture_refusal(replace(cfg, freeze=FreezeSection(max_pending=2))) == \
        Msg("freeze.pending", {"pending": 2, "max_pending": 2}, n=2)
    msg = capture_refusal(cfg, now_ms=int(time.time() * 1000) + 4 * 86_400_000)
    assert msg is not None and msg.code == "freeze.unsent_age"
    assert msg.args["max_days"] == f"{cfg.freeze.max_unsent_age_days:g}"
    # Whole days, and the count that picks the plural form: "hace 4 días", "for 4 days".
    assert msg.args["days"] == msg.n == 4
    assert "hace 4 días (máximo 3)" in render(msg) and "for 4 days" in render(msg, lang="en")
    assert capture_refusal(cfg) is None
    p = cfg.processes[0]
    assert offered_processes(cfg, now_ms=p.end_ms + 1) == []
    assert offered_processes(cfg, now_ms=p.start_ms - 1) == []
    # Once synced, the freeze lifts by itself.
    dev.agent()
    assert wait_until(lambda: dev.outbox().counts().unacknowledged == 0, 30)
    assert capture_refusal(cfg, now_ms=int(time.time() * 1000) + 4 * 86_400_000) is None
