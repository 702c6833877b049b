"""`fieldkit-demo`'s processes: children started and stopped as a group, commands run to
completion with their output logged under DIR/logs, and the ports they listen on."""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
# An error line (a level word, "Error: ...", an errno), not a logger named "uvicorn.error".
_ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL|FATAL|Error)\b|\[Errno ")


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
    # A child's log files (its output under DIR/logs, and the one it writes itself if any),
    # each with where this run of it began.
    _log_files: dict[str, list[tuple[Path, int]]] = field(default_factory=dict)

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None,
              own_log: Path | None = None) -> subprocess.Popen[bytes]:
        """Start a child, its output to DIR/logs/NAME.log; `own_log`: a log file the child
        writes itself (Mosquitto's), read too when it exits early."""
        paths = [self.logs / f"{name}.log", *([own_log] if own_log is not None else [])]
        self._log_files[name] = [(f, f.stat().st_size if f.exists() else 0) for f in paths]
        with (self.logs / f"{name}.log").open("ab") as log:
            p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env=env, start_new_session=True)  # Ctrl-C is ours to handle
        self.running.append((name, p))
        return p

    def check(self) -> None:
        """DemoError when a child has exited: which one, its status and why (`exit_reason`)."""
        for name, p in self.running:
            if p.poll() is not None:
                why = self.exit_reason(name)
                raise DemoError(f"{name} terminó con estado {p.returncode}"
                                + (f": {why}" if why else "") + f" (registro: {self.logs}/{name}.log)")

    def exit_reason(self, name: str, limit: int = 600) -> str:
        """Why `name` stopped, from what it wrote since it was started: its first error line
        (the cause, e.g. "address already in use") and its last line (what it died of)."""
        lines: list[str] = []
        for path, start in self._log_files.get(name, [(self.logs / f"{name}.log", 0)]):
            try:
                with path.open("rb") as f:
                    f.seek(start)
                    text = f.read().decode("utf-8", errors="replace")
            except OSError:
                continue
            lines += [ln.strip() for ln in text.splitlines() if ln.strip()]
        if not lines:
            return ""
        errors = [ln for ln in lines[:-1] if _ERROR_LINE.search(ln) and not ln.startswith("File ")]
        return " | ".join([*errors[:1], lines[-1]])[-limit:]

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


def run_cmd(logs: Path, name: str, *argv: str, timeout: float = 300, private: Collection[str] = ()) -> str:
    """Run a command to completion; its output is logged; DemoError if it fails. Arguments in
    `private` (an e-mail, a card's path, which holds its CIC) are logged as "…"."""
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    shown = " ".join("…" if a in private else a for a in argv)
    with (logs / f"{name}.log").open("a") as f:
        f.write(f"$ {shown}\n{p.stdout}{p.stderr}\n")
    if p.returncode != 0:
        raise DemoError(f"{name} falló ({p.returncode}): {(p.stderr or p.stdout).strip()[-500:]}",
                        p.returncode, p.stdout)
    return p.stdout


def free_ports(n: int) -> list[int]:
    """N distinct loopback ports free now, chosen by the kernel: every socket is held until all
    are chosen, so none comes back twice. Nothing holds them after: two demos on one host
    each get their own, and a port taken meanwhile shows as the server's own bind error."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(n):
            s = stack.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            ports.append(int(s.getsockname()[1]))
        return ports


def free_port() -> int:
    return free_ports(1)[0]


def wait_port(port: int, procs: Procs, timeout: float = 20.0, name: str = "") -> None:
    """Until something listens on `port`; DemoError naming the child that exited (and why)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check()
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    why = procs.exit_reason(name) if name else ""
    raise DemoError(f"nada escucha en el puerto {port} tras {timeout:.0f} s"
                    + (f" ({name}: {why})" if why else ""))


def tool(name: str) -> str:
    return str(BIN / name)
