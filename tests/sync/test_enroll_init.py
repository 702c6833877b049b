"""A fresh `fieldkit-server init` deployment, run as an operator would: Mosquitto with the config
init wrote, `fieldkit-server serve`, an enrollment code, `fieldkit-kiosk enroll`, records over
MQTT, and a revocation that reaches the broker (no edits to the generated files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from server_stub.core.config import load_config
from server_stub.core.store import open_store
from server_stub.deploy.broker_process import find_mosquitto, free_port
from sync.device.enroll import EnrollResult
from tests.helpers.fleet import FleetDevice, wait_until
from tests.helpers.mqtt import Identity, TestClient, make_client

BIN = Path(sys.executable).parent
ROOT = "fieldkit/v1/devices"
NOT_AUTHORIZED = 135


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([str(BIN / args[0]), *args[1:]], input=stdin, capture_output=True, text=True,
                       timeout=90)
    assert r.returncode == 0, f"{args}: {r.stdout}{r.stderr}"
    return r


class Deployment:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.ports = {"https": free_port(), "mqtt": free_port(), "enroll": free_port(),
                      "mqtt_server": free_port()}
        extra = ["--broker-user", "root"] if os.geteuid() == 0 else []  # mosquitto drops to its user
        run("fieldkit-server", "init", str(root), "--suite", "x25519",
            "--https-port", str(self.ports["https"]), "--mqtt-port", str(self.ports["mqtt"]),
            "--mqtt-server-port", str(self.ports["mqtt_server"]),
            "--enroll-port", str(self.ports["enroll"]), *extra)
        self.config_path = root / "server.toml"
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        log = (self.root / "mosquitto.out").open("ab")
        conf = self.root / "mosquitto" / "mosquitto.conf"
        self.procs.append(subprocess.Popen([str(find_mosquitto()), "-c", str(conf)], stdout=log, stderr=log,
                                           start_new_session=True))
        pid_file = self.root / "mosquitto" / "mosquitto.pid"
        assert wait_until(lambda: pid_file.exists() and pid_file.read_text().strip().isdigit(), 15), \
            (self.root / "mosquitto" / "mosquitto.log").read_text(errors="replace")
        assert int(pid_file.read_text()) == self.procs[0].pid
        out = self.root / "serve.out"
        with out.open("ab") as f:
            self.procs.append(subprocess.Popen([str(BIN / "fieldkit-server"), "serve", "--config",
                                                str(self.config_path)], stdout=f, stderr=f,
                                               start_new_session=True))
        ready = wait_until(lambda: "fieldkit-server ready" in out.read_text(errors="replace"), 30)
        assert ready, out.read_text()

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    d = Deployment(tmp_path / "dep")
    try:
        yield d
    finally:
        d.stop()


def test_fresh_init_serves_enrollment_and_revocation_reaches_the_broker(deployment: Deployment,
                                                                        tmp_path: Path) -> None:
    cfg = load_config(deployment.config_path)
    # What init wrote for the fleet: the listener on, revocation wired to the broker's files.
    assert cfg.fleet.enroll_port == deployment.ports["enroll"]
    assert cfg.fleet.broker_acl == deployment.root / "mosquitto" / "acl"
    assert cfg.fleet.broker_pid_file == deployment.root / "mosquitto" / "mosquitto.pid"
    conf = (deployment.root / "mosquitto" / "mosquitto.conf").read_text()
    assert f"pid_file {cfg.fleet.broker_pid_file}" in conf and f"acl_file {cfg.fleet.broker_acl}" in conf
    deployment.start()
    c = str(deployment.config_path)
    today = datetime.now(UTC)
    run("fieldkit-server", "process", "define", "--config", c, "--id", "df-01",
        "--kind", "diputacion_federal", "--name", "Diputación 01",
        "--start", (today - timedelta(days=1)).isoformat(),
        "--end", (today + timedelta(days=20)).isoformat())
    run("fieldkit-server", "process", "add-aspirant", "--config", c, "--process", "df-01", "--id", "asp-1",
        "--name", "ASPIRANTE", "--entidad", "9", "--distrito", "1")
    run("fieldkit-server", "admin", "auxiliary-add", "--config", c, "--id", "aux-1", "--name", "AUX UNO",
        "--pin-stdin", "--process", "df-01", stdin="123456\n")
    issued = json.loads(run("fieldkit-server", "admin", "enroll-code", "--config", c, "--auxiliary", "aux-1",
                            "--json").stdout)
    assert f"127.0.0.1:{deployment.ports['enroll']}" in issued["uri"]  # the URL from [fleet], not typed

    dev_cfg = tmp_path / "kiosk" / "device.toml"
    out = json.loads(run("fieldkit-kiosk", "--config", str(dev_cfg), "enroll", issued["uri"],
                         "--json").stdout)
    assert out["ok"] and out["processes"] == ["df-01"] and out["auxiliaries"] == ["aux-1"]
    dev = FleetDevice(EnrollResult(out["device_id"], out["folio_prefix"], dev_cfg, out["processes"],
                                   out["auxiliaries"]))
    assert dev.config.server.mqtt_url == f"mqtts://127.0.0.1:{deployment.ports['mqtt']}"
    dev.capture(2)
    agent = dev.agent(transport="mqtt")
    try:
        assert wait_until(lambda: dev.outbox().counts().unacknowledged == 0, 60)
    finally:
        agent.stop(10)
    store = open_store(cfg.store_url())
    try:
        assert store.count_records() == 2
    finally:
        store.close()

    ident = Identity(dev.id, dev.config.keys.client_cert, dev.config.keys.client_key)
    client = TestClient(make_client(cfg.tls.ca_cert, ident),
                        SimpleNamespace(host="127.0.0.1", port=deployment.ports["mqtt"]))  # type: ignore[arg-type]
    try:
        assert client.connect()
        assert not client.wait_puback(client.publish(f"{ROOT}/{dev.id}/status", b"{}")).is_failure
        report = json.loads(run("fieldkit-server", "admin", "revoke-device", "--config", c, "--id", dev.id,
                                "--json").stdout)
        assert report["broker"] == "reloaded", report
        assert f"user {dev.id}" in cfg.fleet.broker_acl.read_text()  # type: ignore[union-attr]
        # The broker (same process, no restart) refuses the revoked device's publishes.
        topic = f"{ROOT}/{dev.id}/records"
        assert wait_until(lambda: client.wait_puback(client.publish(topic, b"x")).value == NOT_AUTHORIZED,
                          10, 0.2)
        assert deployment.procs[0].poll() is None
    finally:
        client.close()
