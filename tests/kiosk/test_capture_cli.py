"""`fieldkit-kiosk capture`: a record from files through the same code path as "Guardar"."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from kiosk.cli.main import main
from kiosk.testdata.selfies import write_selfies
from kiosk.testdata.signatures import write_signatures
from sync.outbox.keyfile import load_key
from sync.outbox.outbox import Outbox
from tests.helpers.kiosk import PROCESS, card, provision

BIN = Path(sys.executable).parent


def _png(path: Path, rgb) -> str:
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("capture-files")
    front, back, truth = card(1)
    old_front, old_back, _ = card(3, "C")
    write_selfies(d / "selfies", 1, seed=0, kinds=("live", "static"))
    write_signatures(d / "sigs", 1)
    (d / "empty.json").write_text(json.dumps({"width": 600, "height": 200, "strokes": []}))
    return {"front": _png(d / "front.png", front), "back": _png(d / "back.png", back),
            "old_front": _png(d / "old_front.png", old_front), "old_back": _png(d / "old_back.png", old_back),
            "selfie": str(d / "selfies" / "selfie-000.jpg"),
            "live": str(d / "selfies" / "frames-000-live-turn_left"),
            "static": str(d / "selfies" / "frames-000-static-turn_left"),
            "sig": str(d / "sigs" / "signature-000.json"), "empty_sig": str(d / "empty.json"),
            "truth": truth}


@pytest.fixture
def device(tmp_path):
    return provision(tmp_path / "dev")


def _args(device, files, *extra, front="front", back="back", sig="sig", frames="live"):
    """A capture as the kiosk makes one: with the live sequence for the liveness challenge
    (`frames=None`: none, liveness not performed)."""
    live = ["--selfie-frames", files[frames]] if frames else []
    return ["--config", str(device.config_path), "capture", "--front", files[front], "--back", files[back],
            "--selfie", files["selfie"], "--signature", files[sig], "--process", PROCESS, "--year", "2026",
            *live, *extra]


def _outbox(device) -> Outbox:
    cfg = device.config
    return Outbox.open(cfg.device.data_dir / "outbox.db", load_key(cfg.keys.outbox_key))


def _records(device):
    with _outbox(device) as ob:
        return [(i.folio, device.open(i.envelope)) for i in ob.next_batch(100)]


def test_console_script_saves_and_prints_the_outboxes_folio(device, files):
    p = subprocess.run([str(BIN / "fieldkit-kiosk"), *_args(device, files, "--email", "a@example.org")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "prueba de vida: turn_left: Prueba de vida superada" in p.stdout
    [(folio, record)] = _records(device)
    assert f"Apoyo guardado con folio {folio}" in p.stdout
    assert record.credential.cic == files["truth"]["citizen"]["cic"]
    assert record.email == "a@example.org"
    checks = {c.name: c for c in record.checks}
    assert checks["liveness"].passed and checks["liveness"].detail == "superada: turn_left: liveness.passed"
    assert checks["consent_biometric"].passed


def test_liveness_is_judged_on_the_frames(device, files, capsys):
    assert main(_args(device, files, "--json")) == 0
    live = json.loads(capsys.readouterr().out)
    assert live["liveness"] == {"challenge": "turn_left", "verdict": "passed", "code": "liveness.passed",
                                "message": "Prueba de vida superada"}
    assert live["counts"] is True
    assert main(_args(device, files, "--json", "--allow-no-liveness", frames="static")) == 0
    still = json.loads(capsys.readouterr().out)
    assert still["liveness"]["verdict"] == "failed" and still["counts"] is False
    by_folio = dict(_records(device))
    assert {c.name: c for c in by_folio[live["folio"]].checks}["liveness"].passed
    assert not {c.name: c for c in by_folio[still["folio"]].checks}["liveness"].passed
    assert live["agent_notified"] is False  # no agent running: the record waits in the outbox


@pytest.mark.parametrize("frames", [None, "static"])
def test_a_support_without_a_passed_liveness_is_refused_as_guardar_refuses_it(device, files, capsys, frames):
    """Not performed (no frames) or failed (a still photo): it would not count, so nothing is
    stored, in one line, unless the tester asks for it."""
    assert main(_args(device, files, frames=frames)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("No se guardó: Prueba de vida no superada")
    assert "--allow-no-liveness" in err
    assert main(_args(device, files, "--json", frames=frames)) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["saved"] is False and out["code"] == "capture.no_liveness" and "no contaría" in out["refused"]
    assert not (device.config.device.data_dir / "outbox.db").exists() or not _records(device)


def test_allow_no_liveness_saves_a_record_that_says_it_does_not_count(device, files, capsys):
    assert main(_args(device, files, "--allow-no-liveness", frames=None)) == 0
    out = capsys.readouterr().out
    assert "prueba de vida: no realizada" in out and "no contará" in out
    assert main(_args(device, files, "--allow-no-liveness", "--json", frames=None)) == 0
    saved = json.loads(capsys.readouterr().out)
    assert saved["liveness"] is None and saved["counts"] is False
    checks = {c.name: c for c in dict(_records(device))[saved["folio"]].checks}
    assert not checks["liveness"].passed and checks["liveness"].detail == "no_realizada"


@pytest.mark.parametrize(("kw", "extra", "words"), [
    ({"front": "old_front", "back": "old_back"}, [], "código QR"),            # IFE model C: no QR
    ({}, ["--year", "2099"], "vigente"),                                       # expired
    ({"sig": "empty_sig"}, [], "firma"),
    ({}, ["--email", "no-es-correo"], "correo"),
    ({}, ["--selfie-frames", "/no/such/dir"], "No existe la carpeta"),
])
def test_refusals_print_spanish_exit_1_and_store_nothing(device, files, capsys, kw, extra, words):
    assert main(_args(device, files, *extra, **kw)) == 1
    err = capsys.readouterr().err
    assert err.startswith("No se guardó: ") and words in err
    assert not (device.config.device.data_dir / "outbox.db").exists() or not _records(device)


def test_refusal_as_json_and_unknown_process(device, files, capsys):
    assert main(_args(device, files, "--json", front="old_front", back="old_back")) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["saved"] is False and out["folio"] is None and "QR" in out["refused"]
    assert out["code"] == "card.sin_qr"
    args = _args(device, files, "--json")
    args[args.index(PROCESS)] = "otro"
    assert main(args) == 1
    out = json.loads(capsys.readouterr().out)
    assert "no está configurado" in out["refused"] and out["code"] == "cli.input"


def test_config_problems(tmp_path, files, capsys, monkeypatch):
    bad = tmp_path / "bad.toml"
    bad.write_text("[device]\n")
    args = ["capture", "--front", files["front"], "--back", files["back"], "--selfie", files["selfie"],
            "--signature", files["sig"], "--process", PROCESS]
    assert main(["--config", str(bad), *args]) == 2
    assert "error de configuración" in capsys.readouterr().err
    monkeypatch.delenv("FIELDKIT_CONFIG", raising=False)
    monkeypatch.setattr("sync.device.config.DEFAULT_CONFIG_PATH", tmp_path / "absent.toml")
    assert main(args) == 3
    assert "no está inscrito" in capsys.readouterr().err


# -- the one reading path ------------------------------------------------------------------------

def test_clean_generated_cards_of_every_model_are_accepted() -> None:
    """Self-consistency: every clean generated card the testdata makes (models E-H, several
    seeds; straightened files, as `fieldkit-testdata cards` writes them) is accepted by
    capture's path, read as the image that is the card; judged in a year it is valid (an
    expired card is refused, rightly). bench/bench_self_consistency.py runs the same on hundreds."""
    from kiosk.cli.capture import Refused, read_card
    from kiosk.testdata.cards import sample_card

    refused = []
    for i in range(30):
        seed, model = 7000 + 37 * i, "EFGH"[i % 4]
        front, back, truth = sample_card(seed, model)
        try:
            card = read_card(front, back, truth["citizen"]["vigencia"])
        except Refused as e:
            refused.append((seed, model, str(e)))
            continue
        assert card.back.fields is not None and card.back.fields.cic == truth["citizen"]["cic"]
        assert card.back.path == "imagen_completa"
    assert not refused


def test_sides_swapped_are_told_to_turn_the_card(device, files, capsys):
    assert main(_args(device, files, front="back", back="front")) == 1
    assert "Voltee la credencial: muestre el reverso" in capsys.readouterr().err
    assert main(_args(device, files, front="back")) == 1
    assert "Voltee la credencial: muestre el frente" in capsys.readouterr().err


def test_the_record_says_how_the_back_was_read(device, files, tmp_path, capsys):
    """A straightened E back (whose inner printed boxes an outline finder may take for the
    card) reads as the image that is the card, and the record keeps the path."""
    from kiosk.testdata.cards import sample_card

    front, back, truth = sample_card(4, "E")
    extra = {"front": _png(tmp_path / "e-front.png", front), "back": _png(tmp_path / "e-back.png", back)}
    assert main(_args(device, {**files, **extra}, "--json")) == 0
    out = json.loads(capsys.readouterr().out)
    rec = dict(_records(device))[out["folio"]]
    assert rec.credential.lectura_reverso == "imagen_completa"
    assert rec.credential.cic == truth["citizen"]["cic"]


def test_integrity_policy_from_files(device, files, tmp_path, capsys):
    """No retake from files: a doubtful copy is saved with its failed check (the server classes
    it), a copy beyond doubt (toner grey) is refused with a clear reason."""
    import random

    import numpy as np

    from kiosk.testdata.variants import photocopy

    _front, back, _ = card(1)
    grey = photocopy(back, random.Random(1), np.random.default_rng(1))
    faded = np.clip(cv2.cvtColor(cv2.cvtColor(back, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB) * 0.7
                    + back * 0.3, 0, 255).astype(np.uint8)
    paths = {"grey": _png(tmp_path / "grey.png", grey), "faded": _png(tmp_path / "faded.png", faded)}
    assert main(_args(device, {**files, **paths}, back="grey")) == 1
    assert "no es la credencial original" in capsys.readouterr().err
    assert main(_args(device, {**files, **paths}, "--json", back="faded")) == 0
    rec = dict(_records(device))[json.loads(capsys.readouterr().out)["folio"]]
    checks = {c.name: c for c in rec.checks}
    assert not checks["integrity_back"].passed and checks["integrity_back"].detail.startswith("photocopy")
