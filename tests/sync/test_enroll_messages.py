"""What an enrollment refusal says where: the kiosk shows the code `enroll.<reason>` from its
catalogues (never the server's or the file system's words), the command line its Spanish line."""

from __future__ import annotations

from kiosk.i18n import lookup, render
from sync.common.msg import Msg
from sync.device.enroll import MESSAGES, STEPS, EnrollError, step_text


def test_every_reason_has_its_code_in_both_languages() -> None:
    for reason in MESSAGES:
        code = EnrollError(reason).msg.code
        assert code == f"enroll.{reason}"
        assert lookup(code, "es") and lookup(code, "en"), code


def test_the_screen_gets_the_code_and_the_command_line_the_detail() -> None:
    e = EnrollError("storage", "[Errno 28] No space left on device")
    assert e.msg == Msg("enroll.storage")
    assert "No space left" not in render(e.msg, lang="es") and "No space left" not in render(e.msg, lang="en")
    assert e.message == f"{MESSAGES['storage']}: [Errno 28] No space left on device"  # the CLI's line
    assert e.reason == "storage" and e.detail.startswith("[Errno 28]")


def test_an_unknown_reason_is_a_failed_enrollment() -> None:
    assert EnrollError("surprise").msg == Msg("enroll.failed")


def test_progress_steps_are_codes_with_spanish_for_the_command_line() -> None:
    """The kiosk renders a step from its catalogues; the command line prints `step_text`."""
    assert list(STEPS) == ["enroll.step.keys", "enroll.step.connect", "enroll.step.redeem",
                           "enroll.step.verify", "enroll.step.install", "enroll.step.done"]
    for code, spanish in STEPS.items():
        assert step_text(Msg(code)) == spanish
        assert render(Msg(code), lang="es").startswith(spanish)
        assert render(Msg(code), lang="en") != render(Msg(code), lang="es")
    assert render(Msg("enroll.step.connect"), lang="en") == "Connecting to the server…"
