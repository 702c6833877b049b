"""Battery and sending-window alerts, thresholds from `[alerts]`, and the coordinators' e-mail
digest driven by an injected server clock against the real store and heartbeat path."""

from __future__ import annotations

import email
import json
from email import policy
from pathlib import Path

from server_stub.core.config import AlertsSection
from server_stub.core.store import DeviceEntry, Store, open_store
from server_stub.dashboard import alerts as alertmod
from server_stub.dashboard.alerts import BATTERY, HOUR_MS, WINDOW, Thresholds, alerts
from server_stub.dashboard.data import DeviceRow, Window, sending_windows
from server_stub.dashboard.digest import DigestWorker
from server_stub.fleet import tables as fleet
from server_stub.ingest.acuse import OutboxTransport
from server_stub.verify import processes

NOW = 1_790_000_000_000


def _row(dev: str, *, battery: float | None = None, pending: int = 0, hb_ago: int = 0,
         state: str = "active") -> DeviceRow:
    return DeviceRow(dev, state, f"Nombre {dev}", NOW - 30 * 24 * HOUR_MS, 0, None, NOW - hb_ago, pending,
                     None, battery, None, True)


def _register(store: Store, device_id: str, aux_ids: list[str]) -> None:
    """What enrollment leaves: the device entry and its fleet row with its auxiliaries."""
    store.put_device(DeviceEntry(device_id, b"\x01" * 32, None, "active", NOW, NOW))
    fleet.ensure_schema(store)
    with store.tx() as conn:
        conn.execute(store.sql("INSERT INTO fleet_devices (device_id, folio_prefix, auxiliaries, code_id, "
                               "enrolled_ms) VALUES (?, ?, ?, ?, ?)"),
                     (device_id, device_id[-3:].upper(), json.dumps(aux_ids), "code-1", NOW))


def test_low_battery_at_or_below_the_threshold() -> None:
    assert alerts([_row("a", battery=15.1)], NOW) == []
    (a,) = alerts([_row("a", battery=15.0)], NOW)
    assert a.kind == BATTERY and a.text == "batería al 15 %."
    assert alerts([_row("a", battery=3.0, state="revoked")], NOW) == []
    assert alerts([_row("a", battery=30.0)], NOW, Thresholds(battery_pct=40.0))[0].kind == BATTERY


def test_a_closing_sending_window_with_records_still_on_its_devices_comes_first() -> None:
    w = Window("df", "Diputación", NOW + 5 * HOUR_MS, frozenset({"a", "b", "c"}))
    rows = [_row("a", pending=4), _row("b", pending=0), _row("c", pending=2, state="revoked"),
            _row("x", pending=9, battery=10.0)]
    found = alerts(rows, NOW, windows=[w])
    assert [f.kind for f in found] == [WINDOW, BATTERY]
    win = found[0]
    assert (win.process_id, win.held, win.devices) == ("df", 4, ("Nombre a",))
    assert win.text == "el plazo de envío cierra en 5 h y quedan 4 registros sin enviar en Nombre a."
    # Not yet within 24 h, already closed, or nothing held: no alert.
    for deadline in (NOW + 25 * HOUR_MS, NOW - 1):
        assert alerts(rows[:1], NOW, windows=[Window("df", "D", deadline, w.device_ids)]) == []
    assert alerts([_row("a")], NOW, windows=[w]) == []


def test_thresholds_come_from_the_alerts_section() -> None:
    t = Thresholds.of(AlertsSection(silent_hours=2, held_hours=12, battery_percent=20, window_hours=48))
    assert (t.silent_ms, t.held_ms, t.battery_pct, t.window_ms) == (2 * HOUR_MS, 12 * HOUR_MS, 20.0,
                                                                    48 * HOUR_MS)
    assert Thresholds.of(None) == Thresholds()


def test_sending_windows_know_the_devices_of_each_process(tmp_path: Path) -> None:
    store = open_store(f"sqlite:{tmp_path / 's.db'}")
    try:
        processes.define_process(store, "df", "diputacion_federal", "DF", NOW - 10 * HOUR_MS, NOW)
        processes.add_aspirant(store, "df", "asp", "Aspirante", entidad=9, distrito_federal=1)
        fleet.put_auxiliary(store, "aux-1", "Ana", "482913", ["df"])
        _register(store, "dev-1", ["aux-1"])
        [w] = sending_windows(store)
        assert (w.process_id, w.deadline_ms, w.device_ids) == ("df", NOW + 24 * HOUR_MS, frozenset({"dev-1"}))
    finally:
        store.close()


