"""Roll import (`verify/roll.py`): bad rows are rejected and reported by line, never imported and
never fatal; what stays fatal leaves the old roll in place; progress is reported; on SQLite the
rows load in short transactions, so the old roll stays readable and the store writable meanwhile."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from kiosk.testdata.roll import generate_roll, write_roll
from server_stub.core.store import Store, open_store
from server_stub.verify import roll
from tests.helpers.server import IngestServer


def _lines(path: Path, n: int, seed: int = 3) -> list[str]:
    write_roll(path, list(generate_roll(n, seed=seed)))
    return path.read_text(encoding="utf-8").splitlines()


def _with(lines: list[str], row: int, **cells: str) -> str:
    header, cols = lines[0].split(","), lines[row].split(",")
    for k, v in cells.items():
        cols[header.index(k)] = v
    return ",".join(cols)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    pg = request.param == "postgresql"
    url = request.getfixturevalue("pg_database") if pg else f"sqlite:{tmp_path}/s.db"
    s = open_store(url)
    request.addfinalizer(s.close)
    return s


def test_bad_rows_are_reported_by_line_and_the_good_ones_imported(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    lines = _lines(path, 80)
    bad = [_with(lines, 1, identificador="12345678X"), _with(lines, 2, vigencia="2030.5"),
           _with(lines, 3, distrito_local="٣"),  # a non-ASCII digit is not a digit here
           _with(lines, 4, modelo=" "), _with(lines, 5, estatus="baja")] + [lines[6] + ",extra"] * 60
    path.write_text("\ufeff" + "\n".join(lines + bad) + "\n", encoding="utf-8")  # with a BOM
    seen: list[tuple[int, int]] = []
    res = roll.import_roll(store, path, progress=lambda r, t: seen.append((r, t)), source="mío.csv")
    assert (res.rows, res.rejected) == (80, 65)
    assert len(res.rejected_rows) == roll.REJECTS_KEPT
    got = [(r.line, r.reason) for r in res.rejected_rows[:6]]
    assert got == [(82, "identificador no tiene 9 dígitos"),
                   (83, "vigencia no es un número entero: '2030.5'"),
                   (84, "distrito_local no es un número entero: '٣'"), (85, "modelo vacío"),
                   (86, "estatus desconocido: 'baja'"), (87, "tiene 24 columnas; el encabezado tiene 23")]
    assert res.rejected_rows[-1].line == 81 + roll.REJECTS_KEPT
    assert seen[-1] == (145, 145)
    assert int(store.query("SELECT COUNT(*) FROM roll")[0][0]) == 80
    assert store.query("SELECT source FROM roll_meta")[0][0] == "mío.csv"
    assert json.loads(json.dumps(res.to_json()))["rejected_rows"][0] == {"line": 82, "reason": got[0][1]}


def test_what_stays_fatal_leaves_the_old_roll(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    lines = _lines(path, 30)
    assert roll.import_roll(store, path).rows == 30
    old = roll.lookup(store, *lines[1].split(",")[1:3])
    cases = {"dup.csv": ([*lines, lines[7]], "la clave CIC \\+ identificador se repite"),
             "none.csv": ([lines[0], _with(lines, 1, cic="x")],
                          r"none.csv:2: cic no tiene 9 dígitos \(ninguna"),
             "empty.csv": (lines[:1], "no tiene filas"),
             "cols.csv": (["cic,identificador", *lines[1:]], "faltan columnas: entidad"),
             "quote.csv": ([*lines, '"' + lines[3]], "CSV ilegible")}
    for name, (text, why) in cases.items():
        (tmp_path / name).write_text("\n".join(text) + "\n", encoding="utf-8")
        if name == "quote.csv":  # an unclosed quote runs to the end: a field over the csv limit
            (tmp_path / name).write_text("\n".join(text) + "x" * 200_000 + "\n", encoding="utf-8")
        with pytest.raises(roll.RollError, match=why):
            roll.import_roll(store, tmp_path / name)
        assert int(store.query("SELECT COUNT(*) FROM roll")[0][0]) == 30, name
    assert roll.lookup(store, *lines[1].split(",")[1:3]) == old
    if store.kind == "sqlite":  # no staging table of a failed import is left behind
        assert not store.query("SELECT name FROM sqlite_master WHERE name LIKE ?", (roll.STAGING + "%",))


def test_sqlite_keeps_the_old_roll_readable_and_the_store_writable_while_loading(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(f"sqlite:{tmp_path}/s.db")
    try:
        first, second = tmp_path / "a.csv", tmp_path / "b.csv"
        a = _lines(first, 20, seed=1)
        _lines(second, 300, seed=2)
        roll.import_roll(store, first)
        monkeypatch.setattr(roll, "BATCH", 50)  # several batches from a small file
        during: list[tuple[int, int, bool]] = []

        def progress(read: int, total: int) -> None:
            old = roll.lookup(store, *a[1].split(",")[1:3]) is not None
            other = sqlite3.connect(store.path, timeout=0)  # fails at once if the write lock is held
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            other.close()
            during.append((read, int(store.query("SELECT COUNT(*) FROM roll")[0][0]), old))

        assert roll.import_roll(store, second, progress=progress).rows == 300
        assert [d[0] for d in during] == [50, 100, 150, 200, 250, 300, 300]
        assert all(n == 20 and old for _, n, old in during)  # the old roll until the swap
        assert roll.lookup(store, *a[1].split(",")[1:3]) is None
        assert int(store.query("SELECT COUNT(*) FROM roll")[0][0]) == 300
    finally:
        store.close()


def test_cli_lists_rejected_rows_in_its_json(ingest_server: IngestServer, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from server_stub.cli.main import main

    path = tmp_path / "r.csv"
    lines = _lines(path, 10)
    path.write_text("\n".join([*lines, _with(lines, 2, seccion="")]) + "\n", encoding="utf-8")
    assert main(["roll", "import", "--config", str(ingest_server.config_path), str(path)]) == 0
    out = capsys.readouterr()
    got = json.loads(out.out.strip().splitlines()[-1])
    assert {"rows", "secciones", "seconds", "verdicts_to_recompute"} <= set(got)
    assert (got["rows"], got["rejected"]) == (10, 1)
    assert got["rejected_rows"] == [{"line": 12, "reason": "seccion no es un número entero: ''"}]
    assert "filas rechazadas: 1" in out.err


def test_two_imports_at_once_never_mix_their_files(store: Store, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A CLI import while the dashboard runs one: the roll ends as one whole file, never a mix."""
    import threading

    monkeypatch.setattr(roll, "BATCH", 50)  # many small transactions: the loads interleave
    files = {}
    for name, seed in (("a.csv", 31), ("b.csv", 32)):
        rows = list(generate_roll(1500, seed=seed))
        write_roll(tmp_path / name, rows)
        files[name] = {(c.cic, c.identificador) for c in rows}
    errors: list[Exception] = []

    def run(name: str) -> None:
        try:
            roll.import_roll(store, tmp_path / name)
        except Exception as e:  # reported below: a thread's failure must fail the test
            errors.append(e)

    threads = [threading.Thread(target=run, args=(n,)) for n in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    got = {(r[0], r[1]) for r in store.query("SELECT cic, identificador FROM roll")}
    assert got in (files["a.csv"], files["b.csv"])
