"""Freeze policy and collection periods: what the kiosk may offer right now.

    capture_refusal(cfg, outbox=None, now_ms=None) -> Msg | None
        None: captures allowed. Otherwise the reason as a message code (`freeze.*`). Refused
        when the device is revoked, when the oldest unsent record is older than
        `[freeze].max_unsent_age_days`, or when more than `[freeze].max_pending`
        records are unsent. Both clear by themselves once a sync succeeds (acked
        records leave the outbox), as MOSIP's registration client does.
    period_refusal(process, server_ms) -> Msg | None
        Why a process is not offered at that (server-corrected) time (`period.*`).
    period_warnings(process, server_ms, pending) -> list[Msg]
        What home warns about a process: outside its period, ending within 3 days, or
        closed with supports still to send before the 24 h deadline (none when 0 are left).
    offered_processes(cfg, now_ms=None) -> list[Process]
        The processes whose collection period contains *server-corrected* now
        (device clock + the offset the sync agent measured): a device without an
        RTC may boot with a wrong clock, and a process outside its period is not offered.
    judge_clock(device_now_ms, offset_ms, floor_ms) -> ClockProblem | None
        A wrong device clock named as such: the corrected date is before a moment known
        to have passed (`known_floor_ms(cfg)`: this software's date, the device
        certificate's issue, the agent's last contact with the server), or the agent
        measured a large offset. `clock_problem(cfg)` reads the floor and the offset.
    period_or_clock_refusal(cfg, process, device_now_ms=None) -> Msg | None
        `period_refusal` on the corrected clock, except that a clock that cannot be right
        is named instead of "the period is over".

Every text is a `sync.common.msg.Msg` (`freeze.*`, `period.*`, `clock.*`, `span.*`): the kiosk
renders it from its catalogues (kiosk/i18n); nothing on the sync side shows these texts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from cryptography import x509

from sync.agent.settings import STATE_FILE
from sync.agent.state import load_state
from sync.common import periods
from sync.common.msg import Msg
from sync.device.command_exec import is_revoked
from sync.device.config import DeviceConfig, Process
from sync.outbox.errors import OutboxError
from sync.outbox.outbox import Outbox

MX = ZoneInfo(periods.DEFAULT_TZ)  # the clock warnings' dates; periods use their own zone
# No true clock is earlier than this software: a date before it is a reset clock (a Pi has
# no RTC and may boot at 1970 or at the last saved time), not a real date.
SOFTWARE_DATE_MS = int(dt.datetime(2026, 11, 1, tzinfo=dt.UTC).timestamp() * 1000)
# Measuring the offset (an HTTP Date header, an ack's time) is good to seconds; periods and
# record times care about minutes.
CLOCK_TOLERANCE_MS = 10 * 60 * 1000


def clock_offset_ms(cfg: DeviceConfig) -> int:
    """Server clock minus device clock as the sync agent last measured it (0: never measured)."""
    st = load_state(cfg.device.data_dir / STATE_FILE)
    return (st.clock_offset_ms or 0) if st is not None else 0


def server_now_ms(cfg: DeviceConfig, device_now_ms: int | None = None) -> int:
    now = int(time.time() * 1000) if device_now_ms is None else device_now_ms
    return now + clock_offset_ms(cfg)


def period_refusal(p: Process, server_ms: int) -> Msg | None:
    """Why `p` may not be captured at `server_ms` (outside its collection period), or None."""
    lo, hi = _bounds(p)
    if server_ms < lo:
        return Msg("period.starts", {"process": p.name, "date": p.start})
    if server_ms > hi:
        return Msg("period.ended", {"process": p.name, "date": p.end})
    return None


def period_warnings(p: Process, server_ms: int, pending: int) -> list[Msg]:
    """Home's warnings for `p` at `server_ms`, with `pending` records unsent. Days are counted
    where the process runs (`p.timezone`)."""
    out: list[Msg] = []
    today = periods.local_date(server_ms, p.zone())
    end = dt.date.fromisoformat(p.end)
    days = (end - today).days
    if (why := period_refusal(p, server_ms)) is not None:
        out.append(why)
    elif days <= 3:
        out.append(Msg("period.ends_soon", {"date": p.end}, n=days))
    _, hi = _bounds(p)
    if hi < server_ms <= periods.send_deadline_ms(hi) and pending > 0:
        # Supports must reach the server within 24 h of the close (LGIPE).
        # With none to send there is nothing to ask ("period.ended" already says it closed).
        deadline = periods.local(periods.send_deadline_ms(hi) + 1, p.zone())
        out.append(Msg("period.closed_send", {"deadline": f"{deadline:%Y-%m-%d %H:%M}"}, n=pending))
    return out


def mexico_date(server_ms: int) -> dt.date:
    """The calendar day in Mexico City at `server_ms` (the config's dates are such days)."""
    return dt.datetime.fromtimestamp(server_ms / 1000, MX).date()


def capture_year(cfg: DeviceConfig | None, process_id: str, server_ms: int) -> int:
    """The year a card's vigencia is judged against: the corrected date where the process
    runs (31 December in Tijuana may already be 1 January in Mexico City)."""
    tz = MX
    if cfg is not None:
        with contextlib.suppress(KeyError):
            tz = cfg.process(process_id).zone()
    return periods.local_date(server_ms, tz).year


def capture_refusal(cfg: DeviceConfig, outbox: Outbox | None = None, now_ms: int | None = None) -> Msg | None:
    if is_revoked(cfg):
        return Msg("freeze.revoked")
    own = outbox is None
    try:
        ob = outbox or Outbox.open_with_key_file(cfg.device.outbox_path, cfg.keys.outbox_key, readonly=True)
    except OutboxError:
        return None  # no outbox yet: nothing unsent
    try:
        pending = ob.counts().unacknowledged
        age = ob.oldest_pending_age_s(now_ms)
    finally:
        if own:
            ob.close()
    f = cfg.freeze
    if age is not None and age > f.max_unsent_age_days * 86400:
        days = round(age / 86400)  # whole days, as a person counts them: the plural's count
        return Msg("freeze.unsent_age", {"days": days, "max_days": f"{f.max_unsent_age_days:g}"}, n=days)
    if pending >= f.max_pending:
        return Msg("freeze.pending", {"pending": pending, "max_pending": f.max_pending}, n=pending)
    return None


def _bounds(p: Process) -> tuple[int, int]:
    """The exact period the server sent, else the whole days of the dates where it runs."""
    if p.start_ms and p.end_ms:
        return p.start_ms, p.end_ms
    return periods.day_bounds(dt.date.fromisoformat(p.start), dt.date.fromisoformat(p.end), p.zone())


def in_period(p: Process, server_ms: int) -> bool:
    lo, hi = _bounds(p)
    return lo <= server_ms <= hi


def offered_processes(cfg: DeviceConfig, now_ms: int | None = None) -> list[Process]:
    """`now_ms`: device clock (default: now); corrected with the agent's measured offset."""
    now = server_now_ms(cfg, now_ms)
    return [p for p in cfg.processes if in_period(p, now)]


# --- the device clock -----------------------------------------------------------------------

ClockKind = Literal["impossible", "offset"]


@dataclass(frozen=True)
class ClockProblem:
    """A device clock that is wrong. `impossible`: the corrected date is before a moment known to
    have passed, so every date judged on it (the periods) is wrong. `offset`: the agent measured
    the device clock far from the server's; the times the kiosk shows and judges are already
    corrected by it, but the device clock itself stays wrong (nothing on the device sets it) and
    a restart before the next measurement would judge on it again."""

    kind: ClockKind
    detail: Msg  # `clock.shows` ("indica el 1970-01-01"), `clock.behind` / `clock.ahead` ("atrasada 3 h")

    @property
    def msg(self) -> Msg:
        """What home says: an impossible clock asks to connect (the agent measures the offset
        again) or to tell the coordinator; a measured offset says the times shown are corrected
        and asks for the coordinator, who can set the device's clock."""
        code = "clock.wrong" if self.kind == "impossible" else "clock.offset"
        return Msg(code, {"detail": self.detail})


def span(ms: int) -> Msg:
    """A duration as home says it: "12 min", "30 h", "3 días"."""
    minutes = ms // 60_000
    if minutes < 120:
        return Msg("span.minutes", {"n": minutes})
    hours = minutes // 60
    if hours < 48:
        return Msg("span.hours", n=hours)
    return Msg("span.days", n=hours // 24)


def judge_clock(device_now_ms: int, offset_ms: int | None, floor_ms: int = SOFTWARE_DATE_MS
                ) -> ClockProblem | None:
    """`offset_ms`: server minus device clock as measured (None: never); `floor_ms`: a moment
    known to have passed, in server time (`known_floor_ms`)."""
    corrected = device_now_ms + (offset_ms or 0)
    if corrected < max(floor_ms, SOFTWARE_DATE_MS) - CLOCK_TOLERANCE_MS:
        return ClockProblem("impossible", Msg("clock.shows", {"date": mexico_date(corrected).isoformat()}))
    if offset_ms is not None and abs(offset_ms) > CLOCK_TOLERANCE_MS:
        behind = offset_ms > 0  # the server's clock is ahead of the device's
        return ClockProblem("offset", Msg("clock.behind" if behind else "clock.ahead",
                                          {"span": span(abs(offset_ms))}))
    return None


def _certificate_issued_ms(cfg: DeviceConfig) -> int:
    """When the server issued the device's certificate, by the server's clock (0: unreadable)."""
    try:
        cert = x509.load_pem_x509_certificate(cfg.keys.client_cert.read_bytes())
    except (OSError, ValueError):
        return 0
    return int(cert.not_valid_before_utc.timestamp() * 1000)


def known_floor_ms(cfg: DeviceConfig) -> int:
    """The latest moment, in server time, the device knows has passed: this software's date, the
    certificate's issue (enrollment) and the agent's last clock measurement and verified ack."""
    st = load_state(cfg.device.data_dir / STATE_FILE)
    seen = [SOFTWARE_DATE_MS, _certificate_issued_ms(cfg)]
    if st is not None:
        if st.clock_measured_ms is not None and st.clock_offset_ms is not None:
            seen.append(st.clock_measured_ms + st.clock_offset_ms)
        seen.append(st.last_success_server_ms or 0)
    return max(seen)


def clock_problem(cfg: DeviceConfig, device_now_ms: int | None = None) -> ClockProblem | None:
    st = load_state(cfg.device.data_dir / STATE_FILE)
    now = int(time.time() * 1000) if device_now_ms is None else device_now_ms
    return judge_clock(now, st.clock_offset_ms if st is not None else None, known_floor_ms(cfg))


def period_or_clock_refusal(cfg: DeviceConfig, p: Process, device_now_ms: int | None = None) -> Msg | None:
    """Why `p` may not be captured now; a clock that cannot be right is named as the reason
    rather than "the period is over" (which would be judged on that clock)."""
    now = int(time.time() * 1000) if device_now_ms is None else device_now_ms
    why = period_refusal(p, now + clock_offset_ms(cfg))
    if why is None:
        return None
    clock = clock_problem(cfg, now)
    return clock.msg if clock is not None and clock.kind == "impossible" else why
