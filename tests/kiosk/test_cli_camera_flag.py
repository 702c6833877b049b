"""`fieldkit-kiosk --camera SPEC`: a spec that does not parse is one line quoting it as typed."""

from __future__ import annotations

import pytest

from kiosk.cli.main import build_parser


@pytest.mark.parametrize("spec", ["picamera:x", "PiCamera:uno", "bogus", "replay:", "pi:x"])
def test_a_bad_spec_is_quoted_as_typed(spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["--camera", spec])
    assert e.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("fieldkit-kiosk: --camera: ") and f"«{spec}»" in line and "no es válida" in line
    if spec.lower().startswith("picamera"):
        assert "«pi:" not in line        # the kiosk's spelling, not hardware.camera's


def test_a_good_spec_is_kept_as_typed() -> None:
    assert build_parser().parse_args(["--camera", "picamera:1"]).camera == "picamera:1"
