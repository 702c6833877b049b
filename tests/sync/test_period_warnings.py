"""Home's per-process warnings, decided beside the freeze policy (sync/agent/freeze.py)."""

from __future__ import annotations

import datetime as dt

from kiosk.i18n import render
from sync.agent.freeze import MX, period_warnings
from sync.common.msg import Msg
from sync.device.config import Process, Scope


def _process() -> Process:
    return Process(id="p1", kind="candidatura_independiente", name="Diputación", aspirant_id="a1",
                   aspirant_name="Aspirante", scope=Scope("nacional"), start="2027-01-01", end="2027-01-31")


def _ms(day: str, hour: int = 12) -> int:
    return int(dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=MX).timestamp() * 1000)


def texts(server_ms: int, pending: int, lang: str = "es") -> list[str]:
    """The warnings (message codes) as the kiosk renders them from its catalogues."""
    return [render(m, lang=lang) for m in period_warnings(_process(), server_ms, pending)]


def test_quiet_in_the_middle_of_the_period() -> None:
    assert period_warnings(_process(), _ms("2027-01-15"), pending=3) == []


def test_before_the_period_says_when_it_starts() -> None:
    [m] = period_warnings(_process(), _ms("2026-12-20"), pending=0)
    assert m.code == "period.starts" and dict(m.args) == {"process": "Diputación", "date": "2027-01-01"}
    assert texts(_ms("2026-12-20"), 0) == ["El periodo de captación de «Diputación» empieza el 2027-01-01."]


def test_the_last_three_days_count_down_in_plural_forms() -> None:
    assert texts(_ms("2027-01-29"), 0) == ["La captación termina el 2027-01-31 (2 días)."]
    assert texts(_ms("2027-01-30"), 0) == ["La captación termina el 2027-01-31 (1 día)."]
    assert texts(_ms("2027-01-31", 23), 0) == ["La captación termina el 2027-01-31 (0 días)."]
    assert texts(_ms("2027-01-30"), 0, "en") == ["Collection ends on 2027-01-31 (1 day)."]


def test_after_the_close_the_24_hour_deadline_for_pending_supports() -> None:
    assert texts(_ms("2027-02-01", 8), 4) == [
        "El periodo de captación de «Diputación» terminó el 2027-01-31.",
        "Periodo cerrado: envíe los 4 apoyos pendientes antes del 2027-02-02 00:00 (24 h)."]
    assert texts(_ms("2027-02-01", 8), 1)[1] == \
        "Periodo cerrado: envíe el 1 apoyo pendiente antes del 2027-02-02 00:00 (24 h)."
    assert texts(_ms("2027-02-03"), 4) == ["El periodo de captación de «Diputación» terminó el 2027-01-31."]
    # Nothing left to send: no deadline to meet, so no "envíe los 0 apoyos".
    assert texts(_ms("2027-02-01", 8), 0) == [
        "El periodo de captación de «Diputación» terminó el 2027-01-31."]


def test_the_freeze_counts_in_plural_forms() -> None:
    """What capture_refusal hands up (tests/sync/test_enroll.py builds them on a real outbox)."""
    one = Msg("freeze.pending", {"pending": 1, "max_pending": 1}, n=1)
    assert render(one).startswith("Captura detenida: hay 1 apoyo sin enviar (máximo 1).")
    assert render(one, lang="en").startswith("Capture stopped: 1 support unsent")
    many = Msg("freeze.pending", {"pending": 2000, "max_pending": 2000}, n=2000)
    assert render(many).startswith("Captura detenida: hay 2000 apoyos sin enviar")
    day = Msg("freeze.unsent_age", {"days": 1, "max_days": "0.5"}, n=1)
    assert render(day).startswith("Captura detenida: hay apoyos sin enviar desde hace 1 día (máximo 0.5).")
    assert render(day, lang="en").startswith("Capture stopped: supports unsent for 1 day")
