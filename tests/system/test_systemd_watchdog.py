"""`fieldkit-sync run` under a NOTIFY_SOCKET listener that plays systemd (Type=notify,
WatchdogSec): READY=1 and WATCHDOG=1 arrive while the agent works, and a hung loop is
detected: pings stop once the process is frozen (SIGSTOP), and also when only the agent's
loop is stuck in a blocking call while the process lives (a DNS query nobody answers)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.helpers.agent import BIN, make_device, wait_until
from tests.helpers.mqtt import PKIPaths
from tests.helpers.server import IngestServer
from tests.helpers.systemd import NotifyListener

# Short WatchdogSec for the test. The agent's loop turns take up to netwatch_s = 2 s
# (offline) / poll_s = 1 s (online) and it pings at half the period, so 5 s is the
# smallest period that never fires on a healthy agent (the unit uses 120 s).
WATCHDOG_S = 5.0


def _abort_like_systemd(proc: subprocess.Popen[bytes]) -> int:
    """WatchdogSignal=SIGABRT (the default), then SIGCONT so a stopped process gets it."""
    proc.send_signal(signal.SIGABRT)
    proc.send_signal(signal.SIGCONT)
    return proc.wait(15)


def test_ready_and_watchdog_pings_then_a_frozen_agent_is_detected(
        tmp_path: Path, ingest_server: IngestServer, pki: PKIPaths) -> None:
    dev = make_device(tmp_path / "dev", ingest_server, pki.device(0))
    wd = NotifyListener(tmp_path / "notify.sock", WATCHDOG_S)
    try:
        ids = dev.put(3)
        env = dict(wd.env(), PYTHONFAULTHANDLER="1")
        proc = dev.spawn(env=env)
        ready = wd.wait_for("READY=1", 20)
        assert wait_until(lambda: dev.unacked() == 0, 20), dev.log_text()
        assert set(ids) <= ingest_server.stored_ids()
        # Healthy: pings keep coming, never more than WatchdogSec apart.
        wd.poll(max(0.0, ready + 2 * WATCHDOG_S - time.monotonic()))
        pings = wd.pings()
        assert len(pings) >= 3, wd.messages
        gaps = [b - a for a, b in zip([ready, *pings], pings, strict=False)]
        assert max(gaps) < WATCHDOG_S, gaps
        assert not wd.expired()

        # Hung: freeze the whole process. No ping comes; the watchdog fires.
        os.kill(proc.pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        while not wd.expired():
            wd.poll(0.2)
            assert time.monotonic() - frozen_at < WATCHDOG_S + 5, "watchdog never expired"
        assert wd.last_ping() <= frozen_at + 0.1
        rc = _abort_like_systemd(proc)
        # Python's faulthandler dumps every thread on SIGABRT, then dies of it; reading a
        # thread that was running (paho's network loop) can crash the dump itself (SIGSEGV,
        # seen once in a CI run). Either way the process is gone and systemd restarts it.
        assert rc in (-signal.SIGABRT, -signal.SIGSEGV), rc

        # Restart=on-failure: a new agent sends what was saved meanwhile.
        more = dev.put(2)
        dev.spawn(env=env)
        assert wait_until(lambda: dev.unacked() == 0, 20), dev.log_text()
        assert set(more) <= ingest_server.stored_ids()
    finally:
        wd.close()
        dev.close()


def test_a_loop_stuck_in_a_blocking_call_stops_the_pings(
        tmp_path: Path, ingest_server: IngestServer, pki: PKIPaths) -> None:
    """The pings come from the agent's loop, not from a helper thread: a loop stuck in
    getaddrinfo (a resolver that never answers) stops them while the process lives on, and
    the faulthandler traceback (PYTHONFAULTHANDLER=1 in the unit) shows where it hung."""
    # A private /etc/hosts and /etc/resolv.conf for the agent only (its own mount namespace).
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.0.1 ingest.fieldkit.test\n")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.86\noptions timeout:30 attempts:1\n")
    blackhole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blackhole.bind(("127.0.0.86", 53))  # receives DNS queries, answers none
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: connection refused at once, the agent backs off
    url = f"https://ingest.fieldkit.test:{port}"
    dev = make_device(tmp_path / "dev", ingest_server, pki.device(1), transport="https",
                      https_url=url, mqtt_url="")
    wd = NotifyListener(tmp_path / "notify.sock", WATCHDOG_S)
    proc = None
    try:
        dev.put(1)
        log = (dev.root / "agent.log").open("wb")
        script = ('mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf && shift 2 '
                  '&& exec "$@"')
        proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
             str(hosts), str(resolv), str(BIN / "fieldkit-sync"), "--config", str(dev.config_path), "run"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(wd.env(), PYTHONFAULTHANDLER="1"))
        log.close()
        wd.wait_for("READY=1", 20)
        # Offline (connection refused) but healthy: the loop turns, pings flow.
        wd.poll(WATCHDOG_S)
        assert len(wd.pings()) >= 2 and not wd.expired(), wd.messages
        assert proc.poll() is None
        # Now the name is no longer in /etc/hosts: the next attempt asks the black hole.
        hosts.write_text("127.0.0.1 localhost\n")
        cut = time.monotonic()
        while not wd.expired():
            wd.poll(0.2)
            assert time.monotonic() - cut < 15 + WATCHDOG_S, f"pings never stopped: {wd.messages}"
        assert proc.poll() is None  # alive, just stuck
        rc = _abort_like_systemd(proc)
        assert rc == -signal.SIGABRT
        text = dev.log_text()
        assert "Fatal Python error: Aborted" in text, text
        main = text[text.index("Current thread"):] if "Current thread" in text else text
        assert "getaddrinfo" in main or "create_connection" in main, text
        assert "sync/agent/agent.py" in main and "_connect" in main, text
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        blackhole.close()
        wd.close()
        dev.close()
