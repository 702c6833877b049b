"""The period rule shared by server and device (sync/common/periods.py) and the device's use
of it (sync/agent/freeze.py): boundary minutes in Mexico City, another zone, and a
daylight-saving change (America/Tijuana keeps DST; Mexico City has not since 2022)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from sync.agent import freeze
from sync.common import periods
from sync.device.config import ConfigError, Process, Scope, parse_config

MX = ZoneInfo("America/Mexico_City")
TIJ = ZoneInfo("America/Tijuana")


def ms(text: str, tz: ZoneInfo) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=tz).timestamp() * 1000)


def utc_ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp() * 1000)


def test_a_date_only_end_is_the_whole_last_day_in_the_zone() -> None:
    end = periods.end_ms("2027-02-28", MX)
    # The old rule (naive = UTC) closed at 18:00 of 27 February in Mexico City.
    assert end == utc_ms("2027-03-01T05:59:59.999")
    assert periods.show(end, MX, seconds=True) == "2027-02-28 23:59:59 CST"
    assert periods.start_ms("2027-01-10", MX) == utc_ms("2027-01-10T06:00:00")


def test_wall_clock_times_are_in_the_zone_and_offsets_are_kept() -> None:
    assert periods.end_ms("2027-02-28T18:00", MX) == utc_ms("2027-03-01T00:00")
    assert periods.end_ms("2027-02-28T18:00+00:00", MX) == utc_ms("2027-02-28T18:00")
    with pytest.raises(periods.PeriodError, match="no es una fecha"):
        periods.end_ms("28/02/2027", MX)
    with pytest.raises(periods.PeriodError, match="zona horaria desconocida"):
        periods.zone("America/Ciudad_Gotica")


def test_days_across_a_dst_change_keep_their_wall_clock() -> None:
    # Tijuana springs forward on 14 March 2027 (02:00 PST -> 03:00 PDT): a 23-hour day.
    lo, hi = periods.day_bounds(dt.date(2027, 3, 14), dt.date(2027, 3, 14), TIJ)
    assert hi + 1 - lo == 23 * 3600 * 1000
    assert periods.show(lo, TIJ) == "2027-03-14 00:00 PST"
    assert periods.show(hi, TIJ) == "2027-03-14 23:59 PDT"
    # ...and falls back on 7 November 2027: a 25-hour day.
    lo, hi = periods.day_bounds(dt.date(2027, 11, 7), dt.date(2027, 11, 7), TIJ)
    assert hi + 1 - lo == 25 * 3600 * 1000


def _process(tz: str = "America/Mexico_City", **kw: object) -> Process:
    return Process(id="p1", kind="candidatura_independiente", name="Diputación", aspirant_id="a1",
                   aspirant_name="Aspirante", scope=Scope("nacional"), start="2027-01-01",
                   end="2027-02-28", timezone=tz, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("tz", [MX, TIJ])
def test_device_period_boundary_minutes(tz: ZoneInfo) -> None:
    p = _process(tz.key)
    assert not freeze.in_period(p, ms("2026-12-31T23:59:59", tz))
    assert freeze.in_period(p, ms("2027-01-01T00:00", tz))
    assert freeze.in_period(p, ms("2027-02-28T23:59:59", tz))
    assert not freeze.in_period(p, ms("2027-03-01T00:00", tz))
    ended = freeze.period_refusal(p, ms("2027-03-01T00:00", tz))
    assert ended is not None and ended.code == "period.ended"


def test_the_exact_period_from_the_server_wins_over_the_dates() -> None:
    lo, hi = periods.start_ms("2027-01-01", TIJ), periods.end_ms("2027-02-28", TIJ)
    p = _process("America/Tijuana", start_ms=lo, end_ms=hi)
    assert freeze.in_period(p, hi) and not freeze.in_period(p, hi + 1)
    # The same instant is already 1 March in Mexico City: the process's zone decides.
    assert periods.local_date(hi, MX) == dt.date(2027, 3, 1)


def test_the_24_hour_sending_window_follows_the_zone() -> None:
    p = _process("America/Tijuana")
    just_closed = ms("2027-03-01T00:00", TIJ)
    [ended, send] = freeze.period_warnings(p, just_closed, pending=4)
    assert ended.code == "period.ended" and send.code == "period.closed_send"
    assert dict(send.args) == {"deadline": "2027-03-02 00:00"}
    assert [m.code for m in freeze.period_warnings(p, ms("2027-03-01T23:59", TIJ), pending=4)] == \
        ["period.ended", "period.closed_send"]
    assert [m.code for m in freeze.period_warnings(p, ms("2027-03-02T00:00:01", TIJ), pending=4)] == \
        ["period.ended"]


def test_ends_soon_counts_days_where_the_process_runs() -> None:
    # 26 Feb 23:30 in Tijuana is 27 Feb 01:30 in Mexico City: 2 days left there, not 1.
    p = _process("America/Tijuana")
    [soon] = freeze.period_warnings(p, ms("2027-02-26T23:30", TIJ), pending=0)
    assert soon.code == "period.ends_soon" and soon.n == 2


def test_capture_year_is_the_year_where_the_process_runs(tmp_path) -> None:
    # New Year's Eve 23:00 in Tijuana: 2027 there, 2028 in Mexico City and in UTC.
    new_year_eve = ms("2027-12-31T23:00", TIJ)
    assert periods.local_date(new_year_eve, MX).year == 2028
    cfg = _config(tmp_path, "America/Tijuana")
    assert freeze.capture_year(cfg, "p1", new_year_eve) == 2027
    assert freeze.capture_year(cfg, "not-a-process", new_year_eve) == 2028  # Mexico City
    assert freeze.capture_year(None, "p1", new_year_eve) == 2028


EXAMPLE_PROCESS = 'timezone = "America/Mexico_City"'


def _config(tmp_path, tz: str):
    from tests.helpers.agent import EXAMPLE
    text = EXAMPLE.read_text()
    assert EXAMPLE_PROCESS in text
    text = text.replace('id = "ci-2027-df-0901"', 'id = "p1"', 1)
    text = text.replace('processes = ["ci-2027-df-0901"]', 'processes = ["p1"]')
    text = text.replace(EXAMPLE_PROCESS, f'timezone = "{tz}"')
    path = tmp_path / "device.toml"
    path.write_text(text)
    return parse_config(text, path)


def test_device_config_refuses_an_unknown_zone_in_one_line(tmp_path) -> None:
    with pytest.raises(ConfigError) as e:
        _config(tmp_path, "Mars/Olympus_Mons")
    assert "timezone" in str(e.value) and "zona horaria desconocida" in str(e.value)
    assert "\n" not in str(e.value)


def test_a_config_without_the_key_keeps_mexico_city_days(tmp_path) -> None:
    from tests.helpers.agent import EXAMPLE
    text = EXAMPLE.read_text().replace(EXAMPLE_PROCESS + "\n", "")
    cfg = parse_config(text, tmp_path / "device.toml")
    assert cfg.processes[0].timezone == "America/Mexico_City"
