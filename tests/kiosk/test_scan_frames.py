"""`fieldkit-kiosk scan --frames DIR`: a clip of the card tilted, its sequence.json, the
integrity verdict with the tilt evidence; every bad folder a one-line error, the others go on."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from kiosk.cli.main import main
from kiosk.testdata.cards import sample_card
from tests.helpers.tilt import card_clip

ANGLES = [-5, -3, -1, 1, 3, 5]


def _write(folder: Path, frames: list[np.ndarray], corners: list[np.ndarray] | None = None,
           **extra: object) -> Path:
    folder.mkdir(parents=True)
    names = []
    for i, f in enumerate(frames):
        names.append(f"{i:03d}.png")
        cv2.imwrite(str(folder / names[-1]), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    spec: dict[str, object] = {"frames": names, "fps": 15, **extra}
    if corners is not None:
        spec["corners"] = [np.asarray(c).tolist() for c in corners]
    (folder / "sequence.json").write_text(json.dumps(spec))
    return folder


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("frames")
    card = sample_card(11)[0]
    lit, lit_q = card_clip(card, ANGLES, shading=0.012)
    screen, screen_q = card_clip(card, ANGLES, shading=0.0)
    still, still_q = card_clip(card, [0.0] * 6, shading=0.0)
    mixed = [q[[2, 0, 3, 1]] for q in lit_q]  # the corners in any order: put back as TL TR BR BL
    blank = np.full_like(lit[0], 90)          # frames with no card in them
    return {"lit": _write(d / "lit", lit), "screen": _write(d / "screen", screen, screen_q),
            "still": _write(d / "still", still, still_q), "lit_given": _write(d / "lit_given", lit, mixed),
            "two_found": _write(d / "two_found", [lit[0], blank, blank, lit[5]])}


def _set(folder: Path, key: str, value: object) -> None:
    spec = json.loads((folder / "sequence.json").read_text())
    spec[key] = value
    (folder / "sequence.json").write_text(json.dumps(spec))


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict]]:
    rc = main(["scan", "--json", *args])
    return rc, [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]


def test_a_card_answering_the_light_passes_and_a_flat_one_is_a_screen(clips, capsys) -> None:  # type: ignore[no-untyped-def]
    rc, (lit, screen, given) = _run(capsys, "--frames", str(clips["lit"]), "--frames", str(clips["screen"]),
                                    "--frames", str(clips["lit_given"]))
    assert rc == 0
    # Outlines found by the card finder (no corners in lit's sequence.json) or given.
    assert lit["found"] == lit["frames"] == 6 and lit["size"] == [960, 720]
    assert lit["tilt"]["judged"] and not lit["tilt"]["flat"]
    assert lit["tilt"]["scores"]["tilt_deg"] == pytest.approx(10, abs=1.0)
    assert lit["integrity"]["still_verdict"] == "ok" and lit["integrity"]["verdict"] == "ok"
    assert screen["tilt"]["flat"] and screen["integrity"]["verdict"] == "screen"
    assert screen["integrity"]["still_verdict"] == "ok" and not screen["integrity"]["passed"]
    assert "pantalla" in screen["integrity"]["reason"]
    assert given["integrity"]["verdict"] == "ok" and given["tilt"]["judged"]
    assert given["tilt"]["scores"]["tilt_deg"] == pytest.approx(lit["tilt"]["scores"]["tilt_deg"], abs=0.5)


def test_a_card_not_tilted_is_not_judged_and_not_refused(clips, capsys) -> None:  # type: ignore[no-untyped-def]
    rc, (d,) = _run(capsys, "--frames", str(clips["still"]))
    assert rc == 0 and not d["tilt"]["judged"] and not d["tilt"]["flat"]
    assert d["integrity"]["verdict"] == "ok"
    main(["scan", "--frames", str(clips["still"])])
    text = capsys.readouterr().out
    assert "no basta para juzgar" in text and "integridad: original" in text


def test_a_card_found_in_fewer_than_three_frames_is_not_judged(clips, capsys) -> None:  # type: ignore[no-untyped-def]
    rc, (d,) = _run(capsys, "--frames", str(clips["two_found"]))
    assert rc == 0 and d["frames"] == 4 and d["found"] == 2
    assert not d["tilt"]["judged"] and d["integrity"]["verdict"] == "ok"
    main(["scan", "--frames", str(clips["two_found"])])
    assert "se encontró en menos de 3 cuadros" in capsys.readouterr().out


def test_bad_folders_are_one_line_each_and_the_others_still_run(tmp_path: Path, clips, capsys) -> None:  # type: ignore[no-untyped-def]
    card = sample_card(11)[0]
    frames, quads = card_clip(card, [-4, 0, 4], shading=0.0)
    bad: dict[str, tuple[Path, str]] = {}

    def case(name: str, make, error: str) -> None:  # type: ignore[no-untyped-def]
        folder = tmp_path / name
        make(folder)
        bad[name] = (folder, error)

    case("missing", lambda f: None, "no existe la carpeta")
    case("no_json", lambda f: f.mkdir(), "falta sequence.json en la carpeta")
    case("not_json", lambda f: (f.mkdir(), (f / "sequence.json").write_text("{frames")), "no es JSON válido")
    case("no_frames", lambda f: (f.mkdir(), (f / "sequence.json").write_text('{"frames": []}')),
         "«frames» debe ser una lista")
    case("bad_fps", lambda f: _write(f, frames, fps="rápido"), "«fps» debe ser un número positivo")
    case("bad_corners", lambda f: _write(f, frames, [q[:3] for q in quads]), "«corners» debe dar 4 esquinas")

    def broken_frame(f: Path) -> None:
        _write(f, frames)
        (f / "001.png").write_bytes(b"no es una imagen")
    case("broken_frame", broken_frame, "001.png: no es una imagen que se pueda leer")

    def mixed_sizes(f: Path) -> None:
        _write(f, [frames[0], frames[1][:-10], frames[2]])
    case("mixed_sizes", mixed_sizes, "no tienen todos el mismo tamaño")
    case("missing_frame", lambda f: (_write(f, frames), (f / "002.png").unlink()),
         "002.png: no existe el archivo")
    case("not_object", lambda f: (f.mkdir(), (f / "sequence.json").write_text("[1, 2]")),
         "se esperaba un objeto JSON")
    case("nested", lambda f: (f.mkdir(), (f / "sequence.json").write_text("[" * 100000 + "]" * 100000)),
         "no es JSON válido")
    case("json_dir", lambda f: (f.mkdir(), (f / "sequence.json").mkdir()), "no se puede leer sequence.json")
    case("focal_inf", lambda f: _write(f, frames, focal_px=float("inf")),
         "«focal_px» debe ser un número positivo")
    case("focal_absurd", lambda f: _write(f, frames, focal_px=1e9), "«focal_px» fuera de lo posible")
    case("corners_outside", lambda f: _write(f, frames, [q + 5000 for q in quads]),
         "no es el de una credencial entera dentro de la imagen")
    in_a_line = np.float32([[10, 10], [400, 10], [800, 10], [900, 10]])
    case("corners_flat", lambda f: _write(f, frames, [in_a_line] * 3),
         "no es el de una credencial entera dentro de la imagen")
    case("corners_text", lambda f: _write(f, frames, [[["1", "2"]] * 4] * 3), "«corners» debe dar 4 esquinas")
    tall = np.float32([[300, 100], [500, 100], [500, 500], [300, 500]])  # a card's size, not its shape
    case("corners_portrait_box", lambda f: _write(f, frames, [tall] * 3),
         "no es el de una credencial entera dentro de la imagen")
    case("corners_huge_int", lambda f: (_write(f, frames), _set(f, "corners", [[[10 ** 400, 1]] * 4] * 3)),
         "«corners» debe dar 4 esquinas")
    case("fps_huge_int", lambda f: (_write(f, frames), _set(f, "fps", 10 ** 400)),
         "«fps» debe ser un número positivo")
    many_digits = '{"fps": ' + "9" * 5000 + "}"  # past Python's limit for reading an integer
    case("digits", lambda f: (_write(f, frames), (f / "sequence.json").write_text(many_digits)),
         "no es JSON válido")
    case("nul_name", lambda f: (_write(f, frames), _set(f, "frames", ["000.png", "a\u0000.png", "002.png"])),
         "no es un nombre de archivo válido")
    case("dir_frame", lambda f: (_write(f, frames), (f / "003.png").mkdir(),
                                 _set(f, "frames", ["000.png", "003.png", "002.png"])),
         "003.png: no es un archivo")

    def huge_header(f: Path) -> None:
        _write(f, frames)
        Image.new("L", (5000, 3000)).save(f / "001.png")  # 15 Mpx: refused from its header
    case("huge_header", huge_header, "001.png: imagen demasiado grande (5000x3000")

    def escaping(f: Path) -> None:
        _write(f, frames)
        spec = json.loads((f / "sequence.json").read_text())
        spec["frames"][1] = "../fuera.png"
        (f / "sequence.json").write_text(json.dumps(spec))
    case("escaping", escaping, "«../fuera.png» no está dentro de la carpeta")

    def absolute(f: Path) -> None:
        _write(f, frames)
        spec = json.loads((f / "sequence.json").read_text())
        spec["frames"][0] = str((f / "000.png").resolve())
        (f / "sequence.json").write_text(json.dumps(spec))
    case("absolute", absolute, "no está dentro de la carpeta")
    args = [a for name in bad for a in ("--frames", str(bad[name][0]))]
    rc, out = _run(capsys, *args, "--frames", str(clips["screen"]))
    assert rc == 1 and len(out) == len(bad) + 1
    for (name, (folder, error)), d in zip(bad.items(), out, strict=False):
        assert d["frames_dir"] == str(folder) and error in d["error"], (name, d)
        assert set(d) == {"frames_dir", "error"}
    assert out[-1]["integrity"]["verdict"] == "screen"
    main(["scan", "--frames", str(bad["no_json"][0])])
    assert capsys.readouterr().out.strip() == f"{bad['no_json'][0]}: ERROR: falta sequence.json en la carpeta"


def test_a_sequence_json_written_with_a_bom_is_read(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    frames, quads = card_clip(sample_card(11)[0], ANGLES, shading=0.0)
    folder = _write(tmp_path / "bom", frames, quads)
    (folder / "sequence.json").write_bytes(b"\xef\xbb\xbf" + (folder / "sequence.json").read_bytes())
    rc, (d,) = _run(capsys, "--frames", str(folder))
    assert rc == 0 and d["integrity"]["verdict"] == "screen"


def test_scan_with_nothing_to_scan_is_a_usage_error(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["scan"]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.strip() == ("fieldkit-kiosk: scan: indique imágenes o --frames CARPETA "
                               "(vea «fieldkit-kiosk --help»)")
