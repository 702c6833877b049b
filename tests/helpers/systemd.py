"""Helpers for the systemd/ tests: unit files, a throwaway root where systemd-analyze can
check them offline, install.sh runs, and a small sd_notify listener that plays systemd's
watchdog (this machine's PID 1 is not systemd)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SYSTEMD = REPO / "systemd"
INSTALL = SYSTEMD / "install.sh"
CHECK_STORAGE = SYSTEMD / "check-storage.sh"
FAILURE_UNIT = "fieldkit-kiosk-failure.service"
UNITS = ["fieldkit-kiosk.service", "fieldkit-sync.service", "fieldkit-server.service", "fieldkit-sync.path",
         FAILURE_UNIT]
SERVICES = [u for u in UNITS if u.endswith(".service")]
CAGE_DROPIN = SYSTEMD / "fieldkit-kiosk.service.d" / "cage.conf"
FAILURE_CAGE_DROPIN = SYSTEMD / f"{FAILURE_UNIT}.d" / "cage.conf"
CAGE_DROPINS = [CAGE_DROPIN, FAILURE_CAGE_DROPIN]
VENV_BIN = "/opt/fieldkit/venv/bin/"


def console_scripts() -> dict[str, str]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    return dict(data["project"]["scripts"])


def unit_values(path: Path, key: str) -> list[str]:
    """Every value of ``key`` in a unit file (continuation lines joined; an empty value
    resets the list, as systemd does)."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;[" or "=" not in line:
            continue
        k, v = line.split("=", 1)
        if k.strip() == key:
            v = v.strip()
            if v:
                out.append(v)
            else:
                out.clear()
    return out


def exec_argv(value: str) -> list[str]:
    """An ExecStart= value as argv (prefixes like '-' or '@' dropped)."""
    argv = shlex.split(value)
    argv[0] = argv[0].lstrip("-@:+!")
    return argv


def fieldkit_program(argv: list[str]) -> str | None:
    """The program of ours that an ExecStart runs: argv[0], or what a launcher (cage -- X)
    starts."""
    for a in argv:
        if a.startswith(VENV_BIN):
            return a
    return None


def make_unit_root(root: Path, *, cage: bool = False, missing: tuple[str, ...] = ()) -> Path:
    """A root with the host's systemd units, ours in /etc/systemd/system, and executables
    at every path our units run (except those in ``missing``)."""
    (root / "usr/lib/systemd").mkdir(parents=True)
    (root / "usr/bin").mkdir(parents=True)
    for link in ("bin", "lib", "sbin"):
        (root / link).symlink_to(f"usr/{link}" if link != "sbin" else "usr/bin")
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    etc = root / "etc/systemd/system"
    etc.mkdir(parents=True)
    for u in UNITS:
        shutil.copy(SYSTEMD / u, etc / u)
    if cage:
        for dropin in CAGE_DROPINS:
            (etc / dropin.parent.name).mkdir()
            shutil.copy(dropin, etc / dropin.parent.name / "display.conf")
    progs: set[str] = set()
    for f in [*(SYSTEMD / u for u in SERVICES), *CAGE_DROPINS]:
        for key in ("ExecStart", "ExecReload", "ExecStop", "ExecStartPre"):
            for v in unit_values(f, key):
                progs.update(a for a in exec_argv(v) if a.startswith("/"))
    for p in sorted(progs - set(missing)):
        if p.startswith(("/etc/", "/var/")):
            continue  # config arguments, not programs
        exe = root / p.lstrip("/")
        exe.parent.mkdir(parents=True, exist_ok=True)
        exe.write_text("#!/bin/sh\nexit 0\n")
        exe.chmod(0o755)
    return root


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, timeout=60)


def security_score(root: Path, unit: str) -> tuple[float, str]:
    """`systemd-analyze security --offline=yes` (systemd >= 252): exposure 0..10 and the table."""
    p = analyze("security", "--offline=yes", f"--root={root}", "--no-pager", unit)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", p.stdout + p.stderr)
    assert m, p.stdout + p.stderr
    return float(m.group(1)), p.stdout


def run_install(*args: str, check: bool = True, timeout: float = 60,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True, timeout=timeout,
                       env=env)
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


def commands(out: str) -> list[str]:
    """The '+ command' lines of an install.sh run."""
    return [line[2:] for line in out.splitlines() if line.startswith("+ ")]


@dataclass
class NotifyListener:
    """What systemd does for Type=notify + WatchdogSec: a datagram socket for sd_notify,
    and a watchdog that fires when no WATCHDOG=1 came for ``watchdog_s``."""

    path: Path
    watchdog_s: float
    messages: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.05)

    def env(self) -> dict[str, str]:
        return dict(os.environ, NOTIFY_SOCKET=str(self.path),
                    WATCHDOG_USEC=str(int(self.watchdog_s * 1e6)))

    def poll(self, seconds: float) -> None:
        """Collect messages for ``seconds``."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            for line in data.decode().splitlines():
                self.messages.append((time.monotonic(), line))

    def wait_for(self, msg: str, timeout: float) -> float:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            hits = [t for t, m in self.messages if m == msg]
            if hits:
                return hits[0]
            self.poll(0.05)
        raise AssertionError(f"no {msg} within {timeout} s; got {self.messages}")

    def pings(self) -> list[float]:
        return [t for t, m in self.messages if m == "WATCHDOG=1"]

    def last_ping(self) -> float:
        p = self.pings()
        assert p, self.messages
        return p[-1]

    def expired(self) -> bool:
        """systemd's rule: the watchdog fires once WatchdogSec passed with no ping."""
        return time.monotonic() - self.last_ping() > self.watchdog_s

    def close(self) -> None:
        self.sock.close()
