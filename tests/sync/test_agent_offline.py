"""Offline for a long time: `fieldkit-sync run` with the server unreachable spends almost no
CPU and writes almost no log (state changes only, not every retry).

Measured where a device offline for days spends its time: after the first quick tries
(back-off 1, 2, 4, 8 s, each with jitter), when tries come every 15-30 s and between them
only the network-change probe runs every 2 s. Default suite: a 12 s window; FIELDKIT_FULL=1:
60 s. Default agent timings (cap 30 s).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from server_stub.deploy.broker_process import free_port
from sync.agent.state import load_state
from tests.helpers.agent import make_device, wait_until
from tests.helpers.mqtt import PKIPaths
from tests.helpers.server import IngestServer

FULL = os.environ.get("FIELDKIT_FULL") == "1"
WINDOW_S = 60.0 if FULL else 12.0
BURST_S = 15.0  # 1 + 2 + 4 + 8: the quick first tries are over by then
CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime + stime


def test_offline_agent_uses_near_zero_cpu_and_log(tmp_path: Path, ingest_server_factory,
                                                  pki: PKIPaths) -> None:
    server: IngestServer = ingest_server_factory(start=False)  # keys only; nothing listens
    dead_mqtt, dead_https = free_port(), free_port()
    dev = make_device(tmp_path / "dev", server, pki.device(0), transport="auto",
                      mqtt_url=f"mqtts://127.0.0.1:{dead_mqtt}", https_url=f"https://127.0.0.1:{dead_https}")
    try:
        dev.put(20)
        proc = dev.spawn()
        # Start-up (imports, outbox open, the quick first tries) is not what we measure.
        assert wait_until(lambda: (st := load_state(dev.settings.state_path)) is not None
                          and st.pid == proc.pid and st.connection == "offline", 30), dev.log_text()
        time.sleep(BURST_S)  # backing off is itself the thing waited for; no condition to poll
        cpu0, log0, t0 = cpu_seconds(proc.pid), len(dev.log_text()), time.monotonic()
        time.sleep(WINDOW_S)  # the thing measured is idle time itself; no condition to wait on
        cpu = cpu_seconds(proc.pid) - cpu0
        wall = time.monotonic() - t0
        log_growth = len(dev.log_text()) - log0
        assert proc.poll() is None, dev.log_text()
        print(f"offline {wall:.1f} s: agent CPU {cpu * 1000:.0f} ms ({100 * cpu / wall:.2f} %), "
              f"log +{log_growth} bytes")
        assert cpu / wall < 0.01, f"CPU {cpu:.3f} s over {wall:.1f} s"
        assert log_growth < 600, dev.log_text()
        st = load_state(dev.settings.state_path)
        assert st is not None and st.connection == "offline" and st.last_error
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert dev.log_text().count("sin conexión") <= 3, dev.log_text()
        assert dev.unacked() == 20
    finally:
        dev.close()
