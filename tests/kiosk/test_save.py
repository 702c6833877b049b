"""kiosk.capture.save: the one code path of "Guardar" (draft -> record -> sealed -> outbox -> folio)."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

from kiosk.capture.save import SaveContext, SaveError, save_draft
from kiosk.capture.signature import signature_problem
from kiosk.cardread.credential import read_back
from kiosk.vision.liveness import Challenge, LivenessState, Verdict
from sync.wire.record import ImageKind, Point, Signature
from tests.helpers.kiosk import NOW_YEAR, back_reading, card, full_frame_find, make_draft, provision


@pytest.fixture
def device(tmp_path):
    return provision(tmp_path)


@pytest.fixture
def ctx(device):
    c = SaveContext.from_config(device.config)
    yield c
    c.close()


def _checks(record):
    return {c.name: c for c in record.checks}


def test_draft_from_generated_card_saves_and_folio_is_the_outboxes(device, ctx):
    draft = make_draft(1)
    result = save_draft(draft, ctx)
    assert ctx.outbox.folios() == [result.folio]
    item = ctx.outbox.next_batch(1)[0]
    assert item.record_id == result.record_id and item.folio == result.folio
    record = device.open(item.envelope)
    _, _, truth = card(1)
    assert record.folio == result.folio
    assert record.credential.cic == truth["citizen"]["cic"]
    assert record.credential.model == truth["model"]
    assert record.credential.lectura_reverso == "imagen_completa"   # how the back was read
    assert (record.process_id, record.aspirant_id, record.auxiliary_id) == (
        "ci-2027-df-0901", "asp-0001", "aux-0001")
    assert record.email == "muestra@example.org"
    assert {i.kind for i in record.images} == set(ImageKind)
    got = [p for st in record.signature.strokes for p in st]
    want = [p for st in draft.signature.strokes for p in st]
    assert [(p.x, p.y, p.t_ms) for p in got] == [(p.x, p.y, p.t_ms) for p in want]
    assert max(abs(a.pressure - b.pressure) for a, b in zip(got, want, strict=True)) < 1e-4
    checks = _checks(record)
    assert checks["consent_biometric"].passed
    assert checks["card_photo_confirmed"].passed
    assert checks["selfie_quality"].passed
    # No liveness verdict: recorded as not performed, never as passed.
    assert not checks["liveness"].passed and checks["liveness"].detail == "no_realizada"
    assert result.envelope_bytes == len(item.envelope)


def test_model_family_from_the_fronts_layout_is_kept(device, ctx):
    draft = dataclasses.replace(make_draft(2), model="G/H")
    save_draft(draft, ctx)
    record = device.open(ctx.outbox.next_batch(1)[0].envelope)
    assert record.credential.model == "G/H"


def test_liveness_verdicts_are_recorded_as_they_were(device, ctx):
    passed = LivenessState(Verdict.PASSED, "Prueba de vida superada", 1.0, Challenge.BLINK)
    failed = LivenessState(Verdict.FAILED, "No se completó la prueba de vida", 0.4, Challenge.TURN_LEFT)
    save_draft(make_draft(1, liveness=passed), ctx)
    save_draft(make_draft(1, liveness=failed, email=None), ctx)
    a, b = (device.open(i.envelope) for i in ctx.outbox.next_batch(2))
    assert _checks(a)["liveness"].passed and "blink" in _checks(a)["liveness"].detail
    assert not _checks(b)["liveness"].passed and "fallida" in _checks(b)["liveness"].detail
    assert b.email is None


def _nothing_stored(ctx) -> bool:
    c = ctx.counts()
    return c.put_total == 0 and c.pending == 0 and ctx.outbox.folios() == []


@pytest.mark.parametrize(("change", "words"), [
    ({"consent": False}, "consentimiento"),
    ({"selfie": None}, "foto del rostro"),
    ({"front": np.zeros((40, 40, 3), np.uint8)}, "demasiado pequeña"),
    ({"back": np.zeros((646, 1024), np.uint8)}, "reverso"),
    ({"signature": Signature(600, 200, ())}, "firma"),
    ({"signature": None}, "Falta la firma"),
    ({"email": "no-es-correo"}, "correo"),
    ({"process_id": "otro-proceso"}, "no está configurado"),
    ({"aspirant_id": "asp-9999"}, "no corresponde"),
    ({"auxiliary_id": "aux-9999"}, "no está registrado"),
    ({"back_reading": None}, "reverso"),
    ({"liveness": "passed"}, "prueba de vida"),
])
def test_bad_drafts_raise_in_spanish_and_store_nothing(ctx, change, words):
    draft = make_draft(1)
    for k, v in change.items():
        setattr(draft, k, v)
    with pytest.raises(SaveError) as e:
        save_draft(draft, ctx)
    assert words in e.value.message
    assert _nothing_stored(ctx)


def test_refused_backs_store_nothing(ctx):
    # An IFE-era card (model C): no QR on the back -> INE's refusal.
    _, back_c, _ = card(3, "C")
    no_qr = read_back(back_c, now_year=NOW_YEAR, find=full_frame_find(back_c))
    assert no_qr.refusal is not None
    draft = make_draft(1)
    draft.back_reading = no_qr
    with pytest.raises(SaveError, match="código QR"):
        save_draft(draft, ctx)
    # The same card read ten years later: expired.
    _, back, _ = card(1)
    expired = read_back(back, now_year=NOW_YEAR + 10, find=full_frame_find(back))
    assert [f.code for f in expired.flags] == ["vencida"]
    draft.back_reading = expired
    with pytest.raises(SaveError, match="vigente"):
        save_draft(draft, ctx)
    assert _nothing_stored(ctx)


def test_trivial_signatures_are_refused():
    dot = Signature(600, 200, (tuple(Point(100 + i * 0.1, 100, i * 8) for i in range(20)),))
    assert "pequeña" in signature_problem(dot)
    assert "vacía" in signature_problem(Signature(600, 200, ((Point(1, 1, 0),),)))


def test_concurrent_saves_from_worker_threads_get_distinct_folios(device, ctx):
    back_reading(1)  # warm the cache outside the threads
    drafts = [make_draft(1) for _ in range(6)]
    results, errors = [], []

    def work(d):
        try:
            results.append(save_draft(d, ctx))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(d,)) for d in drafts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(r.folio for r in results) == sorted(ctx.outbox.folios())
    assert len({r.record_id for r in results}) == 6 and ctx.counts().pending == 6


def test_context_reopens_the_same_outbox_and_checks_keys(device):
    with SaveContext.from_config(device.config) as c:
        first = save_draft(make_draft(1), c).folio
    with SaveContext.from_config(device.config) as c:
        assert c.outbox.folios() == [first]
        assert save_draft(make_draft(1), c).folio != first
    wrong_suite = dataclasses.replace(device.config, server=dataclasses.replace(
        device.config.server, seal_suite="mlkem768-x25519"))
    with pytest.raises(SaveError, match="x25519"):
        SaveContext.from_config(wrong_suite)
    device.config.keys.signing_key.chmod(0o644)
    with pytest.raises(SaveError, match="0600"):
        SaveContext.from_config(device.config)


def test_checks_measured_at_capture_are_kept_and_agree_with_measuring_at_save(ctx):
    from kiosk.capture.save import build_record

    measured = make_draft(2)  # as the flow holds it: back integrity and selfie quality measured
    bare = make_draft(2)
    bare.back_integrity = bare.selfie_quality = None  # e.g. a draft built by a script
    a, b = _checks(build_record(measured, ctx)), _checks(build_record(bare, ctx))
    for name in ("integrity_back", "selfie_quality"):
        assert a[name] == b[name]
    # What capture measured is what the record says (save does not measure it again).
    measured.selfie_quality = dataclasses.replace(measured.selfie_quality, ok=False, reasons=("borrosa",))
    assert _checks(build_record(measured, ctx))["selfie_quality"].detail == "borrosa"


def test_a_record_too_large_is_shrunk_and_saved_not_refused(device, ctx):
    """On the real save path with a small limit (the real one, 8 MiB, is far above what the
    image profiles make): the record is re-encoded to fit, sealed, stored, and still opens."""
    normal = save_draft(make_draft(1), ctx)
    ctx.max_record_bytes = normal.envelope_bytes // 2
    small = save_draft(make_draft(2), ctx)
    assert small.envelope_bytes <= ctx.max_record_bytes + 4096 < normal.envelope_bytes
    shrunk = device.open(ctx.outbox.next_batch(2)[1].envelope)
    assert shrunk.record_id == small.record_id
    assert {i.kind for i in shrunk.images} == set(ImageKind) and all(i.data for i in shrunk.images)
    assert shrunk.signature.strokes
