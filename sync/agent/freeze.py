"""Freeze policy and collection periods: what the kiosk may offer right now.

    capture_refusal(cfg, outbox=None, now_ms=None) -> str | None
        None: captures allowed. Otherwise a Spanish reason for the screen. Refused
        when the device is revoked, when the oldest unsent record is older than
        `[freeze].max_unsent_age_days`, or when more than `[freeze].max_pending`
        records are unsent. Both clear by themselves once a sync succeeds (acked
        records leave the outbox), as MOSIP's registration client does.
    period_refusal(process, server_ms) -> str | None
        The Spanish reason a process is not offered at that (server-corrected) time.
    period_warnings(process, server_ms, pending) -> list[str]
        What home warns about a process: outside its period, ending within 3 days, or
        closed with supports still to send before the 24 h deadline.
    offered_processes(cfg, now_ms=None) -> list[Process]
        The processes whose collection period contains *server-corrected* now
        (device clock + the offset the sync agent measured): a device without an
        RTC may boot with a wrong clock, and a process outside its period is not offered.
"""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

from sync.agent.settings import STATE_FILE
from sync.agent.state import load_state
from sync.device.command_exec import REVOKED_TEXT, is_revoked
from sync.device.config import DeviceConfig, Process
from sync.outbox.errors import OutboxError
from sync.outbox.outbox import Outbox

MX = ZoneInfo("America/Mexico_City")  # dates in the config are Mexican calendar days


def clock_offset_ms(cfg: DeviceConfig) -> int:
    """Server clock minus device clock as the sync agent last measured it (0: never measured)."""
    st = load_state(cfg.device.data_dir / STATE_FILE)
    return (st.clock_offset_ms or 0) if st is not None else 0


def server_now_ms(cfg: DeviceConfig, device_now_ms: int | None = None) -> int:
    now = int(time.time() * 1000) if device_now_ms is None else device_now_ms
    return now + clock_offset_ms(cfg)


def period_refusal(p: Process, server_ms: int) -> str | None:
    """Why `p` may not be captured at `server_ms` (outside its collection period), or None."""
    lo, hi = _bounds(p)
    if server_ms < lo:
        return f"El periodo de captación de «{p.name}» empieza el {p.start}."
    if server_ms > hi:
        return f"El periodo de captación de «{p.name}» terminó el {p.end}."
    return None


def period_warnings(p: Process, server_ms: int, pending: int) -> list[str]:
    """Home's warnings for `p` at `server_ms`, with `pending` records unsent (Spanish)."""
    out = []
    today = mexico_date(server_ms)
    end = dt.date.fromisoformat(p.end)
    days = (end - today).days
    if (why := period_refusal(p, server_ms)) is not None:
        out.append(why)
    elif days <= 3:
        out.append(f"La captación termina el {p.end} ({days} día(s)).")
    if end < today <= end + dt.timedelta(days=1):
        # Supports must reach the server within 24 h of the close (LGIPE): the last day + 1.
        deadline = dt.datetime.combine(end + dt.timedelta(days=2), dt.datetime.min.time())
        out.append(f"Periodo cerrado: envíe los {pending} apoyos pendientes antes del "
                   f"{deadline:%Y-%m-%d %H:%M} (24 h).")
    return out


def mexico_date(server_ms: int) -> dt.date:
    """The calendar day in Mexico City at `server_ms` (the config's dates are such days)."""
    return dt.datetime.fromtimestamp(server_ms / 1000, MX).date()


def capture_refusal(cfg: DeviceConfig, outbox: Outbox | None = None, now_ms: int | None = None) -> str | None:
    if is_revoked(cfg):
        return f"No se pueden capturar apoyos: {REVOKED_TEXT}. Entregue el equipo a su coordinador."
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
        days = age / 86400
        return (f"Captura detenida: hay apoyos sin enviar desde hace {days:.1f} días (máximo "
                f"{f.max_unsent_age_days:g}). Conéctese a internet para sincronizar.")
    if pending >= f.max_pending:
        return (f"Captura detenida: hay {pending} apoyos sin enviar (máximo {f.max_pending}). "
                "Conéctese a internet para sincronizar.")
    return None


def _bounds(p: Process) -> tuple[int, int]:
    if p.start_ms and p.end_ms:
        return p.start_ms, p.end_ms
    start = dt.datetime.fromisoformat(p.start).replace(tzinfo=MX)
    end = dt.datetime.fromisoformat(p.end).replace(tzinfo=MX) + dt.timedelta(days=1)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000) - 1


def in_period(p: Process, server_ms: int) -> bool:
    lo, hi = _bounds(p)
    return lo <= server_ms <= hi


def offered_processes(cfg: DeviceConfig, now_ms: int | None = None) -> list[Process]:
    """`now_ms`: device clock (default: now); corrected with the agent's measured offset."""
    now = server_now_ms(cfg, now_ms)
    return [p for p in cfg.processes if in_period(p, now)]
