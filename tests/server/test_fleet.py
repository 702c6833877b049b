"""Fleet with the real server, broker and TLS: revocation without a broker restart, signed
wipe and config update (MQTT and HTTPS-only), heartbeats, and the last will."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

from server_stub.fleet import command_issue as commands
from server_stub.fleet import tables as fleet
from sync.agent.freeze import capture_refusal
from sync.common.msg import Msg
from sync.device.command_exec import REVOKED_TEXT, is_locked_out, is_revoked, record_pin_failure
from sync.wire.command import Command, sign_command
from sync.wire.config_schema import CONFIG_SCHEMA
from tests.helpers.fleet import Fleet, wait_until
from tests.helpers.mqtt import NOT_AUTHORIZED

BIN = Path(sys.executable).parent
ROOT = "fieldkit/v1/devices"


def test_revoked_device_is_refused_by_broker_and_https_and_knows_it(fleet_env: Fleet,
                                                                     mqtt_client) -> None:
    dev = fleet_env.enroll("lost")
    cfg = dev.config
    dev.capture(2)
    agent = dev.agent()
    assert wait_until(lambda: (hb := fleet_env.heartbeat(dev.id)) is not None and hb.pending == 0, 30)
    agent.stop(10)
    dev.capture(1)  # still on the device when it is lost
    pid = fleet_env.broker.proc.pid if fleet_env.broker.proc else None
    # Its TLS identity, straight from the enrolled files.
    from tests.helpers.mqtt import Identity

    ident = Identity(dev.id, cfg.keys.client_cert, cfg.keys.client_key)
    c = mqtt_client(fleet_env.broker, ident)
    assert c.connect()
    assert not c.wait_puback(c.publish(f"{ROOT}/{dev.id}/status", b"{}")).is_failure

    report = fleet_env.revoke(dev.id)
    assert report.broker == "reloaded" and report.pending == 0 and dev.id in report.denied_devices
    # The broker applies the deny at once, to the connection that is already open, no restart.
    assert wait_until(lambda: c.wait_puback(c.publish(f"{ROOT}/{dev.id}/records", b"x")).value
                      == NOT_AUTHORIZED, 10, 0.2)
    c2 = mqtt_client(fleet_env.broker, ident)
    assert c2.connect()
    assert c2.wait_puback(c2.publish(f"{ROOT}/{dev.id}/status", b"{}")).value == NOT_AUTHORIZED
    assert fleet_env.broker.proc is not None and fleet_env.broker.proc.pid == pid
    # HTTPS refuses it too.
    r = requests.get(f"{fleet_env.server.https_url}/v1/health", cert=(str(cfg.keys.client_cert),
                     str(cfg.keys.client_key)), verify=str(cfg.keys.ca), timeout=10)
    assert r.status_code == 403 and r.json()["error"] == "device_revoked"
    # The device's own agent finds out and says so; the kiosk refuses captures.
    agent = dev.agent()
    assert wait_until(lambda: agent.snapshot().state.last_error == REVOKED_TEXT, 30)
    assert is_revoked(cfg) and capture_refusal(cfg) == Msg("freeze.revoked")
    assert dev.outbox().counts().unacknowledged == 1  # kept: nothing was sent or erased
    # Other devices are unaffected.
    other = fleet_env.enroll("ok")
    other.capture(1)
    other.agent()
    assert wait_until(lambda: other.outbox().counts().unacknowledged == 0, 30)


def test_forged_wipes_do_nothing_and_a_real_one_leaves_nothing(fleet_env: Fleet, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    dev = fleet_env.enroll("wipe-me")
    dev.capture(1)
    agent = dev.agent()
    assert wait_until(lambda: (hb := fleet_env.heartbeat(dev.id)) is not None and hb.online, 30)
    dev.capture(2)  # unsent records too
    before = dev.files()
    now = int(time.time() * 1000)
    evil = ed25519.Ed25519PrivateKey.generate()
    forged = sign_command(Command(uuid.uuid4(), dev.id, 99, now, now + 60_000, "wipe"), evil)
    foreign = sign_command(Command(uuid.uuid4(), "fk-someoneelse", 99, now, now + 60_000, "wipe"),
                           fleet_env.sign_key)
    stale = sign_command(Command(uuid.uuid4(), dev.id, 99, now - 120_000, now - 60_000, "wipe"),
                         fleet_env.sign_key)
    for data in (forged, foreign, stale, b"\xa0garbage"):
        agent.handle_command(data, "mqtt")
    time.sleep(1.0)
    assert not agent.wiped and all(p.exists() for p in before)
    c = dev.outbox().counts()  # the outbox still opens with its key and has lost nothing
    assert c.put_total == 3 and c.unacknowledged + c.acked_total == 3, c

    q = commands.queue_command(fleet_env.store, fleet_env.sign_key, dev.id, "wipe")
    assert q.seq == 1
    assert wait_until(lambda: agent.wiped, 30)
    agent.stop(10)
    assert dev.files() == [] and not dev.result.config_path.exists()
    # Replaying the real wipe elsewhere (another device) does nothing either.
    other = fleet_env.enroll("other")
    a2 = other.agent()
    a2.handle_command(q.command, "mqtt")
    time.sleep(0.5)
    assert not a2.wiped and other.result.config_path.exists()


def test_https_only_device_heartbeats_and_commands(fleet_env: Fleet) -> None:
    dev = fleet_env.enroll("https-only")
    cfg = dev.config
    for _ in range(5):
        record_pin_failure(cfg, "aux-0001")
    assert is_locked_out(cfg, "aux-0001")
    old_hash = {a.id: a.pin_hash for a in cfg.auxiliaries}["aux-0001"]
    dev.capture(1)
    from dataclasses import replace

    from tests.helpers.fleet import FAST

    agent = dev.agent(replace(FAST, heartbeat_s=1.0), transport="https")
    assert wait_until(lambda: (hb := fleet_env.heartbeat(dev.id)) is not None and hb.via == "https"
                      and hb.pending == 0, 30)
    hb = fleet_env.heartbeat(dev.id)  # the server cuts config updates to this (config_schema.py)
    assert hb is not None and hb.status["config_schema"] == CONFIG_SCHEMA
    # New PIN for aux-0001 from the coordinator: a signed config update with an unlock.
    r = subprocess.run([str(BIN / "fieldkit-server"), "admin", "auxiliary-pin", "--config",
                        str(fleet_env.server.config_path), "--id", "aux-0001", "--pin-stdin"],
                       input="424242\n", capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["config_updates"] == [{"device_id": dev.id, "seq": 1}]
    assert wait_until(lambda: {a.id: a.pin_hash for a in dev.config.auxiliaries}["aux-0001"] != old_hash, 30)
    # The agent writes the new config, then clears the lockout: wait for both, not the first.
    assert wait_until(lambda: not is_locked_out(dev.config, "aux-0001"), 30)
    from sync.common.pin import verify_pin

    assert verify_pin("424242", {a.id: a.pin_hash for a in dev.config.auxiliaries}["aux-0001"])
    assert wait_until(lambda: (hb := fleet_env.heartbeat(dev.id)) is not None
                      and hb.last_command_seq == 1, 30)
    assert agent.snapshot().state.last_error is None


def test_killed_device_is_marked_offline_by_its_last_will(fleet_env: Fleet) -> None:
    dev = fleet_env.enroll("killed")
    p = subprocess.Popen([str(BIN / "fieldkit-sync"), "--config", str(dev.result.config_path), "run"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    try:
        assert wait_until(lambda: (hb := fleet_env.heartbeat(dev.id)) is not None and hb.online, 30)
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        assert wait_until(lambda: (hb := fleet_env.heartbeat(dev.id)) is not None and not hb.online, 20)
        hb = fleet_env.heartbeat(dev.id)
        assert hb is not None and hb.via == "mqtt-lwt" and hb.pending == 0  # numbers kept from before
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
    out = subprocess.run([str(BIN / "fieldkit-server"), "admin", "fleet", "--config",
                          str(fleet_env.server.config_path)], capture_output=True, text=True, timeout=60)
    rows = {r["device_id"]: r for r in json.loads(out.stdout)}
    assert rows[dev.id]["online"] is False and rows[dev.id]["state"] == "active"
    assert fleet.list_heartbeats(fleet_env.store)[0].device_id == dev.id
