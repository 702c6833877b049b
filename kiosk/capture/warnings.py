"""Home's warnings, decided with no Qt: what the auxiliary must see before it costs a support.

    home_warnings(cfg, status, now_ms) -> list[HomeWarning]
        The device's own warnings, errors first: captures stopped (the freeze policy's
        reason), a wrong clock, free disk, unsent records, battery.
    period_banners(cfg, process_ids, status, now_ms) -> list[HomeWarning]
        The collection periods' warnings (sync.agent.freeze.period_warnings), left out while
        the clock cannot be right: they would be judged on that clock.
    disk_refusal(free_bytes) -> Msg | None
        Why a new capture may not start: one more record might not fit.
    battery_low(level, on_ac, limit) -> bool
        The one low-battery rule, for the banner and the status bar alike.
    sending_state(status, still_queued) -> str
        What the folio screen may say about sending (kiosk.ui.done.FolioScreen.set_sending).

`status` is home's status snapshot (built by kiosk.app on a worker: outbox counts, the agent's
local channel, the power and storage readers). Keys read, each optional:

    battery (percent), on_ac, oldest_unacked_ms (device time; else the agent's
    oldest_pending_age_s), free_disk_bytes (file system free space plus the outbox's
    reusable_bytes), clock_offset_ms, clock_floor_ms (sync.agent.freeze.known_floor_ms),
    capture_refusal (sync.agent.freeze.capture_refusal), pending.

An absent or None value is not known, and what is not known never warns. `now_ms` is the
device clock, as the outbox's `created_ms` is. Thresholds: `[warnings]` in the device config.
Every text is a message code (`warn.*`, `capture.disk_full`, and the freeze policy's
`freeze.*`, `clock.*`, `period.*`), rendered by the home screen from the catalogues.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from kiosk.i18n import render
from sync.agent import freeze
from sync.common.msg import Msg
from sync.device.config import DeviceConfig
from sync.wire.envelope import MAX_ENVELOPE_BYTES

Severity = Literal["warn", "error"]

# One record at its worst in the outbox's database: the largest legal envelope (the device
# shrinks a record rather than make a larger one), plus SQLCipher's per-page reserve and
# SQLite's overflow-page headers (under 3 %).
RECORD_DB_BYTES = MAX_ENVELOPE_BYTES + MAX_ENVELOPE_BYTES // 32
# Left free for the rest of the device: the agent erasing sent records (a delete writes to the
# WAL first, docs/outbox.md), the journal and the state files.
DISK_MARGIN_BYTES = 64 * 1024 * 1024
BATTERY_CRITICAL_PERCENT = 5.0  # below this the device may shut down during a capture

# Sending frees room: an erased record's pages are reused by the next ones.
DISK_FULL = Msg("capture.disk_full")
DISK_FULL_BANNER = Msg("warn.disk_full")


@dataclass(frozen=True)
class HomeWarning:
    """One banner: a stable `code` (what it is about: "battery_low", "clock_wrong", "period"…),
    its message (`msg`: code and arguments for the catalogues) and its severity."""

    code: str
    msg: Msg
    severity: Severity = "warn"

    @property
    def text(self) -> str:
        """The message in the chosen language (what a test or a log line reads)."""
        return render(self.msg)


def records_that_fit(free_bytes: int) -> int:
    """How many more records surely fit in `free_bytes`: each at its worst in the database, the
    WAL holding the largest commit once more (it is truncated after every erase), the margin kept."""
    return max(0, (free_bytes - DISK_MARGIN_BYTES) // RECORD_DB_BYTES - 1)


def disk_refusal(free_bytes: int | None) -> Msg | None:
    """None, or why a new capture may not start: one more record might not fit, and the
    auxiliary would learn it only at "Guardar". None when the free space is not known."""
    if free_bytes is None or records_that_fit(free_bytes) >= 1:
        return None
    return DISK_FULL


def battery_low(level: float | None, on_ac: bool | None, limit: float) -> bool:
    """At or below `limit` percent and not known to be charging; a limit of 0 turns it off."""
    return level is not None and not on_ac and limit > 0 and level <= limit


def _battery(cfg: DeviceConfig, status: dict[str, Any]) -> HomeWarning | None:
    level = status.get("battery")
    if level is None or not battery_low(level, status.get("on_ac"), cfg.warnings.low_battery_percent):
        return None
    args = {"percent": f"{level:.0f} %"}
    if level <= BATTERY_CRITICAL_PERCENT:
        return HomeWarning("battery_critical", Msg("warn.battery_critical", args), "error")
    return HomeWarning("battery_low", Msg("warn.battery_low", args))


def _unsent_age_ms(status: dict[str, Any], now_ms: int) -> int | None:
    oldest = status.get("oldest_unacked_ms")
    if oldest is not None:
        return max(0, now_ms - int(oldest))
    age_s = status.get("oldest_pending_age_s")
    return None if age_s is None else int(float(age_s) * 1000)


def _unsent(cfg: DeviceConfig, status: dict[str, Any], now_ms: int) -> HomeWarning | None:
    age = _unsent_age_ms(status, now_ms)
    if age is None or age < cfg.warnings.unsent_hours * 3_600_000:
        return None
    if age > cfg.freeze.max_unsent_age_days * 86_400_000:
        return None  # the freeze policy has stopped captures and says so itself
    return HomeWarning("unsent_old", Msg("warn.unsent_old", {"since": freeze.span(age)}))


def _disk(cfg: DeviceConfig, status: dict[str, Any]) -> HomeWarning | None:
    free = status.get("free_disk_bytes")
    if free is None:
        return None
    if disk_refusal(int(free)) is not None:
        return HomeWarning("disk_full", DISK_FULL_BANNER, "error")
    n = records_that_fit(int(free))
    if n >= cfg.warnings.low_disk_records:
        return None
    return HomeWarning("disk_low", Msg("warn.disk_low", n=n))


def clock_check(status: dict[str, Any], now_ms: int) -> freeze.ClockProblem | None:
    floor = status.get("clock_floor_ms") or freeze.SOFTWARE_DATE_MS
    return freeze.judge_clock(now_ms, status.get("clock_offset_ms"), int(floor))


def _clock(status: dict[str, Any], now_ms: int) -> HomeWarning | None:
    problem = clock_check(status, now_ms)
    if problem is None:
        return None
    return HomeWarning("clock_wrong", problem.msg, "error" if problem.kind == "impossible" else "warn")


def home_warnings(cfg: DeviceConfig, status: dict[str, Any], now_ms: int) -> list[HomeWarning]:
    """The device's warnings for home, errors first (each group in the order written here)."""
    out: list[HomeWarning] = []
    if (refusal := status.get("capture_refusal")) is not None:
        out.append(HomeWarning("capture_stopped", refusal, "error"))
    found = (_clock(status, now_ms), _disk(cfg, status), _unsent(cfg, status, now_ms), _battery(cfg, status))
    out += [w for w in found if w is not None]
    return sorted(out, key=lambda w: w.severity != "error")  # stable: order kept within each


def period_banners(cfg: DeviceConfig, process_ids: list[str], status: dict[str, Any],
                   now_ms: int) -> list[HomeWarning]:
    """Each process's period warnings on the corrected clock; none while that clock cannot be
    right (home_warnings names the clock instead of "the period is over")."""
    problem = clock_check(status, now_ms)
    if problem is not None and problem.kind == "impossible":
        return []
    server_ms = now_ms + int(status.get("clock_offset_ms") or 0)
    pending = int(status.get("pending") or 0)
    by_id = {p.id: p for p in cfg.processes}
    return [HomeWarning("period", m) for pid in process_ids if pid in by_id
            for m in freeze.period_warnings(by_id[pid], server_ms, pending)]


def sending_state(status: dict[str, Any], still_queued: bool | None) -> str:
    """"sent" once the record left the outbox (the server acknowledged it: `still_queued` False);
    else by the agent's connection: "pending_online", "offline", or "unknown" when no agent
    answers. `still_queued` None: not known (the outbox was not read)."""
    if still_queued is False:
        return "sent"
    if "agent_error" in status or status.get("connection") in (None, "stopped"):
        return "unknown"
    return "pending_online" if status["connection"] == "online" else "offline"
