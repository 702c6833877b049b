"""`fieldkit-demo --headless`: the newcomer's "does my installation work" command, for real
(server, Mosquitto, sync agent and captures as processes)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _demo(*args: str, timeout: float = 150) -> tuple[dict, subprocess.CompletedProcess[str]]:
    p = subprocess.run([str(BIN / "fieldkit-demo"), "--headless", "--json", *args], capture_output=True,
                       text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr[-3000:]
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1, p.stdout           # ONE JSON summary
    return json.loads(lines[0]), p


def _no_children_left(data_dir: Path) -> bool:
    """No process of ours still runs with the demo's folder on its command line."""
    me = str(data_dir)
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if me in (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    return False
            except OSError:
                continue
    return True


def _private_values(data_dir: Path, n: int) -> list[str]:
    """The demo's citizens (the roll rows its cards were made from) and the e-mails it typed."""
    with (data_dir / "roll-demo.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    keys = ("apellido_paterno", "apellido_materno", "nombres", "cic", "clave_elector", "curp",
            "identificador", "ocr")
    values = [r[k] for r in rows for k in keys] + [f"muestra{i}@example.org" for i in range(n)]
    return sorted({v for v in values if len(v) >= 4})


def test_headless_three_records_arrive_and_leave_the_device(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    s, p = _demo("--records", "3", "--verbose", "--data-dir", str(data))
    assert (s["captured"], s["stored_at_server"], s["erased_from_device"], s["pending"]) == (3, 3, 3, 0)
    assert s["liveness_passed"] == 3  # every demo support counts
    assert s["transport"] == ("mqtt" if shutil.which("mosquitto") else "https")
    assert len(set(s["folios"])) == 3 and s["seconds"] > 0
    # The documented layout, and nothing left running.
    for sub in ("server/server.toml", "device/device.toml", "device/data/outbox.db", "cards"):
        assert (data / sub).exists(), sub
    assert len([p for p in (data / "cards").iterdir() if p.is_dir()]) == 3
    assert _no_children_left(data)
    assert not (data / "device" / "data" / "sync.sock").exists()
    # Never a citizen's data in a log: every log of the run (server and agent at DEBUG, the
    # broker's, the commands'), and what the demo printed, searched for the cards' holders.
    logs = [*(data / "logs").glob("*.log"), *(data / "server").rglob("*.log")]
    assert {"server.log", "sync-agent.log", "capture.log"} <= {f.name for f in logs}
    assert "DEBUG" in (data / "logs" / "server.log").read_text()
    values = [v.casefold() for v in _private_values(data, 3)]
    texts = {str(f): f.read_text(errors="replace") for f in logs} | {"stdout": p.stdout, "stderr": p.stderr}
    found = [(v, name, ln) for name, text in texts.items() for ln in text.splitlines()
             for v in values if v in ln.casefold()]
    assert found == []


def test_headless_offline_keeps_everything_on_the_device(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    s, _ = _demo("--records", "2", "--offline", "--transport", "https", "--data-dir", str(data))
    assert (s["captured"], s["stored_at_server"], s["erased_from_device"], s["pending"]) == (2, 0, 0, 2)
    assert s["offline"] is True
    assert _no_children_left(data)


def test_refuses_a_non_empty_data_dir(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("x")
    p = subprocess.run([str(BIN / "fieldkit-demo"), "--headless", "--data-dir", str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "no está vacía" in p.stderr


def test_sigterm_mid_run_stops_every_process(tmp_path: Path) -> None:
    import time

    data = tmp_path / "demo"
    p = subprocess.Popen([str(BIN / "fieldkit-demo"), "--headless", "--records", "2",
                          "--data-dir", str(data)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Interrupt once the server is serving (its log exists), i.e. with children running.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (data / "logs" / "add-device.log").exists():
        time.sleep(0.1)
    p.terminate()
    _out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "deteniendo todo" in err
    assert _no_children_left(data)


def test_a_stop_wrapped_by_what_it_interrupted_still_counts_as_a_stop() -> None:
    from kiosk.demo.main import _interrupted, _Stop

    try:
        try:
            raise _Stop
        except _Stop as inner:  # as when SIGTERM lands inside a class body's __set_name__
            raise RuntimeError("Error calling __set_name__") from inner
    except RuntimeError as e:
        assert _interrupted(e)
    assert not _interrupted(ValueError("otra cosa")) and not _interrupted(None)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("transport", ["mqtt", "https"])
def test_headless_fifty_records_on_each_transport(tmp_path: Path, transport: str) -> None:
    """Fifty generated cards (models E-H) all captured through `fieldkit-kiosk capture`, synced
    over the transport, erased from the device: the self-consistency of the whole chain."""
    if transport == "mqtt" and not shutil.which("mosquitto"):
        pytest.skip("Mosquitto is not installed")
    s, _ = _demo("--records", "50", "--transport", transport, "--timeout", "240",
                 "--data-dir", str(tmp_path / "demo"), timeout=850)
    assert s["skipped"] == [] and s["captured"] == 50, s["skipped"]
    assert s["liveness_passed"] == 50
    assert (s["stored_at_server"], s["erased_from_device"], s["pending"]) == (50, 50, 0)
    assert s["transport"] == transport and len(set(s["folios"])) == 50


def test_a_card_the_capture_refuses_is_reported_and_skipped(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import cv2

    from kiosk.demo import headless
    from kiosk.demo.deployment import Deployment
    from kiosk.testdata.cards import sample_card
    from kiosk.testdata.selfies import write_selfies
    from kiosk.testdata.signatures import write_signatures
    from tests.helpers.kiosk import PROCESS, provision

    dev = provision(tmp_path / "dev")
    write_selfies(tmp_path / "selfies", 1, seed=0)
    write_signatures(tmp_path / "signatures", 1)
    card = tmp_path / "cards" / "muestra-ife"
    card.mkdir(parents=True)
    front, back, _ = sample_card(5, "C")                 # IFE: no QR, refused with INE's sentence
    for name, img in (("front.png", front), ("back.png", back)):
        cv2.imwrite(str(card / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    (tmp_path / "logs").mkdir()
    monkeypatch.setattr(headless, "PROCESS_ID", PROCESS)  # the test device's process
    got = headless.capture(Deployment(tmp_path, tmp_path / "logs", 0), dev.config_path, card, 0, 1)
    assert got.folio is None and "código QR" in got.reason
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"fieldkit-demo: captura muestra-ife omitida: {got.reason}"]
