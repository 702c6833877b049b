"""A wrong device clock is named as such (sync/agent/freeze.py), from what the device knows:
this software's date, its certificate's issue, and the agent's last contact with the server."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kiosk.i18n import render
from sync.agent import freeze
from sync.agent.settings import STATE_FILE
from sync.agent.state import AgentState, save_state
from sync.common.msg import Msg
from sync.device.config import DeviceConfig, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "device.example.toml"
DAY = 86_400_000
# The example process runs 2027-01-03 .. 2027-02-11 (Mexico City).
IN_PERIOD = int(dt.datetime(2027, 1, 20, 12, tzinfo=freeze.MX).timestamp() * 1000)
AFTER = int(dt.datetime(2027, 3, 1, 12, tzinfo=freeze.MX).timestamp() * 1000)


def _device(tmp_path: Path) -> DeviceConfig:
    shutil.copy(EXAMPLE, tmp_path / "device.toml")
    cfg = load_config(tmp_path / "device.toml")
    cfg.device.data_dir.mkdir()
    return cfg


def _state(cfg: DeviceConfig, **kw: int) -> None:
    save_state(cfg.device.data_dir / STATE_FILE, AgentState(**kw))  # type: ignore[arg-type]


def _certificate(cfg: DeviceConfig, issued: dt.datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cfg.device.id)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(issued).not_valid_after(issued + dt.timedelta(days=900))
            .sign(key, hashes.SHA256()))
    cfg.keys.client_cert.parent.mkdir(parents=True, exist_ok=True)
    cfg.keys.client_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_the_floor_is_the_latest_thing_known_to_have_happened(tmp_path: Path) -> None:
    cfg = _device(tmp_path)
    assert freeze.known_floor_ms(cfg) == freeze.SOFTWARE_DATE_MS  # no state, no readable certificate
    issued = dt.datetime(2027, 1, 5, tzinfo=dt.UTC)
    _certificate(cfg, issued)
    assert freeze.known_floor_ms(cfg) == int(issued.timestamp() * 1000)
    # The agent measured the offset at device time T: server time T + offset has passed.
    _state(cfg, clock_offset_ms=5 * DAY, clock_measured_ms=IN_PERIOD)
    assert freeze.known_floor_ms(cfg) == IN_PERIOD + 5 * DAY
    _state(cfg, clock_offset_ms=0, clock_measured_ms=IN_PERIOD, last_success_server_ms=IN_PERIOD + DAY)
    assert freeze.known_floor_ms(cfg) == IN_PERIOD + DAY


def test_a_clock_reset_after_enrollment_is_named_not_the_period(tmp_path: Path) -> None:
    cfg = _device(tmp_path)
    _certificate(cfg, dt.datetime(2027, 1, 5, tzinfo=dt.UTC))
    p = cfg.processes[0]
    # Before the certificate's issue: the period "starts on 2027-01-03" would be a wrong reason.
    reset = int(dt.datetime(2026, 12, 1, tzinfo=dt.UTC).timestamp() * 1000)
    assert freeze.period_refusal(p, reset) is not None
    why = freeze.period_or_clock_refusal(cfg, p, reset)
    assert why == Msg("clock.wrong", {"detail": Msg("clock.shows", {"date": "2026-11-30"})})
    assert render(why, lang="es") == ("La hora del dispositivo parece incorrecta (indica el 2026-11-30): "
                                      "conéctese para corregirla o avise al coordinador.")
    assert freeze.period_or_clock_refusal(cfg, p, IN_PERIOD) is None


def test_a_right_clock_after_the_period_still_says_the_period_is_over(tmp_path: Path) -> None:
    cfg = _device(tmp_path)
    _state(cfg, clock_offset_ms=1_000, clock_measured_ms=AFTER - DAY)
    assert freeze.clock_problem(cfg, AFTER) is None
    why = freeze.period_or_clock_refusal(cfg, cfg.processes[0], AFTER)
    assert why is not None and why.code == "period.ended"
    assert render(why, lang="es") == \
        "El periodo de captación de «Candidatura independiente, diputación federal 01 (MUESTRA)» " \
        "terminó el 2027-02-11."


def test_the_device_clock_going_back_after_a_measurement(tmp_path: Path) -> None:
    """A restart without RTC: the clock comes back earlier than the agent last heard the server."""
    cfg = _device(tmp_path)
    _state(cfg, clock_offset_ms=0, clock_measured_ms=AFTER)
    back = AFTER - 40 * DAY  # inside the period again, by a wrong clock
    problem = freeze.clock_problem(cfg, back)
    assert problem is not None and problem.kind == "impossible"
    assert freeze.period_or_clock_refusal(cfg, cfg.processes[0], back) is None  # the period allows it
    assert freeze.clock_problem(cfg, AFTER - freeze.CLOCK_TOLERANCE_MS) is None


def test_a_large_measured_offset_is_a_warning_the_periods_already_correct(tmp_path: Path) -> None:
    cfg = _device(tmp_path)
    _state(cfg, clock_offset_ms=AFTER - IN_PERIOD, clock_measured_ms=IN_PERIOD)
    problem = freeze.clock_problem(cfg, IN_PERIOD)
    assert problem is not None and problem.kind == "offset"
    assert problem.detail == Msg("clock.behind", {"span": Msg("span.days", n=40)})
    assert render(problem.detail, lang="es") == "atrasada 40 días"
    # Judged on the corrected clock (after the period), the reason is the period's.
    why = freeze.period_or_clock_refusal(cfg, cfg.processes[0], IN_PERIOD)
    assert why is not None and why.code == "period.ended" and why.args["date"] == "2027-02-11"


def test_an_offset_says_the_times_are_corrected_not_that_connecting_fixes_it() -> None:
    """Nothing on the device sets its clock: the offset's advice is the coordinator, and the
    times shown are already corrected; an impossible date still asks to connect (the agent then
    measures the offset again) or to tell the coordinator."""
    offset = freeze.judge_clock(freeze.SOFTWARE_DATE_MS + DAY, 3 * 3_600_000)
    assert offset is not None and offset.kind == "offset" and offset.msg.code == "clock.offset"
    assert offset.msg.args["detail"] == Msg("clock.behind", {"span": Msg("span.hours", n=3)})
    impossible = freeze.judge_clock(30_000, None)
    assert impossible is not None and impossible.kind == "impossible" and impossible.msg.code == "clock.wrong"


def test_spans_as_home_says_them() -> None:
    spans = [freeze.span(ms) for ms in (0, 119 * 60_000, 120 * 60_000, 47 * 3_600_000, 2 * DAY, DAY)]
    assert [render(m, lang="es") for m in spans] == ["0 min", "119 min", "2 h", "47 h", "2 días", "24 h"]
    assert [render(m, lang="en") for m in spans] == ["0 min", "119 min", "2 h", "47 h", "2 days", "24 h"]