def test_the_digest_goes_once_per_period_only_with_alerts(tmp_path: Path) -> None:
    store = open_store(f"sqlite:{tmp_path / 's.db'}")
    out = tmp_path / "mail"
    now = [NOW]
    try:
        _register(store, "dev-1", [])
        fleet.set_device_label(store, "dev-1", "Tableta norte")
        fleet.record_heartbeat(store, "dev-1", {"pending": 0, "battery_percent": 80}, "https",
                               received_ms=NOW)
        w = DigestWorker(store, OutboxTransport(out), "avisos@x.invalid", ["coord@x.invalid", "b@x.invalid"],
                         every_s=12 * 3600, clock=lambda: now[0])
        assert w.send_if_due() == 0 and not out.exists()  # nothing to say
        now[0] += 7 * HOUR_MS  # silent past 6 h
        assert w.send_if_due() == 2
        mails = sorted(out.glob("*.eml"))
        assert len(mails) == 2
        msg = email.message_from_bytes(mails[0].read_bytes(), policy=policy.default)
        assert msg["Subject"] == "Avisos del tablero: 1"
        body = msg.get_content()
        assert "Tableta norte (dev-1): sin latido desde hace 7 h." in body and "CST" in body
        now[0] += HOUR_MS
        assert w.send_if_due() == 0  # within the period: not again
        # Fresh heartbeat: the alert clears, so after the period nothing goes.
        fleet.record_heartbeat(store, "dev-1", {"pending": 0, "battery_percent": 80}, "https",
                               received_ms=now[0])
        now[0] += 12 * HOUR_MS
        fleet.record_heartbeat(store, "dev-1", {"pending": 0, "battery_percent": 9}, "https",
                               received_ms=now[0])
        assert w.send_if_due() == 2  # a new alert after the period: a new digest
        newest = max(out.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
        assert "batería al 9 %" in email.message_from_bytes(newest.read_bytes(), policy=policy.default
                                                             ).get_content()
        # The time sent is in the store: a new worker (a restart) does not send again.
        again = DigestWorker(store, OutboxTransport(out), "avisos@x.invalid", ["c@x.invalid"],
                             every_s=12 * 3600, clock=lambda: now[0] + HOUR_MS)
        assert again.send_if_due() == 0
    finally:
        store.close()
    assert alertmod.SILENT == "silent"


def test_serve_runs_the_digest_only_when_coordinators_are_named(tmp_path: Path) -> None:
    from server_stub.cli.main import main
    from server_stub.cli.serve import build_server
    from server_stub.core.config import load_config

    root = tmp_path / "dep"
    assert main(["init", str(root)]) == 0
    cfg_path = root / "server.toml"
    base = cfg_path.read_text()
    for extra, wanted in (("", False), ('[alerts]\ndigest_to = ["coord@x.invalid"]\n', True)):
        cfg_path.write_text(base + extra)
        server = build_server(load_config(cfg_path), mqtt=False, dashboard=False)  # built, not started
        try:
            assert (server.digest is not None) == wanted
            if wanted:
                assert server.digest is not None and server.digest.recipients == ["coord@x.invalid"]
        finally:
            server.store.close()


class _Relay:
    """A real SMTP relay on loopback (aiosmtpd) that refuses one address, as Postfix does."""

    def __init__(self, refuse: str) -> None:
        self.refuse, self.got = refuse, []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address == self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        self.got.extend(envelope.rcpt_tos)
        return "250 OK"


def test_a_refused_address_does_not_make_the_others_get_it_every_minute(tmp_path: Path) -> None:
    """Also on a store the dashboard never opened (no label column yet)."""
    from aiosmtpd.controller import Controller

    from server_stub.deploy.broker_process import free_port
    from server_stub.ingest.acuse import SmtpTransport

    store = open_store(f"sqlite:{tmp_path / 's.db'}")
    port = free_port()
    relay = _Relay("bad@x.invalid")
    ctl = Controller(relay, hostname="127.0.0.1", port=port)
    ctl.start()
    now = [NOW]
    try:
        store.put_device(DeviceEntry("dev-1", b"\x01" * 32, None, "active", NOW, NOW))
        fleet.record_heartbeat(store, "dev-1", {"pending": 0}, "https", received_ms=NOW - 7 * HOUR_MS)
        w = DigestWorker(store, SmtpTransport("127.0.0.1", port, "avisos@x.invalid"), "avisos@x.invalid",
                         ["ok@x.invalid", "bad@x.invalid"], every_s=6 * 3600, clock=lambda: now[0])
        assert w.send_if_due() == 1 and relay.got == ["ok@x.invalid"]
        for _ in range(3):  # the next minutes: nothing again
            now[0] += 60_000
            assert w.send_if_due() == 0
        assert relay.got == ["ok@x.invalid"]
        # Another serve process, same store, same moment: the slot is taken.
        other = DigestWorker(store, SmtpTransport("127.0.0.1", port, "avisos@x.invalid"), "avisos@x.invalid",
                             ["ok@x.invalid"], every_s=6 * 3600, clock=lambda: now[0])
        assert other.send_if_due() == 0
    finally:
        ctl.stop()
        store.close()


def test_a_relay_that_is_down_is_retried_later_not_every_minute(tmp_path: Path) -> None:
    from server_stub.deploy.broker_process import free_port
    from server_stub.ingest.acuse import SmtpTransport

    store = open_store(f"sqlite:{tmp_path / 's.db'}")
    now = [NOW]
    try:
        store.put_device(DeviceEntry("dev-1", b"\x01" * 32, None, "active", NOW, NOW))
        fleet.record_heartbeat(store, "dev-1", {"pending": 0}, "https", received_ms=NOW - 7 * HOUR_MS)
        dead = SmtpTransport("127.0.0.1", free_port(), "avisos@x.invalid", timeout_s=2)  # nothing listens
        w = DigestWorker(store, dead, "avisos@x.invalid", ["ok@x.invalid"], clock=lambda: now[0])
        assert w.send_if_due() == 0
        assert store.query("SELECT COUNT(*) FROM alert_digests")[0][0] == 0  # the claim withdrawn
        now[0] += 30_000
        assert w.send_if_due() == 0 and w._next_try_ms == NOW + 60_000  # waits a minute first
        out = tmp_path / "mail"
        w.transport = OutboxTransport(out)  # the relay is back
        now[0] = NOW + 60_000
        assert w.send_if_due() == 1 and len(list(out.glob("*.eml"))) == 1
    finally:
        store.close()
