"""Provisioning a self-service device (docs/self-service.md, docs/enrollment.md): the coordinator's
command line and the dashboard issue a self-service code (no auxiliaries, one aspirant); the
device redeems it against the real enrollment listener and gets `[self_service] enabled = true`
and the records listener's HTTPS address; the server marks it `fleet_devices.self_service = 1`,
keeps `[self_service]` in its config updates, and cuts it for a device that reports schema 3."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests

from server_stub.dashboard import audit
from server_stub.deploy.broker_process import Broker
from server_stub.fleet import command_issue, enrollment_codes
from server_stub.fleet import tables as fleet
from server_stub.verify import processes as procmod
from sync.device.command_exec import apply_command
from sync.device.config import load_config as load_device_config
from sync.device.enroll import EnrollError, _make_keys, enroll, enroll_request
from sync.wire import enrollment as proto
from sync.wire.command import parse_command
from tests.conftest import DASH_PASSWORD
from tests.helpers.fleet import ASPIRANT, PROCESS, Fleet, FleetDevice
from tests.helpers.server import IngestServer

BIN = Path(sys.executable).parent


def _server(fl: Fleet, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "fieldkit-server"), "admin", "enroll-code", "--config",
                           str(fl.server.config_path), "--server-url", fl.enroll_url, *args],
                          capture_output=True, text=True, timeout=60)


def _codes(fl: Fleet) -> int:
    return len(fl.store.query("SELECT code_id FROM enrollment_codes"))


def _payload(q: command_issue.QueuedCommand) -> dict[str, Any]:
    body = json.loads(parse_command(q.command)[0].payload)
    assert isinstance(body, dict)
    return body


def test_the_command_line_issues_a_self_service_code_and_the_device_enrolls_as_one(
        fleet_env: Fleet, tmp_path: Path) -> None:
    r = _server(fleet_env, "--self-service", "--aspirant", ASPIRANT, "--json")
    assert r.returncode == 0, r.stderr
    issued = json.loads(r.stdout)
    assert issued["self_service"] is True and issued["auxiliaries"] == []
    assert issued["aspirant"] == ASPIRANT and issued["processes"] == [PROCESS]

    cfg_path = tmp_path / "kiosk" / "device.toml"
    r = subprocess.run([str(BIN / "fieldkit-kiosk"), "--config", str(cfg_path), "enroll", issued["uri"],
                        "--json"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["auxiliaries"] == [] and out["processes"] == [PROCESS]

    # The device: the table in its config file, and the address activations go to.
    written = tomllib.loads(cfg_path.read_text())
    assert written["self_service"] == {"enabled": True}
    cfg = load_device_config(cfg_path)
    assert cfg.self_service.enabled and cfg.auxiliaries == []
    assert cfg.server.https_url == fleet_env.server.https_url
    assert [(p.id, p.aspirant_id) for p in cfg.processes] == [(PROCESS, ASPIRANT)]

    # The server: a self-service device with no auxiliaries, its code remembered as one.
    dev = out["device_id"]
    assert fleet.is_self_service(fleet_env.store, dev)
    assert fleet.device_auxiliaries(fleet_env.store, dev) == []
    assert dev in fleet.self_service_devices(fleet_env.store)
    [row] = [c for c in enrollment_codes.list_codes(fleet_env.store) if c.device_id == dev]
    assert row.self_service and row.state == "redeemed" and row.auxiliaries == []
    # The signed bundle's body says so too.
    [[bundle]] = fleet_env.store.query("SELECT bundle FROM enrollment_codes WHERE device_id = ?", (dev,))
    body = json.loads(proto.unpack_bundle(bytes(bundle))[0])
    assert body["self_service"] is True and body["config"]["self_service"] == {"enabled": True}
    assert body["https_url"] == fleet_env.server.https_url


def test_an_auxiliaries_device_is_not_self_service(fleet_env: Fleet) -> None:
    dev = fleet_env.enroll("kiosk")
    assert not dev.config.self_service.enabled and not dev.result.self_service
    assert not fleet.is_self_service(fleet_env.store, dev.id)
    [[bundle]] = fleet_env.store.query("SELECT bundle FROM enrollment_codes WHERE device_id = ?", (dev.id,))
    body = json.loads(proto.unpack_bundle(bytes(bundle))[0])
    assert "self_service" not in body and "self_service" not in body["config"]
    q = command_issue.queue_config_update(fleet_env.store, fleet_env.sign_key, dev.id)
    assert "self_service" not in _payload(q)


def test_a_self_service_code_is_refused_with_auxiliaries_or_without_what_it_needs(fleet_env: Fleet) -> None:
    s, cfg = fleet_env.store, fleet_env.cfg
    before = _codes(fleet_env)
    with pytest.raises(fleet.FleetError, match="sólo lleva coordinadores"):
        enrollment_codes.issue_enrollment_code(s, cfg, ["aux-0001"], self_service=True, aspirant=ASPIRANT)
    with pytest.raises(fleet.FleetError, match="no está registrado"):
        enrollment_codes.issue_enrollment_code(s, cfg, [], self_service=True, aspirant="asp-nadie")
    procmod.define_process(s, "otro", "diputacion_federal", "Otro", 0, 10**13)
    with pytest.raises(fleet.FleetError, match="no está registrado en otro"):
        enrollment_codes.issue_enrollment_code(s, cfg, [], self_service=True, aspirant=ASPIRANT,
                                               processes=["otro"])
    with pytest.raises(fleet.FleetError, match="sólo con un código de autoservicio"):
        enrollment_codes.issue_enrollment_code(s, cfg, ["aux-0001"], aspirant=ASPIRANT)
    # Activations go over HTTPS: a server that gives devices no HTTPS address cannot have one.
    no_https = replace(cfg, https=replace(cfg.https, enabled=False))
    assert no_https.device_https_url() == ""
    with pytest.raises(fleet.FleetError, match="HTTPS"):
        enrollment_codes.issue_enrollment_code(s, no_https, [], self_service=True, aspirant=ASPIRANT)
    assert _codes(fleet_env) == before

    # The command line: one Spanish line each, no traceback, nothing issued.
    for args, words in ((["--self-service", "--auxiliary", "aux-0001", "--aspirant", ASPIRANT],
                         "sólo lleva coordinadores"),
                        (["--self-service"], "--aspirant"),
                        ([], "--self-service")):
        r = _server(fleet_env, *args, "--json")
        assert r.returncode == 1 and r.stdout == "", r.stdout
        assert r.stderr.count("\n") == 1 and words in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert _codes(fleet_env) == before


def test_an_older_device_cannot_spend_a_self_service_code(fleet_env: Fleet) -> None:
    """A device whose config schema has no [self_service] would enroll as a kiosk nobody can
    unlock: refused, and the code stays valid for a device that can."""
    c = enrollment_codes.issue_enrollment_code(fleet_env.store, fleet_env.cfg, [], self_service=True,
                                               aspirant=ASPIRANT, server_url=fleet_env.enroll_url)
    code = proto.parse_code(c.uri)
    req = {**enroll_request(code, _make_keys()), "config_schema": 3}
    r = requests.post(fleet_env.enroll_url + "/v1/enroll", json=req, verify=str(fleet_env.cfg.tls.ca_cert),
                      timeout=20)
    assert r.status_code == 400 and r.json()["error"] == "self_service_unsupported"
    assert [x.state for x in enrollment_codes.list_codes(fleet_env.store)] == ["issued"]
    dev = fleet_env.enroll("kiosk", c)  # this device's software knows [self_service]
    assert dev.config.self_service.enabled and dev.result.self_service


def test_config_updates_keep_self_service_and_leave_it_out_for_a_device_at_schema_3(fleet_env: Fleet) -> None:
    s, sign = fleet_env.store, fleet_env.sign_key
    c = enrollment_codes.issue_enrollment_code(s, fleet_env.cfg, [], self_service=True, aspirant=ASPIRANT,
                                               server_url=fleet_env.enroll_url)
    dev: FleetDevice = fleet_env.enroll("kiosk", c)
    fleet.record_heartbeat(s, dev.id, {"online": True, "config_schema": 4}, "https")
    q = command_issue.queue_config_update(s, sign, dev.id)
    payload = _payload(q)
    assert payload["self_service"] == {"enabled": True} and payload["auxiliaries"] == []
    assert [p["id"] for p in payload["processes"]] == [PROCESS]
    assert apply_command(dev.config, q.command).applied
    assert dev.config.self_service.enabled

    # A device that says it knows only schema 3 gets no [self_service] (its loader would refuse
    # the update); the table it has stays, as the update replaces only the tables it carries.
    fleet.record_heartbeat(s, dev.id, {"online": True, "config_schema": 3}, "https")
    q = command_issue.queue_config_update(s, sign, dev.id)
    assert "self_service" not in _payload(q) and "processes" in _payload(q)
    assert apply_command(dev.config, q.command).applied
    assert dev.config.self_service.enabled

    # A process change reaches it; auxiliaries cannot be put on it.
    assert dev.id in command_issue.push_process_change(s, sign, PROCESS)
    with pytest.raises(fleet.FleetError, match="autoservicio"):
        command_issue.queue_config_update(s, sign, dev.id, aux_ids=["aux-0001"])
    assert fleet.device_auxiliaries(s, dev.id) == []


def test_the_dashboard_issues_a_self_service_code(dash_fleet: tuple[Fleet, str], tmp_path: Path) -> None:
    fl, url = dash_fleet
    s = requests.Session()
    s.verify = str(fl.cfg.tls.ca_cert)
    s.trust_env = False
    assert s.post(url + "/login", data={"username": "coord", "password": DASH_PASSWORD},
                  allow_redirects=False).status_code == 303
    home = s.get(url + "/").text
    token = re.search(r'name="csrf" value="([^"]+)"', home)
    assert token
    assert 'name="self_service"' in home and "Autoservicio (sin auxiliar)" in home
    assert f'<option value="{ASPIRANT}"' in home

    # Without an aspirant: nothing issued, the page says why.
    page = s.post(url + "/devices/enroll-code", data={"csrf": token.group(1), "self_service": "1"}).text
    assert "Elija el aspirante" in page and 'id="enroll-code-value"' not in page
    assert enrollment_codes.list_codes(fl.store) == []

    # An auxiliary chosen as well is refused (a self-service device carries coordinators only).
    page = s.post(url + "/devices/enroll-code", data={"csrf": token.group(1), "self_service": "1",
                                                      "aspirant": ASPIRANT, "auxiliary": "aux-0001"}).text
    assert "sólo lleva coordinadores" in page and 'id="enroll-code-value"' not in page
    assert enrollment_codes.list_codes(fl.store) == []
    page = s.post(url + "/devices/enroll-code", data={"csrf": token.group(1), "self_service": "1",
                                                      "aspirant": ASPIRANT}).text
    shown = re.search(r'id="enroll-code-value" class="code">([0-9A-Z-]+)<', page)
    assert shown and 'id="issued-self-service"' in page
    [row] = enrollment_codes.list_codes(fl.store)
    assert row.self_service and row.auxiliaries == []

    res = enroll(shown.group(1), fl.enroll_url, config_path=tmp_path / "dev" / "device.toml")
    assert res.self_service and res.auxiliaries == [] and res.processes == [PROCESS]
    assert load_device_config(res.config_path).self_service.enabled
    assert fleet.is_self_service(fl.store, res.device_id)
    with pytest.raises(EnrollError) as e:  # single use, as any code
        enroll(shown.group(1), fl.enroll_url, config_path=tmp_path / "dev2" / "device.toml")
    assert e.value.reason == "used"

    # Cancelling one: the audit log says what it was for.
    s.post(url + "/devices/enroll-code",
           data={"csrf": token.group(1), "self_service": "1", "aspirant": ASPIRANT})
    [spare] = [c for c in enrollment_codes.list_codes(fl.store) if c.state == "issued"]
    r = s.post(url + "/codigos/cancelar", data={"code": spare.code_id_prefix, "csrf": token.group(1)},
               allow_redirects=False)
    assert r.status_code == 303
    [entry] = audit.recent(fl.store, action=audit.CODE_CANCEL)
    assert (entry.target, entry.detail) == (spare.code_id_prefix, "autoservicio")



def test_a_self_service_device_on_postgresql(tmp_path: Path, pg_database: str,
                                             ingest_server_factory: Callable[..., IngestServer],
                                             mosquitto: Broker) -> None:
    fl = Fleet(tmp_path / "fleet", ingest_server_factory, mosquitto, store_url=pg_database)
    try:
        assert fl.store.kind == "postgresql"
        c = enrollment_codes.issue_enrollment_code(fl.store, fl.cfg, [], self_service=True, aspirant=ASPIRANT,
                                                   server_url=fl.enroll_url)
        dev = fl.enroll("pg-dev", c)
        assert dev.config.self_service.enabled and fleet.is_self_service(fl.store, dev.id)
        codes = enrollment_codes.list_codes(fl.store)
        assert [(x.self_service, x.state) for x in codes] == [(True, "redeemed")]
        serves = command_issue.self_service_for(fl.store, dev.id)
        assert serves == command_issue.SelfServiceFor(ASPIRANT, (PROCESS,))
        fleet.record_heartbeat(fl.store, dev.id, {"online": True, "config_schema": 4}, "https")
        q = command_issue.queue_config_update(fl.store, fl.sign_key, dev.id)
        assert _payload(q)["self_service"] == {"enabled": True}
    finally:
        fl.close()


def test_a_coordinator_may_ride_along_to_open_the_coordinator_menu(fleet_env: Fleet) -> None:
    code = fleet_env.code(["coord-01"], self_service=True, aspirant=ASPIRANT)
    assert code.self_service and code.auxiliaries == ["coord-01"]
    dev = fleet_env.enroll("kiosk-coord", code)
    cfg = dev.config
    assert cfg.self_service.enabled
    assert [(a.id, a.role) for a in cfg.auxiliaries] == [("coord-01", "coordinador")]
    assert fleet.is_self_service(fleet_env.store, dev.id)
    # Its config updates keep the coordinator, and refuse to put an auxiliary on it. Before its
    # first heartbeat the schema its enrollment request reported decides what the update carries.
    assert fleet_env.heartbeat(dev.id) is None
    payload = _payload(command_issue.queue_config_update(fleet_env.store, fleet_env.sign_key, dev.id))
    assert [a["id"] for a in payload["auxiliaries"]] == ["coord-01"]
    assert payload["self_service"] == {"enabled": True}
    assert all("timezone" in p for p in payload["processes"])
    with pytest.raises(fleet.FleetError, match="sólo lleva coordinadores"):
        command_issue.queue_config_update(fleet_env.store, fleet_env.sign_key, dev.id, aux_ids=["aux-0001"])
    assert fleet.device_auxiliaries(fleet_env.store, dev.id) == ["coord-01"]
