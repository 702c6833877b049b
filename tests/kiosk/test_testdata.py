"""Synthetic roll and cards: reproducible, well-formed, QR and MRZ verifiable."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import zxingcpp
from pyzbar import pyzbar

from kiosk.mrz.parse import parse_ine_mrz
from kiosk.testdata.cards import sample_card
from kiosk.testdata.roll import generate_roll, read_roll
from kiosk.testdata.variants import FRAME_H, FRAME_W, LABELS

BIN = Path(sys.executable).parent / "fieldkit-testdata"
SEEDS = (0, 1, 2, 3)


def run_testdata(*args: str) -> dict:
    out = subprocess.run([str(BIN), *args, "--json"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Cards for several seeds (no variants), 8 per seed."""
    base = tmp_path_factory.mktemp("cards")
    dirs = {}
    for seed in SEEDS:
        roll = base / f"roll{seed}.csv"
        run_testdata("roll", "--out", str(roll), "-n", "40", "--seed", str(seed))
        summary = run_testdata("cards", "--roll", str(roll), "--out", str(base / f"s{seed}"), "-n", "8",
                           "--seed", str(seed))
        assert summary["cards"] == 8
        dirs[seed] = base / f"s{seed}"
    return dirs


@pytest.fixture(scope="module")
def with_variants(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("variants")
    run_testdata("roll", "--out", str(base / "roll.csv"), "-n", "10", "--seed", "7")
    s = run_testdata("cards", "--roll", str(base / "roll.csv"), "--out", str(base / "cards"), "-n", "3",
                 "--variants", "--seed", "7")
    assert s["variants"] > 0
    return base / "cards"


def yymmdd(iso_date: str) -> str:
    return iso_date[2:4] + iso_date[5:7] + iso_date[8:10]


def qr_bytes(q: dict) -> bytes:
    return bytes.fromhex(q["payload"]) if q["mode"] == "bytes" else q["payload"].encode()


def rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path))
    assert img is not None, path
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def test_roll_is_reproducible_and_well_formed(tmp_path: Path) -> None:
    a, b, c = (tmp_path / n for n in ("a.csv", "b.csv", "c.csv"))
    run_testdata("roll", "--out", str(a), "-n", "300", "--seed", "5")
    run_testdata("roll", "--out", str(b), "-n", "300", "--seed", "5")
    run_testdata("roll", "--out", str(c), "-n", "300", "--seed", "6")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    rows = read_roll(a)
    assert len(rows) == 300
    assert len({r.identificador for r in rows}) == 300
    for r in rows:
        assert re.fullmatch(r"[A-Z]{6}\d{8}[HM]\d{3}", r.clave_elector), r.clave_elector
        assert r.clave_elector[6:12] == yymmdd(r.fecha_nacimiento)
        assert int(r.clave_elector[12:14]) == r.entidad and r.clave_elector[14] == r.sexo
        assert re.fullmatch(r"[A-Z]{4}\d{6}[HM][A-Z]{5}[0-9A-Z]\d", r.curp), r.curp
        assert r.ocr == f"{r.seccion:04d}{r.identificador}" and re.fullmatch(r"\d{9}", r.cic)
        assert r.vigencia == r.anio_emision + 10
    statuses = {r.estatus for r in rows}
    assert "vigente" in statuses and any(s.startswith("baja_") for s in statuses)


def test_curp_check_digit() -> None:
    alphabet = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ"
    for r in generate_roll(200, 11):
        total = sum(alphabet.index(ch) * (18 - i) for i, ch in enumerate(r.curp[:17]))
        assert int(r.curp[17]) == (10 - total % 10) % 10


def decode_all(img: np.ndarray) -> list[bytes]:
    return [r.bytes for r in zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode)]


