"""The kiosk <-> sync agent local channel (sync/agent/local_channel.py): a real `fieldkit-sync run`
process serving the socket, the kiosk's client, against the real server, broker and TLS."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
from datetime import datetime
from pathlib import Path

import pytest

from sync.agent.local_channel import ChannelUnavailable, LocalChannelClient, LocalChannelServer, socket_path
from sync.agent.state import AgentState
from tests.helpers.agent import AgentDevice, make_device, wait_until
from tests.helpers.mqtt import PKIPaths
from tests.helpers.server import IngestServer


def _client(dev: AgentDevice) -> LocalChannelClient:
    return LocalChannelClient.for_data_dir(dev.settings.outbox_path.parent)


def _serving(client: LocalChannelClient) -> bool:
    try:
        client.status()
        return True
    except ChannelUnavailable:
        return False


@pytest.fixture
def device(tmp_path: Path, ingest_server: IngestServer, pki: PKIPaths):
    dev = make_device(tmp_path / "dev", ingest_server, pki.device(0), transport="https")
    yield dev
    dev.close()


def test_status_and_send_now_from_a_running_agent(device: AgentDevice, ingest_server: IngestServer) -> None:
    client = _client(device)
    with pytest.raises(ChannelUnavailable):
        client.status()                       # no agent yet: the kiosk shows "agente detenido"
    proc = device.spawn()
    assert wait_until(lambda: _serving(client), 20), device.log_text()
    mode = os.stat(client.path).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    assert wait_until(lambda: client.status()["connection"] == "online", 20), device.log_text()
    st = client.status()
    assert st["pending"] == 0 and st["transport"] == "https" and st["agent_pid"] == proc.pid
    ids = device.put(5)
    assert client.send_now() in (0, 5)
    assert wait_until(lambda: client.status()["pending"] == 0, 30), client.status()
    assert set(ids) <= ingest_server.stored_ids()
    st = client.status()
    assert st["acked_total"] == 5 and st["last_success_ms"] and st["last_success_age_s"] >= 0
    assert st["oldest_pending_age_s"] is None
    # The per-day count (the home's "sent today"), on the server-corrected date.
    assert st["sent_today"] == 5
    offset = st["clock_offset_ms"] or 0
    assert st["sent_day"] == datetime.fromtimestamp((st["time_ms"] + offset) / 1000).date().isoformat()
    # SIGTERM: the agent stops cleanly and takes its socket with it.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert not client.path.exists()
    with pytest.raises(ChannelUnavailable):
        client.send_now()
    # A restarted agent still knows what was sent today.
    proc = device.spawn()
    assert wait_until(lambda: _serving(client), 20), device.log_text()
    assert wait_until(lambda: client.status()["sent_today"] == 5, 10), client.status()
    assert client.status()["acked_total"] == 0
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0


def test_offline_agent_reports_pending_and_a_killed_agents_socket_is_replaced(
        tmp_path: Path, ingest_server: IngestServer, pki: PKIPaths) -> None:
    with socket.socket() as s:             # a port nobody listens on: offline
        s.bind(("127.0.0.1", 0))
        dead = f"https://127.0.0.1:{s.getsockname()[1]}"
    dev = make_device(tmp_path / "dev", ingest_server, pki.device(1), transport="https", https_url=dead)
    try:
        dev.put(3)
        client = _client(dev)
        first = dev.spawn()
        assert wait_until(lambda: _serving(client) and client.status()["connection"] == "offline", 30)
        st = client.status()
        assert st["pending"] == 3 and st["oldest_pending_age_s"] >= 0 and st["last_error"]
        assert client.send_now() == 3       # accepted; still offline, nothing lost
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert client.path.exists()          # stale socket left behind
        with pytest.raises(ChannelUnavailable):
            client.status()
        second = dev.spawn()
        assert wait_until(lambda: _serving(client), 20), dev.log_text()
        assert client.status()["agent_pid"] == second.pid and client.status()["pending"] == 3
    finally:
        dev.close()


def test_bad_requests_get_error_answers(device: AgentDevice) -> None:
    agent = device.agent()
    path = socket_path(device.settings.outbox_path.parent)
    with LocalChannelServer(path, agent).start():
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(path))
            f = s.makefile("rwb")
            for line, err in ((b"not json", "bad_request"), (b'{"op": "wipe"}', "unknown_op"),
                              (b"[1, 2]", "unknown_op")):
                f.write(line + b"\n")
                f.flush()
                assert f"\"error\":\"{err}\"".encode() in f.readline()
            f.write(b'{"op": "status"}\n')     # the same connection still works
            f.flush()
            assert b'"ok":true' in f.readline()
            f.write(b"x" * 10000)
            f.flush()
            assert b"too_long" in f.readline()
        # A second server on the same live socket is refused; a non-socket file is not touched.
        with pytest.raises(Exception, match="otro agente"):
            LocalChannelServer(path, agent).start()
    assert not path.exists()
    path.write_text("not a socket")
    with pytest.raises(Exception, match="no es un socket"):
        LocalChannelServer(path, agent).start()
    assert path.read_text() == "not a socket"


def test_sent_today_counts_acks_per_server_corrected_day() -> None:
    st = AgentState(clock_offset_ms=0)
    day1 = int(datetime(2027, 1, 20, 23, 59, 50).timestamp() * 1000)
    st.count_acked(3, at_ms=day1)
    assert (st.acked_day, st.acked_today) == ("2027-01-20", 3)
    # A device clock 20 s behind the server: its 23:59:50 is already tomorrow.
    st.clock_offset_ms = 20_000
    st.count_acked(2, at_ms=day1)
    assert (st.acked_day, st.acked_today) == ("2027-01-21", 2)
    assert st.sent_on("2027-01-20") == 0 and st.sent_on("2027-01-21") == 2
    # The agent only raises acked_total; the day's count follows it, and survives the state file.
    st.acked_total += 4
    today = st.server_day()
    assert st.sent_on(today) == (4 if today != "2027-01-21" else 6)
    back = AgentState.from_dict(json.loads(st.to_json()))
    assert back.sent_on(today) == st.sent_on(today) and back.acked_total == 4


class _Idle:
    def snapshot(self) -> None:
        return None

    def send_now(self) -> None:
        pass


def test_close_wakes_the_blocked_accept_at_once(tmp_path: Path) -> None:
    """The accept thread sleeps in accept() (no polling for days); close() must still end it."""
    server = LocalChannelServer(tmp_path / "s.sock", _Idle()).start()
    thread = server._thread
    assert thread is not None and thread.is_alive()
    server.close()
    assert not thread.is_alive()
    assert not (tmp_path / "s.sock").exists()
