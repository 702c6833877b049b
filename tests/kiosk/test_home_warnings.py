"""Home's warnings (kiosk/capture/warnings.py), each at its boundary: pure, no Qt, no files.
Each warning is a message code; its text is read as the kiosk renders it (Spanish unless said)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from kiosk import i18n
from kiosk.capture.warnings import (
    DISK_FULL,
    DISK_FULL_BANNER,
    DISK_MARGIN_BYTES,
    RECORD_DB_BYTES,
    battery_low,
    disk_refusal,
    home_warnings,
    period_banners,
    records_that_fit,
    sending_state,
)
from sync.agent.freeze import CLOCK_TOLERANCE_MS, MX, SOFTWARE_DATE_MS
from sync.common.msg import Msg
from sync.device.config import DeviceConfig, WarningsSection, load_config
from sync.wire.envelope import MAX_ENVELOPE_BYTES

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "device.example.toml"
HOUR = 3_600_000
# 2027-01-20, noon in Mexico City: inside the example process's period (ends 2027-02-11).
NOW = int(dt.datetime(2027, 1, 20, 12, tzinfo=MX).timestamp() * 1000)
PLENTY = 64 * 1024**3  # free disk that warns of nothing


@pytest.fixture(scope="module")
def cfg() -> DeviceConfig:
    return load_config(EXAMPLE)


@pytest.fixture(autouse=True)
def _spanish() -> object:
    yield
    i18n.set_language("es")


def codes(cfg: DeviceConfig, status: dict[str, Any], now: int = NOW) -> list[str]:
    return [w.code for w in home_warnings(cfg, status, now)]


def need(records: int) -> int:
    """The free bytes that hold exactly `records` more records at their worst."""
    return DISK_MARGIN_BYTES + (records + 1) * RECORD_DB_BYTES


def test_nothing_known_warns_of_nothing(cfg: DeviceConfig) -> None:
    assert home_warnings(cfg, {}, NOW) == []
    assert home_warnings(cfg, {"battery": None, "on_ac": None, "free_disk_bytes": None,
                               "oldest_unacked_ms": None, "clock_offset_ms": None}, NOW) == []


# -- battery ------------------------------------------------------------------------------------
def test_low_battery_at_the_threshold_on_battery_only(cfg: DeviceConfig) -> None:
    assert cfg.warnings.low_battery_percent == 20.0
    [w] = home_warnings(cfg, {"battery": 20.0, "on_ac": False}, NOW)
    assert (w.code, w.severity) == ("battery_low", "warn")
    assert w.msg == Msg("warn.battery_low", {"percent": "20 %"})
    assert w.text == "Batería baja (20 %): conecte el cargador."
    i18n.set_language("en")
    assert w.text == "Battery low (20 %): plug in the charger."
    i18n.set_language("es")
    assert codes(cfg, {"battery": 20.1, "on_ac": False}) == []
    assert codes(cfg, {"battery": 12.0, "on_ac": True}) == []          # charging: nothing to do
    assert codes(cfg, {"battery": 12.0, "on_ac": None}) == ["battery_low"]  # cannot tell: warn


def test_critical_battery_is_an_error(cfg: DeviceConfig) -> None:
    [w] = home_warnings(cfg, {"battery": 5.0}, NOW)
    assert (w.code, w.severity) == ("battery_critical", "error") and "5 %" in w.text
    assert codes(cfg, {"battery": 5.1}) == ["battery_low"]


def test_the_status_bar_and_the_banner_share_one_rule() -> None:
    """kiosk/app/screens.py marks the status bar's battery with the same rule: at the threshold
    it is low, just above it is not."""
    assert battery_low(20.0, False, 20.0) and battery_low(20.0, None, 20.0)
    assert not battery_low(20.1, False, 20.0) and not battery_low(5.0, True, 20.0)
    assert not battery_low(None, False, 20.0) and not battery_low(0.0, False, 0.0)


def test_a_threshold_of_zero_never_warns(cfg: DeviceConfig) -> None:
    off = replace(cfg, warnings=WarningsSection(low_battery_percent=0))
    assert codes(off, {"battery": 3.0, "on_ac": False}) == []
    higher = replace(cfg, warnings=WarningsSection(low_battery_percent=50))
    assert codes(higher, {"battery": 50.0}) == ["battery_low"]


# -- unsent records -----------------------------------------------------------------------------
def test_unsent_record_older_than_the_set_hours(cfg: DeviceConfig) -> None:
    assert cfg.warnings.unsent_hours == 24.0
    assert codes(cfg, {"oldest_unacked_ms": NOW - 24 * HOUR + 1}) == []
    [w] = home_warnings(cfg, {"oldest_unacked_ms": NOW - 24 * HOUR}, NOW)
    assert (w.code, w.severity) == ("unsent_old", "warn")
    assert w.msg == Msg("warn.unsent_old", {"since": Msg("span.hours", n=24)})
    assert w.text == "Hay apoyos sin enviar desde hace 24 h: conéctese a internet."
    assert "2 días" in home_warnings(cfg, {"oldest_unacked_ms": NOW - 50 * HOUR}, NOW)[0].text


def test_unsent_age_from_the_agent_when_the_outbox_is_not_read(cfg: DeviceConfig) -> None:
    assert codes(cfg, {"oldest_pending_age_s": 24 * 3600.0}) == ["unsent_old"]
    assert codes(cfg, {"oldest_pending_age_s": 24 * 3600.0 - 1}) == []
    # The outbox's own time wins over the agent's when both are there.
    assert codes(cfg, {"oldest_unacked_ms": NOW - HOUR, "oldest_pending_age_s": 99 * 3600.0}) == []


def test_past_the_freeze_the_freeze_speaks(cfg: DeviceConfig) -> None:
    days = cfg.freeze.max_unsent_age_days
    assert codes(cfg, {"oldest_unacked_ms": NOW - int(days * 24 * HOUR)}) == ["unsent_old"]
    refusal = Msg("freeze.unsent_age", {"days": "3.0", "max_days": "3"})
    frozen = {"oldest_unacked_ms": NOW - int(days * 24 * HOUR) - 1, "capture_refusal": refusal}
    [w] = home_warnings(cfg, frozen, NOW)
    assert (w.code, w.severity, w.msg) == ("capture_stopped", "error", refusal)
    assert w.text.startswith("Captura detenida: hay apoyos sin enviar desde hace 3.0 días (máximo 3).")


def test_a_set_hours_threshold_is_honoured(cfg: DeviceConfig) -> None:
    short = replace(cfg, warnings=WarningsSection(unsent_hours=0.5))
    assert codes(short, {"oldest_unacked_ms": NOW - HOUR // 2}) == ["unsent_old"]
    assert codes(short, {"oldest_unacked_ms": NOW - HOUR // 2 + 1}) == []


# -- free disk ----------------------------------------------------------------------------------
def test_one_record_at_its_worst_is_the_largest_legal_envelope() -> None:
    assert MAX_ENVELOPE_BYTES <= RECORD_DB_BYTES <= MAX_ENVELOPE_BYTES * 1.05
    assert records_that_fit(need(1) - 1) == 0 and records_that_fit(need(1)) == 1
    assert records_that_fit(need(50)) == 50 and records_that_fit(0) == 0


def test_disk_refusal_before_one_more_record_cannot_be_saved() -> None:
    assert disk_refusal(need(1) - 1) == DISK_FULL == Msg("capture.disk_full")
    assert disk_refusal(0) == DISK_FULL
    assert disk_refusal(need(1)) is None
    assert disk_refusal(None) is None  # not known: the save itself still refuses a full disk


def test_low_disk_below_what_n_records_need(cfg: DeviceConfig) -> None:
    assert cfg.warnings.low_disk_records == 50
    assert codes(cfg, {"free_disk_bytes": need(50)}) == []
    [w] = home_warnings(cfg, {"free_disk_bytes": need(50) - 1}, NOW)
    assert (w.code, w.severity, w.msg) == ("disk_low", "warn", Msg("warn.disk_low", n=49))
    assert w.text == "Poco espacio: caben 49 apoyos más. Avise al coordinador."
    assert home_warnings(cfg, {"free_disk_bytes": need(1)}, NOW)[0].text == \
        "Poco espacio: cabe 1 apoyo más. Avise al coordinador."
    [full] = home_warnings(cfg, {"free_disk_bytes": need(1) - 1}, NOW)
    assert (full.code, full.severity, full.msg) == ("disk_full", "error", DISK_FULL_BANNER)
    assert full.text == "Memoria llena: conéctese para enviar y avise al coordinador."
    few = replace(cfg, warnings=WarningsSection(low_disk_records=5))
    assert codes(few, {"free_disk_bytes": need(5)}) == [] and codes(few, {"free_disk_bytes": need(5) - 1})


# -- the clock ----------------------------------------------------------------------------------
def test_a_large_measured_offset_is_named(cfg: DeviceConfig) -> None:
    assert codes(cfg, {"clock_offset_ms": CLOCK_TOLERANCE_MS}) == []
    assert codes(cfg, {"clock_offset_ms": -CLOCK_TOLERANCE_MS}) == []
    [w] = home_warnings(cfg, {"clock_offset_ms": 3 * HOUR}, NOW)
    assert (w.code, w.severity) == ("clock_wrong", "warn")
    # The times shown are corrected already: the advice is the coordinator, who can set the clock.
    assert w.msg == Msg("clock.offset", {"detail": Msg("clock.behind", {"span": Msg("span.hours", n=3)})})
    ahead = home_warnings(cfg, {"clock_offset_ms": -CLOCK_TOLERANCE_MS - 60_000}, NOW)[0]
    assert i18n.render(ahead.msg.args["detail"]) == "adelantada 11 min"
    far = home_warnings(cfg, {"clock_offset_ms": 400 * 24 * HOUR}, NOW)[0]
    assert i18n.render(far.msg.args["detail"]) == "atrasada 400 días"


def test_a_date_before_what_is_known_to_have_passed_is_an_error(cfg: DeviceConfig) -> None:
    booted_1970 = 30_000  # a Pi without RTC, never corrected since
    [w] = home_warnings(cfg, {}, booted_1970)
    assert (w.code, w.severity, w.msg.code) == ("clock_wrong", "error", "clock.wrong")
    assert "(indica el 1969-12-31)" in w.text  # the Mexico City date at that instant
    # Before this software's date, by at most the tolerance: measurement noise, not a wrong clock.
    assert codes(cfg, {}, SOFTWARE_DATE_MS - CLOCK_TOLERANCE_MS) == []
    assert codes(cfg, {}, SOFTWARE_DATE_MS - CLOCK_TOLERANCE_MS - 1) == ["clock_wrong"]
    # The agent heard the server at NOW; the device clock then went back a day (a restart).
    assert codes(cfg, {"clock_floor_ms": NOW}, NOW - 24 * HOUR) == ["clock_wrong"]
    assert codes(cfg, {"clock_floor_ms": NOW}, NOW - CLOCK_TOLERANCE_MS) == []


def test_errors_come_first_in_their_order(cfg: DeviceConfig) -> None:
    status = {"battery": 15.0, "on_ac": False, "oldest_unacked_ms": NOW - 30 * HOUR,
              "free_disk_bytes": need(1) - 1, "clock_offset_ms": 2 * HOUR,
              "capture_refusal": Msg("freeze.revoked")}
    ws = home_warnings(cfg, status, NOW)
    assert [(w.code, w.severity) for w in ws] == [
        ("capture_stopped", "error"), ("disk_full", "error"), ("clock_wrong", "warn"),
        ("unsent_old", "warn"), ("battery_low", "warn")]


def test_period_warnings_give_way_to_an_impossible_clock(cfg: DeviceConfig) -> None:
    pid = cfg.processes[0].id
    end = int(dt.datetime(2027, 2, 10, 12, tzinfo=MX).timestamp() * 1000)
    [w] = period_banners(cfg, [pid], {}, end)
    assert (w.code, w.severity, w.msg.code) == ("period", "warn", "period.ends_soon")
    assert "termina el 2027-02-11" in w.text
    assert period_banners(cfg, [pid], {}, NOW) == []
    # The agent's offset corrects the device clock for the periods.
    assert period_banners(cfg, [pid], {"clock_offset_ms": end - NOW}, NOW) == [w]
    # A device that went back before a known moment: the period would be judged on a wrong clock.
    assert period_banners(cfg, [pid], {"clock_floor_ms": end + 30 * 24 * HOUR}, end) == []
    assert period_banners(cfg, ["not-a-process"], {}, end) == []


# -- the folio screen's sending line --------------------------------------------------------------
def test_sending_state_says_no_more_than_is_known() -> None:
    online = {"connection": "online"}
    assert sending_state(online, still_queued=False) == "sent"
    assert sending_state({}, still_queued=False) == "sent"  # gone from the outbox: acknowledged
    assert sending_state(online, still_queued=True) == "pending_online"
    assert sending_state(online, still_queued=None) == "pending_online"
    for conn in ("offline", "connecting"):
        assert sending_state({"connection": conn}, still_queued=True) == "offline"
    assert sending_state({"connection": "stopped"}, still_queued=True) == "unknown"
    assert sending_state({}, still_queued=True) == "unknown"
    assert sending_state({**online, "agent_error": "timeout"}, still_queued=True) == "unknown"