def check_card_dir(d: Path) -> dict:
    truth = json.loads((d / "truth.json").read_text())
    assert truth["synthetic"] and truth["watermark"] == "MUESTRA"
    back = rgb(d / "back.png")
    expected = sorted(qr_bytes(q) for q in truth["qr"])
    # zxing-cpp is independent of segno, which drew the codes.
    assert sorted(decode_all(back)) == expected
    texts = [q["payload"] for q in truth["qr"] if q["mode"] == "text"]
    # pyzbar (libzbar0) as a second, independent decoder for the text codes.
    zbar = [s.data.decode() for s in pyzbar.decode(back) if s.type == "QRCODE"]
    for t in texts:
        assert t in zbar
    c = truth["citizen"]
    if truth["model"] in ("E", "F", "G", "H"):
        assert truth["has_qr"] and texts and texts[0].startswith("http://qr.ine.mx/")
        m = parse_ine_mrz(truth["mrz"])
        assert m.td1.valid, m.td1.failed_checks
        assert (m.cic, m.ocr, m.sex) == (c["cic"], c["ocr"], c["sexo"])
        assert m.birth_date == yymmdd(c["fecha_nacimiento"])
        assert m.vigencia == c["vigencia"]
        assert len(truth["qr"]) == (3 if truth["model"] in ("G", "H") else 1)
    else:
        assert truth["qr"] == [] and truth["mrz"] is None and not decode_all(back)
    return truth


def test_every_generated_card_decodes_and_checks(generated: dict[int, Path]) -> None:
    models = set()
    n = 0
    for d in generated.values():
        for card in sorted(d.iterdir()):
            models.add(check_card_dir(card)["model"])
            n += 1
    assert n == 8 * len(SEEDS)
    assert {"G", "H"} <= models


@pytest.mark.parametrize("model", ["E", "F", "G", "H"])
def test_each_model(model: str) -> None:
    for seed in (21, 22):
        front, back, truth = sample_card(seed, model)
        assert front.shape == back.shape == (646, 1024, 3)
        assert truth["model"] == model
        assert sorted(decode_all(back)) == sorted(qr_bytes(q) for q in truth["qr"])
        assert parse_ine_mrz(truth["mrz"]).td1.valid


def test_same_seed_same_card() -> None:
    f1, b1, t1 = sample_card(5)
    f2, b2, t2 = sample_card(5)
    assert t1 == t2 and np.array_equal(f1, f2) and np.array_equal(b1, b2)


def test_variants_are_labelled_and_placed(with_variants: Path) -> None:
    seen = set()
    for card in sorted(with_variants.iterdir()):
        truth = check_card_dir(card)
        if truth["model"] in ("C", "D"):
            assert truth["variants"] == []
            continue
        assert truth["variant_labels"] == list(LABELS)
        for v in truth["variants"]:
            img = rgb(card / v["file"])
            assert img.shape == (FRAME_H, FRAME_W, 3)
            corners = np.array(v["corners"])
            assert corners.shape == (4, 2)
            assert (corners[:, 0] >= 0).all() and (corners[:, 0] <= FRAME_W).all()
            assert (corners[:, 1] >= 0).all() and (corners[:, 1] <= FRAME_H).all()
            seen.add(v["label"])
            if v["label"] == "photocopy":
                # A photocopy is grey: inside the card the channels hardly differ.
                x0, y0 = corners.min(axis=0).astype(int) + 20
                x1, y1 = corners.max(axis=0).astype(int) - 20
                patch = img[y0:y1, x0:x1].astype(int)
                assert np.abs(patch[..., 0] - patch[..., 2]).mean() < 12
        genuine_clean = [v for v in truth["variants"] if v["label"] == "genuine" and not v["effects"]
                         and v["side"] == "back"]
        assert genuine_clean
    assert seen == set(LABELS)


def test_bad_roll_path_is_a_clear_error(tmp_path: Path) -> None:
    out = subprocess.run([str(BIN), "cards", "--roll", str(tmp_path / "x.csv"), "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "no existe el padrón" in out.stderr and "Traceback" not in out.stderr
