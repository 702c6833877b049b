"""`fieldkit-demo`'s processes: children started and stopped as a group, commands run to
completion with their output logged under DIR/logs, and the ports they listen on."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent


class DemoError(Exception):
    """A step of the demo failed; the message says which and where its log is. A command that
    ran and failed keeps its exit `status` and `stdout`."""

    def __init__(self, message: str, status: int | None = None, stdout: str | None = None) -> None:
        super().__init__(message)
        self.status, self.stdout = status, stdout


@dataclass
class Procs:
    """Children started by the demo, stopped in reverse order."""

    logs: Path
    running: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as log:
            p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env=env, start_new_session=True)  # Ctrl-C is ours to handle
        self.running.append((name, p))
        return p

    def check(self) -> None:
        for name, p in self.running:
            if p.poll() is not None:
                raise DemoError(f"{name} terminó con estado {p.returncode} "
                                f"(registro: {self.logs}/{name}.log)")

    def stop_all(self) -> None:
        for _name, p in reversed(self.running):
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _name, p in reversed(self.running):
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    p.kill()
                p.wait(5)
        self.running.clear()


def run_cmd(logs: Path, name: str, *argv: str, timeout: float = 300) -> str:
    """Run a command to completion; its output is logged; DemoError if it fails."""
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    with (logs / f"{name}.log").open("a") as f:
        f.write(f"$ {' '.join(argv)}\n{p.stdout}{p.stderr}\n")
    if p.returncode != 0:
        raise DemoError(f"{name} falló ({p.returncode}): {(p.stderr or p.stdout).strip()[-500:]}",
                        p.returncode, p.stdout)
    return p.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, procs: Procs, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check()
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise DemoError(f"nada escucha en el puerto {port} tras {timeout:.0f} s")


def tool(name: str) -> str:
    return str(BIN / name)
