"""Verification against the roll: every INE category from a constructed record, sent
through the real server (HTTPS, sealed with sync's code), classified by the server."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from kiosk.capture.save import liveness_check
from kiosk.testdata.roll import Citizen
from server_stub.deploy.keys import load_seal_private, load_sign_private
from server_stub.ingest.ingest import Ingestor
from server_stub.verify import processes, roll, verify
from sync.wire.record import Check, ImageKind, Signature
from tests.helpers.server import IngestServer, TestDevice

T0 = 1_790_000_000_000  # tiny_record's capture time (2026-09)
PROC = "df-2027"


def _pick(rows: list[Citizen], pred: Callable[[Citizen], bool], n: int = 1) -> list[Citizen]:
    got = [c for c in rows if pred(c)][:n]
    assert len(got) == n
    return got


def _setup(store, roll_csv: Path, rows: list[Citizen]) -> tuple[int, int]:
    roll.import_roll(store, roll_csv)
    # The district with the most vigente citizens is the aspirants' scope.
    counts: dict[tuple[int, int], int] = {}
    for c in rows:
        if c.estatus == "vigente":
            counts[(c.entidad, c.distrito_federal)] = counts.get((c.entidad, c.distrito_federal), 0) + 1
    ent, df = max(counts, key=lambda k: counts[k])
    processes.define_process(store, PROC, "diputacion_federal", "Diputación 2027", T0 - 86_400_000,
                             T0 + 30 * 86_400_000)
    processes.add_aspirant(store, PROC, "asp-1", "Aspirante Uno", entidad=ent, distrito_federal=df)
    processes.add_aspirant(store, PROC, "asp-2", "Aspirante Dos", entidad=ent, distrito_federal=df)
    return ent, df


def _verdicts(server: IngestServer) -> dict[str, tuple[str, str]]:
    verify.Verifier(server.store).run_until_idle()
    return {v.folio: (v.verdict, v.reason) for v in verify.verdicts(server.store, PROC)}


def test_every_category_from_a_constructed_record(ingest_server: IngestServer, pki, synthetic_roll,
                                                  support_record) -> None:
    path, rows = synthetic_roll
    ent, df = _setup(ingest_server.store, path, rows)
    dev = TestDevice.create(pki.devices["dev-0001"], ingest_server)
    here = lambda c: (c.entidad, c.distrito_federal) == (ent, df)  # noqa: E731
    ok1, ok2 = _pick(rows, lambda c: here(c) and c.estatus == "vigente" and c.vigencia >= 2026, 2)
    sin_lista = _pick(rows, lambda c: c.estatus == "padron_sin_lista")[0]
    baja = _pick(rows, lambda c: c.estatus == "baja_defuncion")[0]
    lejos = _pick(rows, lambda c: c.entidad != ent and c.estatus == "vigente" and c.vigencia >= 2026)[0]
    vencida = _pick(rows, lambda c: here(c) and c.estatus == "vigente" and c.vigencia < 2026)[0]
    live_fail = (Check("liveness", False, 0.2, "no parpadeo"),)
    copy = (Check("liveness", True, 0.9, ""), Check("integrity", False, 0.8, "photocopy: fotocopia"))
    # What the kiosk writes: one integrity check per side (kiosk.capture.save).
    back_copy = (Check("liveness", True, 0.9, ""), Check("integrity_front", True, 1.0, "ok"),
                 Check("integrity_back", False, 1.0, "photocopy: Parece una fotocopia"))
    front_screen = (Check("liveness", True, 0.9, ""), Check("integrity_front", False, 5.9, "screen: x"),
                    Check("integrity_back", True, 1.0, "ok"))
    cases = [  # (seed, citizen, aspirant, changes, expected verdict)
        (1, ok1, "asp-1", {}, verify.VALIDO),
        (2, ok1, "asp-1", {}, verify.DUPLICADO),
        (3, ok1, "asp-2", {}, verify.OTRO_ASPIRANTE),
        (4, sin_lista, "asp-1", {}, verify.PADRON_SIN_LISTA),
        (5, baja, "asp-1", {}, verify.BAJA),
        (6, lejos, "asp-1", {}, verify.FUERA_DE_AMBITO),
        (7, None, "asp-1", {}, verify.NO_ENCONTRADO),
        (8, vencida, "asp-1", {}, verify.NO_VIGENTE),
        (9, ok2, "asp-2", {"signature": Signature(600, 200, ())}, verify.INCONSISTENCIA),
        (10, ok2, "asp-2", {"checks": live_fail}, verify.INCONSISTENCIA),
        (11, ok2, "asp-2", {"checks": (liveness_check(None),)}, verify.INCONSISTENCIA),
        (19, ok2, "asp-2", {"checks": ()}, verify.INCONSISTENCIA),
        (12, ok2, "asp-2", {"drop_selfie": True}, verify.INCONSISTENCIA),
        (13, ok2, "asp-2", {"checks": copy}, verify.FOTOCOPIA),
        (14, ok2, "asp-2", {}, verify.VALIDO),  # defects before it did not make it a duplicate
        (15, ok2, "asp-1", {}, verify.OTRO_ASPIRANTE),
        (16, ok2, "asp-2", {"checks": back_copy}, verify.FOTOCOPIA),
        (17, ok2, "asp-2", {"checks": front_screen}, verify.SIMULACION),
        (18, None, "asp-1", {"banda": True}, verify.NO_ENCONTRADO),
    ]
    for seed, citizen, asp, changes, _ in cases:
        ch = dict(changes)
        rec = support_record(dev.id, citizen, process_id=PROC, aspirant_id=asp, seed=seed)
        if ch.pop("drop_selfie", False):
            ch["images"] = tuple(i for i in rec.images if i.kind != ImageKind.SELFIE)
        if ch.pop("banda", False):
            ch["credential"] = replace(rec.credential, lectura_reverso="banda_mrz")
        sealed = dev.sealer.seal(replace(rec, **ch))
        assert dev.post(ingest_server, sealed.data).status_code == 200
        time.sleep(0.003)  # distinct receive times: "first counts" is observable
    got = _verdicts(ingest_server)
    for seed, _, _, _, want in cases:
        assert got[f"F-{seed:05d}"][0] == want, (seed, got[f"F-{seed:05d}"])
    reasons = {k: r for k, (_, r) in got.items()}
    assert "defuncion" in reasons["F-00005"]
    assert "F-00001" in reasons["F-00002"] and "asp-1" in reasons["F-00003"]
    assert reasons["F-00009"] == "sin firma"
    assert reasons["F-00010"] == "prueba de vida fallida"
    assert reasons["F-00011"] == "prueba de vida no realizada"  # what the kiosk writes
    assert reasons["F-00019"] == "prueba de vida no realizada"  # no liveness check at all
    assert "fotografía viva" in reasons["F-00012"]
    assert "fuera de entidad" in reasons["F-00006"]
    assert reasons["F-00018"].endswith("reverso leído sin contorno (banda MRZ)")
    assert "banda MRZ" not in reasons["F-00007"]
    # Deterministic: dropping and recomputing gives the same verdicts.
    verify.invalidate(ingest_server.store)
    assert _verdicts(ingest_server) == got


def test_record_received_earlier_but_committed_later_takes_over(ingest_server: IngestServer, pki,
                                                                synthetic_roll, support_record) -> None:
    """Two workers: commit order differs from receive order; the verdicts follow receive order."""
    path, rows = synthetic_roll
    ent, df = _setup(ingest_server.store, path, rows)
    c = _pick(rows, lambda c: (c.entidad, c.distrito_federal) == (ent, df) and c.estatus == "vigente"
              and c.vigencia >= 2026)[0]
    dev = TestDevice.create(pki.devices["dev-0002"], ingest_server)
    cfg = ingest_server.config
    seal = [load_seal_private(p) for p in cfg.keys.seal_keys]
    sign = load_sign_private(cfg.keys.sign_key)
    clock = {"t": 2000.0}
    ing = Ingestor(ingest_server.store, seal, sign, clock=lambda: clock["t"])
    late = dev.sealer.seal(support_record(dev.id, c, process_id=PROC, aspirant_id="asp-1", seed=21))
    early = dev.sealer.seal(support_record(dev.id, c, process_id=PROC, aspirant_id="asp-2", seed=22))
    assert ing.ingest(late.data, transport="https", peer_device_id=dev.id).stored_new
    assert _verdicts(ingest_server)["F-00021"][0] == verify.VALIDO
    clock["t"] = 1000.0  # received first by another worker, committed only now
    assert ing.ingest(early.data, transport="https", peer_device_id=dev.id).stored_new
    got = _verdicts(ingest_server)
    assert got["F-00022"][0] == verify.VALIDO
    assert got["F-00021"][0] == verify.OTRO_ASPIRANTE


def test_records_of_an_undefined_process_wait_then_verify_when_it_is_defined(
        ingest_server: IngestServer, pki, synthetic_roll, support_record) -> None:
    path, rows = synthetic_roll
    ent, df = _setup(ingest_server.store, path, rows)
    c = _pick(rows, lambda c: (c.entidad, c.distrito_federal) == (ent, df) and c.estatus == "vigente"
              and c.vigencia >= 2026)[0]
    dev = TestDevice.create(pki.devices["dev-0003"], ingest_server)
    rec = support_record(dev.id, c, process_id="nuevo", aspirant_id="asp-9", seed=31)
    assert dev.post(ingest_server, dev.sealer.seal(rec).data).status_code == 200
    verify.Verifier(ingest_server.store).run_until_idle()
    assert [v.verdict for v in verify.verdicts(ingest_server.store, "nuevo")] == [verify.PENDIENTE]
    processes.define_process(ingest_server.store, "nuevo", "senaduria", "Senado", T0 - 1, T0 + 10**9)
    processes.add_aspirant(ingest_server.store, "nuevo", "asp-9", "Nueve", entidad=ent)
    verify.invalidate(ingest_server.store, "nuevo")
    verify.Verifier(ingest_server.store).run_until_idle()
    assert [v.verdict for v in verify.verdicts(ingest_server.store, "nuevo")] == [verify.VALIDO]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_roll_import_indexes_counts_and_replaces(backend: str, tmp_path: Path, synthetic_roll,
                                                 request: pytest.FixtureRequest) -> None:
    from server_stub.core.store import open_store

    url = request.getfixturevalue("pg_database") if backend == "postgresql" else f"sqlite:{tmp_path}/s.db"
    store = open_store(url)
    try:
        path, rows = synthetic_roll
        res = roll.import_roll(store, path)
        assert res.rows == len(rows)
        c = rows[17]
        e = roll.lookup(store, c.cic, c.identificador)
        assert e is not None and (e.seccion, e.estatus) == (c.seccion, c.estatus)
        assert roll.lookup(store, c.cic, "000000000") is None  # both halves of the key must match
        ln = sum(1 for r in rows if r.estatus == "vigente")
        assert int(store.query("SELECT SUM(lista_nominal) FROM roll_units")[0][0]) == ln
        # Re-import a smaller roll: replaced, not appended.
        small = tmp_path / "small.csv"
        small.write_text("\n".join(path.read_text().splitlines()[:11]) + "\n")
        assert roll.import_roll(store, small).rows == 10
        assert int(store.query("SELECT COUNT(*) FROM roll")[0][0]) == 10
        bad = tmp_path / "bad.csv"
        bad.write_text(path.read_text().splitlines()[0] + "\n" + ",".join(["x"] * 23) + "\n")
        with pytest.raises(roll.RollError, match=r"bad.csv:2:"):
            roll.import_roll(store, bad)
        assert int(store.query("SELECT COUNT(*) FROM roll")[0][0]) == 10  # all or nothing
    finally:
        store.close()


def test_cli_roll_process_user_and_verify(ingest_server: IngestServer, synthetic_roll, capsys,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from server_stub.cli.main import main
    from server_stub.dashboard import accounts

    cfg = str(ingest_server.config_path)
    path, rows = synthetic_roll
    assert main(["roll", "import", "--config", cfg, str(path)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["rows"] == len(rows)
    assert main(["process", "define", "--config", cfg, "--id", "p1", "--kind", "senaduria",
                 "--start", "2026-01-01", "--end", "2026-12-31"]) == 0
    assert main(["process", "add-aspirant", "--config", cfg, "--process", "p1", "--id", "a1"]) == 1
    assert "necesita --entidad" in capsys.readouterr().err
    assert main(["process", "add-aspirant", "--config", cfg, "--process", "p1", "--id", "a1",
                 "--entidad", "9"]) == 0
    monkeypatch.setenv("FIELDKIT_DASHBOARD_PASSWORD", "una-clave-larga")
    assert main(["dashboard-user", "--config", cfg, "ana"]) == 0
    assert accounts.login(ingest_server.store, "ana", "una-clave-larga") is not None
    assert main(["verify", "--config", cfg, "--recompute"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["verified"] == 0


def test_how_the_back_was_read_is_kept_and_an_unknown_way_is_not_echoed(support_record) -> None:  # type: ignore[no-untyped-def]
    from server_stub.verify.lookup_keys import summary

    rec = support_record("fk-x", None, process_id="p", aspirant_id="a", seed=1)
    assert "lectura_reverso" not in summary(rec)            # an older device's record: not said
    for said, kept in (("banda_mrz", "banda_mrz"), ("contorno", "contorno"), ("<script>", "otra"),
                       ("contorno_sin_confirmar", "contorno_sin_confirmar")):
        got = summary(replace(rec, credential=replace(rec.credential, lectura_reverso=said)))
        assert got["lectura_reverso"] == kept
    from server_stub.verify.verify import back_read_note

    note = back_read_note({"lectura_reverso": "contorno_sin_confirmar"})
    assert note == "; reverso con contorno sin confirmar"
    assert back_read_note({"lectura_reverso": "contorno"}) == ""
