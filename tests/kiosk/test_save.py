"""kiosk.capture.save: the one code path of "Guardar" (draft -> record -> sealed -> outbox -> folio)."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest

from kiosk import i18n
from kiosk.capture.save import SaveContext, SaveError, save_draft
from kiosk.capture.signature import signature_problem
from kiosk.cardread.credential import read_back
from kiosk.vision.liveness import Challenge, LivenessState, Verdict
from sync.common.msg import Msg
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
    passed = LivenessState(Verdict.PASSED, "liveness.passed", 1.0, Challenge.BLINK)
    failed = LivenessState(Verdict.FAILED, "liveness.not_completed", 0.4, Challenge.TURN_LEFT)
    save_draft(make_draft(1, liveness=passed), ctx)
    save_draft(make_draft(1, liveness=failed, email=None), ctx)
    a, b = (device.open(i.envelope) for i in ctx.outbox.next_batch(2))
    assert _checks(a)["liveness"].passed and "blink" in _checks(a)["liveness"].detail
    assert not _checks(b)["liveness"].passed and "fallida" in _checks(b)["liveness"].detail
    assert b.email is None


def _nothing_stored(ctx) -> bool:
    c = ctx.counts()
    return c.put_total == 0 and c.pending == 0 and ctx.outbox.folios() == []


@pytest.mark.parametrize(("change", "msg"), [
    ({"consent": False}, Msg("save.no_consent")),
    ({"selfie": None}, Msg("save.image_missing", {"what": Msg("save.image.selfie")})),
    ({"front": np.zeros((40, 40, 3), np.uint8)},
     Msg("save.image_small", {"what": Msg("save.image_of.front")})),
    ({"back": np.zeros((646, 1024), np.uint8)}, Msg("save.image_missing", {"what": Msg("save.image.back")})),
    ({"signature": Signature(600, 200, ())}, Msg("signature.missing")),
    ({"signature": None}, Msg("signature.missing")),
    ({"email": "no-es-correo"}, Msg("capture.email_invalid")),
    ({"process_id": "otro-proceso"}, Msg("save.process_unknown", {"process": "otro-proceso"})),
    ({"aspirant_id": "asp-9999"}, Msg("save.aspirant_mismatch", {"aspirant": "asp-9999",
                                                                 "process": "ci-2027-df-0901"})),
    ({"auxiliary_id": "aux-9999"}, Msg("save.auxiliary_unknown", {"auxiliary": "aux-9999"})),
    ({"back_reading": None}, Msg("save.back_unread")),
    ({"liveness": "passed"}, Msg("save.liveness_invalid")),
])
def test_bad_drafts_raise_a_message_and_store_nothing(ctx, change, msg):
    draft = make_draft(1)
    for k, v in change.items():
        setattr(draft, k, v)
    with pytest.raises(SaveError) as e:
        save_draft(draft, ctx)
    assert e.value.msg == msg and e.value.message == msg   # `message`: the window reads that name
    assert i18n.lookup(msg.code, "es") and i18n.lookup(msg.code, "en")
    assert _nothing_stored(ctx)


def test_a_refusal_reads_in_both_languages():
    said = Msg("save.process_unknown", {"process": "otro-proceso"})
    assert i18n.render(said) == "El proceso otro-proceso no está configurado en este dispositivo."
    assert i18n.render(said, lang="en") == "Process otro-proceso is not configured on this device."


def test_an_image_named_after_de_contracts_in_spanish():
    """"La imagen del frente", never "de el frente": the part is named as the sentence needs."""
    small = Msg("save.image_small", {"what": Msg("save.image_of.front")})
    assert i18n.render(small) == "La imagen del frente es demasiado pequeña."
    assert i18n.render(small, lang="en") == "The image of the front is too small."
    missing = Msg("save.image_missing", {"what": Msg("save.image.selfie")})
    assert i18n.render(missing).startswith("Falta la foto del rostro")


def test_refused_backs_store_nothing(ctx):
    # An IFE-era card (model C): no QR on the back -> INE's refusal.
    _, back_c, _ = card(3, "C")
    no_qr = read_back(back_c, now_year=NOW_YEAR, find=full_frame_find(back_c))
    assert no_qr.refusal is not None
    draft = make_draft(1)
    draft.back_reading = no_qr
    with pytest.raises(SaveError) as e:
        save_draft(draft, ctx)
    assert e.value.msg == Msg("card.sin_qr")
    # The same card read ten years later: expired.
    _, back, _ = card(1)
    expired = read_back(back, now_year=NOW_YEAR + 10, find=full_frame_find(back))
    assert [f.code for f in expired.flags] == ["vencida"]
    draft.back_reading = expired
    with pytest.raises(SaveError) as e:
        save_draft(draft, ctx)
    assert e.value.msg == Msg("card.credencial_vencida")
    assert _nothing_stored(ctx)


def test_trivial_signatures_are_refused():
    dot = Signature(600, 200, (tuple(Point(100 + i * 0.1, 100, i * 8) for i in range(20)),))
    assert signature_problem(dot) == Msg("signature.too_small")
    short = signature_problem(Signature(600, 200, ((Point(1, 1, 0),),)))
    assert short == Msg("signature.too_short")
    assert i18n.render(short) == ("La firma está vacía o es demasiado corta: pida a la persona que "
                                  "firme de nuevo.")
    assert i18n.render(short, lang="en") == ("The signature is empty or too short: ask the person to "
                                             "sign again.")


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


def test_a_creator_that_finds_the_outbox_made_since_it_looked_opens_it(device, monkeypatch):
    # The kiosk and `fieldkit-kiosk capture` may both make the outbox on first use: the other
    # one can link it into place between this one's exists() and its create().
    with SaveContext.from_config(device.config) as c:
        first = save_draft(make_draft(1), c).folio
    path, real, looked = device.config.device.outbox_path, Path.exists, []

    def exists(self: Path, *a: object, **k: object) -> bool:
        if self == path and not looked:
            looked.append(self)
            return False  # the first look, before the other creator linked it
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "exists", exists)
    with SaveContext.from_config(device.config) as c:
        assert looked and c.outbox.folios() == [first]


def test_context_reopens_the_same_outbox_and_checks_keys(device):
    with SaveContext.from_config(device.config) as c:
        first = save_draft(make_draft(1), c).folio
    with SaveContext.from_config(device.config) as c:
        assert c.outbox.folios() == [first]
        assert save_draft(make_draft(1), c).folio != first
    wrong_suite = dataclasses.replace(device.config, server=dataclasses.replace(
        device.config.server, seal_suite="mlkem768-x25519"))
    with pytest.raises(SaveError, match="x25519") as e:
        SaveContext.from_config(wrong_suite)
    assert e.value.msg == Msg("save.server_key")
    device.config.keys.signing_key.chmod(0o644)
    with pytest.raises(SaveError, match="0600") as e:
        SaveContext.from_config(device.config)
    assert e.value.msg == Msg("save.signing_key")


def test_the_technical_cause_goes_to_the_log_never_into_the_text(device, caplog):
    """A damaged outbox: the screen says what to do; SQLCipher's words are in the log only."""
    path = device.config.device.outbox_path
    with SaveContext.from_config(device.config):
        pass
    path.write_bytes(b"\0" * 8192)
    with caplog.at_level("ERROR", logger="kiosk.capture.save"), pytest.raises(SaveError) as e:
        SaveContext.from_config(device.config)
    assert e.value.msg == Msg("save.outbox")
    shown = {i18n.render(e.value.msg, lang=lang) for lang in i18n.LANGUAGES}
    assert shown == {"No se pudo abrir la bandeja de salida. Avise a su coordinador.",
                     "The outbox could not be opened. Tell your coordinator."}
    assert e.value.detail and str(path) in e.value.detail
    assert any(e.value.detail in r.getMessage() for r in caplog.records)


def test_checks_measured_at_capture_are_kept_and_agree_with_measuring_at_save(ctx):
    from kiosk.capture.save import build_record

    measured = make_draft(2)  # as the flow holds it: back integrity and selfie quality measured
    bare = make_draft(2)
    bare.back_integrity = bare.selfie_quality = None  # e.g. a draft built by a script
    a, b = _checks(build_record(measured, ctx)), _checks(build_record(bare, ctx))
    for name in ("integrity_back", "selfie_quality"):
        assert a[name] == b[name]
    # What capture measured is what the record says (save does not measure it again).
    blurred = ("selfie.blurred",)
    measured.selfie_quality = dataclasses.replace(measured.selfie_quality, ok=False, codes=blurred)
    assert _checks(build_record(measured, ctx))["selfie_quality"].detail == "selfie.blurred"


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
