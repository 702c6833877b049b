"""Collection periods and their time zone: one rule for the server and the device.

A deployment has a time zone (default America/Mexico_City) and a process may name its
own (an entidad on another zone: Baja California, Sonora, Quintana Roo...). Dates are
calendar days *there*:

- a date-only start is 00:00 of that day in the zone; a date-only end is the last
  millisecond of that day in the zone (the period includes its whole last day);
- a date-time without an offset is a wall-clock time in the zone; one with an offset
  is taken as written;
- supports must reach the server within 24 hours after the period closes (LGIPE):
  ``send_deadline_ms``.

Across a daylight-saving change the wall-clock rule holds (a day of 23 or 25 hours);
zoneinfo resolves a wall time that happens twice to its first occurrence (``fold=0``)
and one that does not happen to the offset before the gap.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sync.common.typed_load import FieldError

DEFAULT_TZ = "America/Mexico_City"
SEND_WINDOW_MS = 24 * 3600 * 1000


class PeriodError(ValueError):
    """A zone or date the rule cannot use; the message is one Spanish line."""


def zone(name: str | None) -> ZoneInfo:
    """The zone named (empty or None: the default), or PeriodError."""
    name = name or DEFAULT_TZ
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PeriodError(f"zona horaria desconocida {name!r} (p. ej. America/Mexico_City, "
                          "America/Tijuana, America/Hermosillo, America/Cancun)") from None


def zone_field(name: str, field: str = "timezone") -> ZoneInfo:
    """`zone(name)` for a config loader: an unknown zone is that field's one-line error."""
    try:
        return zone(name)
    except PeriodError as e:
        raise FieldError(field, str(e)) from None


def _ms(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)


def _parse(text: str) -> dt.date | dt.datetime:
    text = text.strip()
    try:  # a date first, in any form ("2027-02-28", "20270228"): it means the whole day
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"{text!r} no es una fecha AAAA-MM-DD ni una fecha y hora ISO") from None


def start_ms(text: str, tz: ZoneInfo) -> int:
    """A period's start: a date is its first moment in `tz`."""
    v = _parse(text)
    if not isinstance(v, dt.datetime):
        return _ms(dt.datetime.combine(v, dt.time(), tz))
    return _ms(v if v.tzinfo is not None else v.replace(tzinfo=tz))


def end_ms(text: str, tz: ZoneInfo) -> int:
    """A period's end (inclusive): a date is its last millisecond in `tz`."""
    v = _parse(text)
    if not isinstance(v, dt.datetime):
        return _ms(dt.datetime.combine(v + dt.timedelta(days=1), dt.time(), tz)) - 1
    return _ms(v if v.tzinfo is not None else v.replace(tzinfo=tz))


def day_bounds(start: dt.date, end: dt.date, tz: ZoneInfo) -> tuple[int, int]:
    """First and last millisecond of the days `start`..`end` in `tz`."""
    return start_ms(start.isoformat(), tz), end_ms(end.isoformat(), tz)


def send_deadline_ms(period_end_ms: int) -> int:
    return period_end_ms + SEND_WINDOW_MS


def local(ms: int, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz)


def local_date(ms: int, tz: ZoneInfo) -> dt.date:
    """The calendar day in `tz` at `ms`."""
    return local(ms, tz).date()


def show(ms: int, tz: ZoneInfo, *, seconds: bool = False) -> str:
    """"2027-02-28 23:59 CST": local wall time with the zone's abbreviation."""
    return local(ms, tz).strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


def show_iso(ms: int, tz: ZoneInfo) -> str:
    """"2027-02-28T23:59:59-06:00": for files (CSV) that another program reads."""
    return local(ms, tz).isoformat(timespec="seconds")
