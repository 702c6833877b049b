"""Home's per-process warnings, decided beside the freeze policy (sync/agent/freeze.py)."""

from __future__ import annotations

import datetime as dt

from sync.agent.freeze import MX, period_warnings
from sync.device.config import Process, Scope


def _process() -> Process:
    return Process(id="p1", kind="candidatura_independiente", name="Diputación", aspirant_id="a1",
                   aspirant_name="Aspirante", scope=Scope("nacional"), start="2027-01-01", end="2027-01-31")


def _ms(day: str, hour: int = 12) -> int:
    return int(dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=MX).timestamp() * 1000)


def test_quiet_in_the_middle_of_the_period() -> None:
    assert period_warnings(_process(), _ms("2027-01-15"), pending=3) == []


def test_before_the_period_says_when_it_starts() -> None:
    assert period_warnings(_process(), _ms("2026-12-20"), pending=0) == [
        "El periodo de captación de «Diputación» empieza el 2027-01-01."]


def test_the_last_three_days_count_down() -> None:
    assert period_warnings(_process(), _ms("2027-01-29"), pending=0) == [
        "La captación termina el 2027-01-31 (2 día(s))."]
    assert period_warnings(_process(), _ms("2027-01-31", 23), pending=0) == [
        "La captación termina el 2027-01-31 (0 día(s))."]


def test_after_the_close_the_24_hour_deadline_for_pending_supports() -> None:
    assert period_warnings(_process(), _ms("2027-02-01", 8), pending=4) == [
        "El periodo de captación de «Diputación» terminó el 2027-01-31.",
        "Periodo cerrado: envíe los 4 apoyos pendientes antes del 2027-02-02 00:00 (24 h)."]
    assert period_warnings(_process(), _ms("2027-02-03"), pending=4) == [
        "El periodo de captación de «Diputación» terminó el 2027-01-31."]
