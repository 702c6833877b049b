"""`fieldkit-kiosk scan`: files in, one line of JSON per file out, in order; bad files too."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from kiosk.cli.main import main
from tests.helpers.vision import positive_back_frames, refused_back_frames

NOW = "2026"


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    d = tmp_path_factory.mktemp("scan")
    good = positive_back_frames([6000])[0]
    old = refused_back_frames([6000, 6001])[1]          # the second of a batch: no effect drawn
    paths = {"good": d / "reverso.jpg", "old": d / "ife.png", "bad": d / "roto.jpg", "missing": d / "no.jpg"}
    cv2.imwrite(str(paths["good"]), cv2.cvtColor(good.image, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(paths["old"]), cv2.cvtColor(old.image, cv2.COLOR_RGB2BGR))
    paths["bad"].write_bytes(b"esto no es una imagen")
    return {"paths": paths, "good": good}


def test_json_lines_in_order_with_errors_for_unreadable_files(images, capsys) -> None:  # type: ignore[no-untyped-def]
    p = images["paths"]
    order = [p["bad"], p["good"], p["missing"], p["old"]]
    rc = main(["scan", "--json", "--year", NOW, *map(str, order)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert rc == 1 and len(lines) == 4
    objs = [json.loads(x) for x in lines]
    assert [o["file"] for o in objs] == [str(x) for x in order]
    assert objs[0]["error"] and objs[2]["error"] == "no existe el archivo"
    good, old = objs[1], objs[3]
    truth = images["good"].truth
    assert good["error"] is None and good["accepted"] and good["mrz"]["lines"] == truth["mrz"]
    c = truth["citizen"]
    assert good["fields"]["cic"] == c["cic"] and good["fields"]["ocr"] == c["ocr"]
    assert len(good["corners"]) == 4 and good["quality"]["ok"] is True
    assert {q["text"] or q["bytes_hex"] for q in good["qr"]} == set(truth["qr_payloads"])
    assert good["model"] == ("E/F" if truth["model"] in "EF" else "G/H")
    assert old["accepted"] is False and old["refusal"]["code"] == "sin_qr"
    assert old["refusal"]["message"].startswith("Sólo será posible captar")


def test_all_readable_exits_zero_and_prints_text(images, capsys) -> None:  # type: ignore[no-untyped-def]
    rc = main(["scan", "--year", NOW, str(images["paths"]["good"])])
    out = capsys.readouterr().out
    assert rc == 0 and "veredicto: ACEPTADA" in out and images["good"].truth["mrz"][0] in out


def test_console_script_runs_as_a_separate_process(images) -> None:  # type: ignore[no-untyped-def]
    exe = Path(sys.executable).with_name("fieldkit-kiosk")
    r = subprocess.run([str(exe), "scan", "--json", str(images["paths"]["missing"])],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert json.loads(r.stdout) == {"file": str(images["paths"]["missing"]), "error": "no existe el archivo"}


def test_check_still_works(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["--config", str(tmp_path / "nada.toml"), "check"]) == 2


def test_integrity_and_card_photo_on_fronts(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import random

    import numpy as np

    from kiosk.testdata.cards import sample_card
    from kiosk.testdata.variants import _on_paper, photocopy, photograph, photograph_sheet

    front, _back, _truth = sample_card(6100, "G")
    rng, nprng = random.Random(1), np.random.default_rng(1)
    genuine = photograph(front, "front", "genuine", "g", rng, nprng)
    sheet, box = _on_paper(photocopy(front, rng, nprng), rng)
    copy = photograph_sheet(sheet, box, "front", "photocopy", "p", rng, nprng)
    paths = []
    for name, v in (("original.png", genuine), ("copia.png", copy)):
        paths.append(tmp_path / name)
        cv2.imwrite(str(paths[-1]), cv2.cvtColor(v.image, cv2.COLOR_RGB2BGR))
    assert main(["scan", "--json", "--year", NOW, *map(str, paths)]) == 0
    orig, cp = (json.loads(x) for x in capsys.readouterr().out.strip().splitlines())
    assert orig["integrity"]["verdict"] == "ok" and orig["card_photo"] is not None
    assert cp["integrity"]["verdict"] == "photocopy" and cp["integrity"]["reason"]


def test_scan_reads_what_capture_reads_and_says_by_which_path(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A straightened back (what `fieldkit-testdata cards` writes, what `capture` accepts) reads
    as the image that is the card; a photo reads by its outline; a front is told to turn over."""
    from kiosk.testdata.cards import sample_card

    front, back, truth = sample_card(6200, "E")
    photo = positive_back_frames([6000])[0]
    paths = [tmp_path / "reverso.png", tmp_path / "foto.jpg", tmp_path / "frente.png"]
    for p, img in zip(paths, (back, photo.image, front), strict=True):
        cv2.imwrite(str(p), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    assert main(["scan", "--json", "--year", NOW, *map(str, paths)]) == 0
    flat, shot, fr = (json.loads(x) for x in capsys.readouterr().out.strip().splitlines())
    assert flat["accepted"] and flat["path"] == "imagen_completa"
    assert flat["fields"]["cic"] == truth["citizen"]["cic"]
    assert shot["accepted"] and shot["path"] in ("contorno", "banda_mrz") and shot["side"] == "reverso"
    # The outline's second opinion: the finder at full strength segments the card too.
    assert shot["outline"]["method"] in ("fondo", "bordes", "lineas", "segmento", "banda_mrz")
    if shot["path"] == "contorno":                   # a clean photo: the segmentation confirms it
        assert shot["outline"]["trusted"] and 0.0 <= shot["outline"]["segmentation"] <= 0.015
    assert flat["outline"]["method"] == "imagen_completa" and flat["outline"]["trusted"]
    assert not fr["accepted"] and fr["refusal"] == {"code": "es_frente",
                                                   "message": "Voltee la credencial: muestre el reverso"}
    assert fr["side"] == "anverso" and fr["model"] == "?"
    for key in ("corners", "quality", "refusal", "flags", "qr", "mrz", "fields", "integrity", "card_photo"):
        assert key in flat                           # every key scan had before stays
