"""The benchmarks' link simulator (bench/link_sim.py) as a proxy: it counts what passed, a cut
resets and refuses, and its shaper never lets data through faster than the link allows.

The time checks are lower bounds only (a slow machine can only make a transfer slower), so
they test the shaper's correctness, not this machine's speed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

_PATH = Path(__file__).resolve().parents[2] / "bench" / "link_sim.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("link_sim", _PATH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up by name
    spec.loader.exec_module(mod)
    return mod


ls = _load()


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A TCP echo server on loopback: one thread per connection."""
    srv = socket.create_server(("127.0.0.1", 0))

    def serve(c: socket.socket) -> None:
        with c, contextlib.suppress(OSError):
            while data := c.recv(65536):
                c.sendall(data)

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                threading.Thread(target=serve, args=(srv.accept()[0],), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield srv.getsockname()[1]
    srv.close()


def echo_through(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        threading.Thread(target=c.sendall, args=(data,), daemon=True).start()
        got = bytearray()
        while len(got) < len(data) and (chunk := c.recv(65536)):
            got += chunk
    return bytes(got)


def test_counts_every_byte_that_passed(echo_port: int) -> None:
    data = os.urandom(300_000)
    with ls.LinkSim("127.0.0.1", echo_port, ls.parse_profile("5M+rtt20")) as sim:
        assert echo_through(sim.port, data) == data
        s = sim.stats()
    assert (s.up_bytes, s.down_bytes, s.connections) == (len(data), len(data), 1)
    assert s.up_retx_bytes == s.down_retx_bytes == 0


def test_cut_resets_connections_and_refuses_until_restored(echo_port: int) -> None:
    with ls.LinkSim("127.0.0.1", echo_port) as sim:
        live = socket.create_connection(("127.0.0.1", sim.port), timeout=5)
        live.sendall(b"hola")
        assert live.recv(16) == b"hola"
        sim.cut()
        with pytest.raises(ConnectionResetError):
            live.recv(16)
        # The reset shows at connect, send or receive, whichever the race makes it.
        with (pytest.raises(ConnectionResetError),
              socket.create_connection(("127.0.0.1", sim.port), timeout=5) as refused):
            refused.sendall(b"x")
            refused.recv(16)
        sim.restore()
        assert echo_through(sim.port, b"de nuevo") == b"de nuevo"
        s = sim.stats()
    live.close()
    assert (s.cuts, s.dropped, s.refused, s.connections) == (1, 1, 1, 2)


def test_bandwidth_and_latency_are_never_exceeded(echo_port: int) -> None:
    """N bytes at R bytes/s take at least (N - burst) / R; the first byte needs the
    handshake's RTT and one more; a lost segment (every one, here) waits an RTO each way."""
    rate, n = 1_000_000, 150_000
    p = ls.parse_profile("1M+rtt100")
    with ls.LinkSim("127.0.0.1", echo_port, p) as sim:
        data = os.urandom(n)
        t0 = time.monotonic()
        assert echo_through(sim.port, data) == data
        elapsed = time.monotonic() - t0
    assert elapsed >= (n - p.burst_bytes) / (rate / 8) + 2 * p.rtt_s - 0.01
    lossy = ls.LinkProfile(rtt_s=0.02, loss=1.0)
    with ls.LinkSim("127.0.0.1", echo_port, lossy) as sim:
        t0 = time.monotonic()
        assert echo_through(sim.port, b"x") == b"x"
        elapsed = time.monotonic() - t0
    assert elapsed >= 2 * lossy.rtt_s + 2 * lossy.rto_s - 0.01
