"""Sync agent happy paths, per transport, against the real server, broker and TLS.

The "network" is a TCP proxy per server port (tests/helpers/tcp_proxy.py): cut means no
connection at all, restore means the connection appears.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.agent import BIN, AgentDevice, make_device, wait_until
from tests.helpers.mqtt import PKIPaths
from tests.helpers.server import IngestServer
from tests.helpers.tcp_proxy import TcpProxy


@pytest.fixture
def proxies(ingest_server: IngestServer) -> Iterator[dict[str, TcpProxy]]:
    p = {"mqtt": TcpProxy(ingest_server.broker.host, ingest_server.broker.port).start(),
         "https": TcpProxy("127.0.0.1", ingest_server.https_port).start()}
    yield p
    for x in p.values():
        x.close()


def status_json(dev: AgentDevice) -> dict:
    p = subprocess.run([str(BIN / "fieldkit-sync"), "--config", str(dev.config_path), "status", "--json"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.mark.parametrize("transport", ["mqtt", "https"])
def test_records_saved_offline_arrive_once_and_are_erased(
        tmp_path: Path, ingest_server: IngestServer, proxies: dict[str, TcpProxy], pki: PKIPaths,
        transport: str) -> None:
    for p in proxies.values():
        p.cut()
    dev = make_device(tmp_path / "dev", ingest_server, pki.device(0), transport=transport,
                      mqtt_url=proxies["mqtt"].url("mqtts"), https_url=proxies["https"].url("https"))
    try:
        ids = dev.put(25)
        agent = dev.agent()
        assert wait_until(lambda: agent.snapshot().state.connection == "offline", 10)
        st = status_json(dev)
        assert st["pending"] == 25 and st["connection"] == "offline" and st["last_error"]
        assert st["oldest_pending_age_s"] >= 0
        for p in proxies.values():
            p.restore()  # the connection appears
        assert wait_until(lambda: dev.unacked() == 0, 30), agent.snapshot()
        assert ingest_server.stored_ids() == set(ids)
        assert ingest_server.stored_count() == 25
        # The erase commits before the agent counts it: wait for the count too.
        assert wait_until(lambda: agent.snapshot().state.acked_total == 25, 10)
        snap = agent.snapshot()
        assert snap.pending == 0 and snap.state.connection == "online"
        assert snap.state.transport == transport
        assert snap.state.acked_total == 25 and snap.state.rejected_acks == 0
        assert snap.state.clock_offset_ms is not None and abs(snap.state.clock_offset_ms) < 2000
        st = status_json(dev)
        assert st["connection"] == "online" and st["agent_pid"] is not None
        agent.stop()
        st = status_json(dev)
        assert st["pending"] == 0 and st["oldest_pending_age_s"] is None
        assert st["transport"] == transport and st["connection"] == "stopped"
        assert st["last_success_ms"] is not None and st["last_success_age_s"] < 60
    finally:
        dev.close()


def test_daemon_notifies_systemd_and_stops_cleanly_on_sigterm(
        tmp_path: Path, ingest_server: IngestServer, pki: PKIPaths) -> None:
    import os
    import signal
    import socket

    from sync.agent.state import load_state

    dev = make_device(tmp_path / "dev", ingest_server, pki.device(0))
    sock_path = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(sock_path)
    notify.settimeout(30)
    try:
        ids = dev.put(5)
        proc = dev.spawn(env=dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="1000000"))
        got: list[str] = []
        while not {"READY=1", "WATCHDOG=1"} <= set(got):
            got.append(notify.recv(256).decode())
        assert wait_until(lambda: dev.unacked() == 0, 30)
        assert ingest_server.stored_ids() == set(ids)
        st = status_json(dev)
        assert st["agent_pid"] == proc.pid and st["connection"] == "online" and st["transport"] == "mqtt"
        proc.send_signal(signal.SIGTERM)
        while "STOPPING=1" not in got:
            got.append(notify.recv(256).decode())
        assert proc.wait(30) == 0, dev.log_text()
        state = load_state(dev.settings.state_path)
        assert state is not None and state.connection == "stopped"
        assert "Traceback" not in dev.log_text()
    finally:
        notify.close()
        dev.close()


def test_send_now_skips_the_backoff_wait(tmp_path: Path, ingest_server: IngestServer,
                                         proxies: dict[str, TcpProxy], pki: PKIPaths) -> None:
    """Default timings (backoff up to 30 s): a save or a network change must not wait it out."""
    from sync.agent.settings import AgentOptions

    proxies["mqtt"].cut()
    dev = make_device(tmp_path / "dev", ingest_server, pki.device(0), transport="mqtt",
                      mqtt_url=proxies["mqtt"].url("mqtts"))
    try:
        agent = dev.agent(AgentOptions(backoff_initial_s=30.0))  # first retry only after 15-30 s
        assert wait_until(lambda: agent.snapshot().state.connection == "offline", 10)
        proxies["mqtt"].restore()
        ids = dev.put(3)
        agent.send_now()  # what the kiosk does after a save
        assert wait_until(lambda: dev.unacked() == 0, 10)
        assert ingest_server.stored_ids() == set(ids)
    finally:
        dev.close()


def test_status_with_unreadable_outbox_is_one_line_exit_1(tmp_path: Path, ingest_server: IngestServer,
                                                           pki: PKIPaths) -> None:
    dev = make_device(tmp_path / "dev", ingest_server, pki.device(0))
    key = dev.settings.outbox_key
    key.write_text("00" * 32 + "\n")  # another key: the outbox no longer opens
    p = subprocess.run([str(BIN / "fieldkit-sync"), "--config", str(dev.config_path), "status", "--json"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "bandeja" in p.stderr
