"""The watchdog hears from a healthy but slow agent: `fieldkit-sync run` under a
NOTIFY_SOCKET listener (systemd's Type=notify + WatchdogSec, tests/helpers/systemd.py)
sends a batch of records through a link that delays every packet, so the batch takes
several watchdog periods, and the pings keep coming because the loop ticks between
records. (tests/system/test_systemd_watchdog.py shows the other side: a hung loop stops them.)"""

from __future__ import annotations

import itertools
import signal
import time
from pathlib import Path

from sync.agent.settings import AgentOptions
from sync.agent.state import load_state
from tests.helpers.agent import make_device, wait_until
from tests.helpers.mqtt import PKIPaths
from tests.helpers.server import IngestServer
from tests.helpers.systemd import NotifyListener
from tests.helpers.tcp_proxy import TcpProxy

WATCHDOG_S = 5.0   # the agent pings every 2.5 s when its loop turns
DELAY_S = 0.6      # per chunk, each way: a record's request + answer take ~1.2-2 s
RECORDS = 10       # < https_window: one batch, one _send() call


def test_pings_keep_coming_while_a_slow_https_batch_is_delivered(
        tmp_path: Path, ingest_server: IngestServer, pki: PKIPaths) -> None:
    port = int(ingest_server.https_url.rsplit(":", 1)[1])
    proxy = TcpProxy("127.0.0.1", port).start()
    dev = make_device(tmp_path / "dev", ingest_server, pki.device(1), transport="https",
                      https_url=proxy.url("https"), mqtt_url="")
    wd = NotifyListener(tmp_path / "notify.sock", WATCHDOG_S)
    try:
        assert AgentOptions().https_window >= RECORDS
        proc = dev.spawn(env=wd.env())
        wd.wait_for("READY=1", 20)
        state = dev.settings.state_path

        def online() -> bool:
            st = load_state(state)
            return st is not None and st.connection == "online"

        assert wait_until(online, 20), dev.log_text()
        wd.poll(1.5)  # past the first heartbeat (status + commands) on the fast link
        proxy.delay_s = DELAY_S
        ids = dev.put(RECORDS)
        proc.send_signal(signal.SIGUSR1)  # send now
        t0 = time.monotonic()
        while dev.unacked() and time.monotonic() - t0 < 90:
            wd.poll(0.2)
            assert not wd.expired(), f"watchdog fired during a healthy slow batch: {wd.pings()}"
        took = time.monotonic() - t0
        assert dev.unacked() == 0, dev.log_text()
        assert set(ids) <= ingest_server.stored_ids()
        # The batch took several watchdog periods; no two pings were a period apart.
        assert took > 2 * WATCHDOG_S, took
        pings = [p for p in wd.pings() if p >= t0 - WATCHDOG_S]
        gaps = [b - a for a, b in itertools.pairwise(pings)]
        assert len(pings) >= took / WATCHDOG_S and max(gaps) < WATCHDOG_S, gaps
        assert proc.poll() is None
    finally:
        wd.close()
        dev.close()
        proxy.close()
