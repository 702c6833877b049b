"""Time zones on the server: `process define` dates are days in the deployment's (or the
process's) zone, the device gets the zone in its config, the vigencia year is the year where
the support was given, and the dashboard, its CSV and the acuses show local times."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

from server_stub.cli.main import main
from server_stub.core.store import open_store
from server_stub.dashboard.app import DashboardApp
from server_stub.dashboard.data import verdicts_csv
from server_stub.fleet import tables as fleet
from server_stub.fleet.command_issue import device_config
from server_stub.ingest.acuse import build_message
from server_stub.verify import processes, roll, verify
from sync.wire.config_schema import for_schema
from sync.wire.record import decode_record
from tests.helpers.server import IngestServer, TestDevice

MX = ZoneInfo("America/Mexico_City")
TIJ = ZoneInfo("America/Tijuana")


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server_stub.cli", *args], capture_output=True,
                          text=True, timeout=60, input=stdin)


def utc_ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp() * 1000)


def _deployment(tmp_path: Path, tz: str | None = None) -> Path:
    root = tmp_path / "dep"
    assert main(["init", str(root)]) == 0
    cfg = root / "server.toml"
    if tz is not None:
        cfg.write_text(cfg.read_text().replace('timezone = "America/Mexico_City"', f'timezone = "{tz}"'))
    return cfg


def _define(cfg: Path, pid: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return cli("process", "define", "--config", str(cfg), "--id", pid, "--kind", "diputacion_federal",
               "--start", "2027-01-10", "--end", "2027-02-28", *extra)


def test_process_define_closes_at_the_end_of_the_last_day_in_the_zone(tmp_path: Path) -> None:
    cfg = _deployment(tmp_path)
    r = _define(cfg, "df")
    assert r.returncode == 0, r.stderr
    assert "2027-02-28 23:59:59 CST" in r.stdout
    r = _define(cfg, "bc", "--timezone", "America/Tijuana")
    assert r.returncode == 0, r.stderr
    r = cli("process", "list", "--config", str(cfg))
    listed = {p["id"]: p for p in json.loads(r.stdout)}
    # Not 18:00 of 27 February in Mexico City (the old rule read a date as UTC midnight).
    assert listed["df"]["ends_ms"] == utc_ms("2027-03-01T05:59:59.999")
    assert listed["df"]["ends"] == "2027-02-28T23:59:59-06:00"
    assert listed["df"]["starts"] == "2027-01-10T00:00:00-06:00"
    assert listed["bc"]["timezone"] == "America/Tijuana"
    assert listed["bc"]["ends"] == "2027-02-28T23:59:59-08:00"


def test_the_deployment_zone_is_the_default_and_a_bad_zone_is_one_line(tmp_path: Path) -> None:
    cfg = _deployment(tmp_path, "America/Hermosillo")
    assert _define(cfg, "son").returncode == 0
    [p] = json.loads(cli("process", "list", "--config", str(cfg)).stdout)
    assert p["timezone"] == "America/Hermosillo" and p["ends"].endswith("-07:00")
    r = _define(cfg, "x", "--timezone", "Mars/Olympus_Mons")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "zona horaria desconocida" in r.stderr
    bad = _deployment(tmp_path / "b", "Mars/Olympus_Mons")
    r = cli("check-config", "--config", str(bad))
    assert r.returncode == 2 and "deployment.timezone" in r.stderr and "Traceback" not in r.stderr


def test_the_device_config_carries_the_zone_and_local_dates(tmp_path: Path) -> None:
    store = open_store(f"sqlite:{tmp_path / 's.db'}")
    try:
        tz_end = int(dt.datetime(2027, 2, 28, 23, 59, 59, 999000, TIJ).timestamp() * 1000)
        processes.define_process(store, "bc", "diputacion_federal", "BC", utc_ms("2027-01-10T08:00"), tz_end,
                                 timezone="America/Tijuana")
        processes.add_aspirant(store, "bc", "asp", "Aspirante", entidad=2, distrito_federal=1)
        fleet.ensure_schema(store)
        fleet.put_auxiliary(store, "aux-1", "Auxiliar Uno", "482913", ["bc"])
        [p] = device_config(store, ["aux-1"])["processes"]
        # In UTC the end is already 1 March; where the process runs it is 28 February.
        assert (p["start"], p["end"], p["timezone"]) == ("2027-01-10", "2027-02-28", "America/Tijuana")
        # A device at config schema 2 does not know the key: it is left out, and the exact
        # start_ms / end_ms it has always had still bound its period.
        cut, dropped = for_schema({"processes": [p]}, 2)
        assert "timezone" not in cut["processes"][0] and dropped == ["processes[].timezone"]
        assert cut["processes"][0]["end_ms"] == tz_end
    finally:
        store.close()


def test_vigencia_is_judged_in_the_year_where_the_support_was_given(
        ingest_server: IngestServer, pki, synthetic_roll, support_record) -> None:
    path, rows = synthetic_roll
    store = ingest_server.store
    roll.import_roll(store, path)
    c = next(c for c in rows if c.estatus == "vigente" and 2026 <= c.vigencia <= 2030)
    y = c.vigencia
    # New Year's Eve 23:00 in Tijuana: still year y there, already y + 1 in Mexico City and UTC.
    captured = int(dt.datetime(y, 12, 31, 23, 0, tzinfo=TIJ).timestamp() * 1000)
    for pid, tz in (("bc", "America/Tijuana"), ("mx", "America/Mexico_City")):
        processes.define_process(store, pid, "diputacion_federal", pid, captured - 86_400_000,
                                 captured + 86_400_000, timezone=tz)
        processes.add_aspirant(store, pid, "asp", "Aspirante", entidad=c.entidad,
                               distrito_federal=c.distrito_federal)
    dev = TestDevice.create(pki.devices["dev-0001"], ingest_server)
    for seed, pid in ((1, "bc"), (2, "mx")):
        rec = support_record(dev.id, c, process_id=pid, aspirant_id="asp", seed=seed)
        assert dev.post(ingest_server, dev.sealer.seal(replace(rec, captured_at_ms=captured)).data
                        ).status_code == 200
    verify.Verifier(store).run_until_idle()
    got = {v.process_id: (v.verdict, v.reason) for v in verify.verdicts(store, None)}
    assert got["bc"][0] == verify.VALIDO, got
    assert got["mx"] == (verify.NO_VIGENTE, f"vigencia {y} anterior a la captura ({y + 1})")

    # The CSV gives each receive time in its process's zone, with the offset.
    text = verdicts_csv(store, None)
    by_proc = {r["process_id"]: r for r in csv.DictReader(io.StringIO(text))}
    for pid, zone in (("bc", TIJ), ("mx", MX)):
        received = int(by_proc[pid]["received_ms"])
        local = dt.datetime.fromisoformat(by_proc[pid]["received_local"])
        assert local.utcoffset() == dt.datetime.fromtimestamp(received / 1000, zone).utcoffset()
        assert int(local.timestamp()) == received // 1000

    # The acuse names the capture time where the process runs.
    stored = store.query("SELECT record FROM records WHERE process_id = ?", ("bc",))[0][0]
    msg = build_message(decode_record(bytes(stored)), captured, "a@b.invalid", "BC", "Aspirante", TIJ)
    assert f"Fecha de captura: {y}-12-31 23:00 (PST)" in msg.get_content()


def test_the_dashboard_shows_local_times_with_the_zone(tmp_path: Path) -> None:
    store = open_store(f"sqlite:{tmp_path / 's.db'}")
    try:
        end = int(dt.datetime(2027, 2, 28, 23, 59, 59, 999000, MX).timestamp() * 1000)
        processes.define_process(store, "df", "diputacion_federal", "DF", end - 40 * 86_400_000, end,
                                 timezone="America/Mexico_City")
        app = DashboardApp(store, secure_cookie=False)
        proc = processes.get_process(store, "df")
        assert proc is not None and app._period(proc).endswith("2027-02-28 23:59 CST")
        when = app.env.filters["when"]
        assert when(utc_ms("2027-07-01T12:00")) == "2027-07-01 06:00 CST"
        assert when(None) == "—"
    finally:
        store.close()


def test_a_redefined_period_reaches_the_enrolled_devices(fleet_env) -> None:
    """`process define --replace` (new end, new zone) queues a signed config update for every
    device carrying the process, and the device applies it: its kiosk judges the new period."""
    from server_stub.fleet import tables as fleet_tables
    from server_stub.fleet.command_issue import pending_commands
    from sync.device.command_exec import execute, verify
    from tests.helpers.fleet import PROCESS

    dev = fleet_env.enroll("d1")
    assert dev.config.process(PROCESS).timezone == "America/Mexico_City"  # from enrollment
    # Its heartbeat says which config keys it knows (schema 3: the zone); updates are cut to it.
    fleet_tables.record_heartbeat(fleet_env.store, dev.id, {"online": True, "config_schema": 3}, "https")
    r = cli("process", "define", "--config", str(fleet_env.server.config_path), "--id", PROCESS,
            "--kind", "diputacion_federal", "--start", "2027-01-10", "--end", "2027-03-15",
            "--timezone", "America/Tijuana", "--replace")
    assert r.returncode == 0, r.stderr
    assert "configuración nueva enviada a 1 dispositivo(s)" in r.stdout
    [queued] = [q for q in pending_commands(fleet_env.store, dev.id) if q.kind == "config"]
    cfg = dev.config
    assert execute(cfg, verify(cfg, queued.command, 0)).applied  # what the agent does with it
    p = dev.config.process(PROCESS)
    assert (p.end, p.timezone) == ("2027-03-15", "America/Tijuana")
    assert p.end_ms == int(dt.datetime(2027, 3, 15, 23, 59, 59, 999000, TIJ).timestamp() * 1000)


def test_processes_from_before_zones_take_the_deployment_zone_at_start(tmp_path: Path) -> None:
    """A NULL zone would be Mexico City on the device (config default) but the deployment's on
    the server's pages: `serve` settles it once, so both agree."""
    from server_stub.cli.serve import build_server
    from server_stub.core.config import load_config

    cfg_path = _deployment(tmp_path, "America/Tijuana")
    cfg = load_config(cfg_path)
    store = open_store(cfg.store_url())
    processes.define_process(store, "old", "diputacion_federal", "Old", 0, 86_400_000)
    with store.tx() as conn:
        conn.execute("UPDATE processes SET timezone = NULL")  # as a store from before the column
    store.close()
    server = build_server(cfg, mqtt=False, dashboard=False)
    try:
        p = processes.get_process(server.store, "old")
        assert p is not None and p.timezone == "America/Tijuana"
    finally:
        server.store.close()


def test_digest_without_a_mail_transport_is_refused_in_one_line(tmp_path: Path) -> None:
    cfg = _deployment(tmp_path)
    cfg.write_text(cfg.read_text() + '[acuse]\nmode = "off"\n[alerts]\ndigest_to = ["c@x.invalid"]\n')
    r = cli("check-config", "--config", str(cfg))
    assert r.returncode == 2 and "alerts.digest_to" in r.stderr and r.stderr.count("\n") == 1, r.stderr
