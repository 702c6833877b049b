"""The sync agent's small persisted state (`<data dir>/sync-state.json`).

Written atomically (temp file + rename) on state changes only, never per
record, so an SD card does not wear out. `fieldkit-sync status` reads it from
another process; the outbox itself stays the truth about what is pending.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

ConnState = Literal["stopped", "connecting", "online", "offline"]


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class AgentState:
    pid: int = 0
    connection: ConnState = "stopped"
    transport: str | None = None          # "mqtt" / "https" while online, else the last one used
    since_ms: int | None = None           # device time the connection state began
    last_success_ms: int | None = None    # device time of the last verified ack (erase)
    last_success_server_ms: int | None = None  # the same moment in server time, when known
    last_error: str | None = None         # why we are offline / what the server refused
    clock_offset_ms: int | None = None    # server time - device time (devices have no RTC)
    clock_source: str | None = None       # "https-header" or "mqtt-ack"
    clock_measured_ms: int | None = None  # device time of that measurement
    acked_total: int = 0                  # acks verified by this agent run
    refused_total: int = 0                # final refusals (acked and erased, verdict rechazado:*)
    rejected_acks: int = 0                # acks that failed verification (erased nothing)
    held: int = 0                         # records the server could not take (kept, retried later)
    updated_ms: int = 0
    acked_day: str | None = None          # server-corrected local date (YYYY-MM-DD) of acked_today
    acked_today: int = 0                  # records acked on acked_day (the home's "sent today")

    def __setattr__(self, name: str, value: Any) -> None:
        # Every rise of acked_total (the agent's own counter) is also counted on today's date,
        # by the server-corrected clock, whoever makes it: the agent needs no change for it.
        if name == "acked_total" and "acked_total" in self.__dict__:
            rise = int(value) - int(self.__dict__["acked_total"])
            if rise > 0:
                self.count_acked(rise)
        super().__setattr__(name, value)

    def server_day(self, at_ms: int | None = None) -> str:
        """The local date at `at_ms` (device time, default now) corrected by the server clock."""
        t = (now_ms() if at_ms is None else at_ms) + (self.clock_offset_ms or 0)
        return datetime.fromtimestamp(t / 1000).date().isoformat()

    def count_acked(self, n: int, at_ms: int | None = None) -> None:
        day = self.server_day(at_ms)
        if self.acked_day != day:
            object.__setattr__(self, "acked_day", day)
            object.__setattr__(self, "acked_today", 0)
        object.__setattr__(self, "acked_today", self.acked_today + n)

    def sent_on(self, day: str) -> int:
        """Records acked on `day` (0 for any other day than the counted one)."""
        return self.acked_today if self.acked_day == day else 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AgentState:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def save_state(path: Path, state: AgentState) -> None:
    state.updated_ms = now_ms()
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    data = state.to_json().encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask or a leftover temp file had
        os.write(fd, data)
    finally:
        os.close(fd)
    # No fsync: a state lost to power failure is re-learned at the next connection.
    os.replace(tmp, path)


def load_state(path: Path) -> AgentState | None:
    try:
        return AgentState.from_dict(json.loads(path.read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed, not yet reaped) is not running.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True
