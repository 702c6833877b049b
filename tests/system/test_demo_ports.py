"""`fieldkit-demo` starts anywhere: every port chosen at run time (two demos' servers and
brokers run side by side on one host), and a part that exits early is named with its reason."""

from __future__ import annotations

import shutil
import sys
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kiosk.demo.deployment import Deployment, start_server
from kiosk.demo.procs import DemoError, Procs, free_ports, tool, wait_port

# `fieldkit-server init`'s defaults: a demo that kept one of them would collide with another.
INIT_DEFAULT_PORTS = {8443, 8444, 8445, 8883, 8884}


def _ports_in(server_toml: Path) -> set[int]:
    found: set[int] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k.endswith("port") and isinstance(v, int):
                    found.add(v)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(tomllib.loads(server_toml.read_text()))
    return found


Two = tuple[list[Procs], list[Deployment]]


@pytest.fixture
def two(tmp_path: Path) -> Iterator[Two]:
    """Two demos' servers (and brokers, when Mosquitto is installed) started at the same time."""
    roots = [tmp_path / f"demo{i}" for i in range(2)]
    procs = []
    for r in roots:
        (r / "logs").mkdir(parents=True)
        procs.append(Procs(r / "logs"))
    mqtt = shutil.which("mosquitto") is not None
    try:
        with ThreadPoolExecutor(2) as pool:
            deps = list(pool.map(lambda i: start_server(roots[i], procs[i], mqtt, 60), range(2)))
        yield procs, deps
    finally:
        for p in procs:
            p.stop_all()


def test_two_demos_servers_and_brokers_run_at_once(two: Two) -> None:
    procs, deps = two
    for p in procs:
        p.check()                                  # every child of both is still running
    a, b = (_ports_in(d.server_toml) for d in deps)
    assert a and b and not a & b, (a, b)
    assert not (a | b) & INIT_DEFAULT_PORTS, "a fixed port is left"
    for d in deps:
        assert d.enroll_port in _ports_in(d.server_toml)
        if shutil.which("mosquitto"):
            assert d.mqtt_port is not None


def test_a_server_that_cannot_bind_is_named_with_its_reason(two: Two) -> None:
    """What two demos on fixed ports used to show as "server terminó con estado 1" alone."""
    procs, deps = two
    procs[0].start("server-again", [tool("fieldkit-server"), "serve", "--no-mqtt",
                                    "--config", str(deps[0].server_toml)])
    spare = free_ports(1)[0]                       # nothing will listen here: only the exit ends the wait
    with pytest.raises(DemoError) as e:
        wait_port(spare, procs[0], timeout=60, name="server-again")
    msg = str(e.value)
    assert msg.startswith("server-again terminó con estado 1: "), msg
    assert f"el puerto {deps[0].https_port} (API HTTPS, 127.0.0.1) ya lo ocupa otro proceso" in msg, msg
    assert "server-again.log" in msg


def test_a_child_that_exits_early_says_why(tmp_path: Path) -> None:
    procs = Procs(tmp_path)
    try:
        p = procs.start("broker", [sys.executable, "-c",
                                   "import sys; print('starting'); "
                                   "print('Error: Address already in use', file=sys.stderr, flush=True); "
                                   "print('bye'); sys.exit(3)"])
        p.wait(30)
        with pytest.raises(DemoError) as e:
            procs.check()
    finally:
        procs.stop_all()
    assert str(e.value) == (f"broker terminó con estado 3: Error: Address already in use | bye "
                            f"(registro: {tmp_path}/broker.log)")


def test_free_ports_are_distinct() -> None:
    ports = free_ports(6)
    assert len(set(ports)) == 6 and all(1024 <= p < 65536 for p in ports)
