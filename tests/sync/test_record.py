"""Record schema: CBOR round trip, versioning, compactness, identifiers."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace

import cbor2
import pytest

from sync.wire.errors import RecordFormatError
from sync.wire.ids import uuid7, uuid7_time_ms
from sync.wire.record import ImageKind, Signature, decode_record, encode_record, pack_stroke, unpack_stroke
from tests.helpers.outbox import card_record, synthetic_signature, tiny_record


def test_round_trip_all_fields_equal() -> None:
    rec = replace(tiny_record(seed=3), folio="7KQ2-00001-X")
    back = decode_record(encode_record(rec))
    assert back == rec
    assert back.credential.qr == rec.credential.qr and back.email == rec.email


def test_round_trip_without_optional_fields() -> None:
    rec = replace(tiny_record(seed=4), email=None, checks=(),
                  signature=replace(synthetic_signature(random.Random(1), pressure=False)))
    back = decode_record(encode_record(rec))
    assert back == rec
    assert back.email is None
    assert all(p.pressure is None for st in back.signature.strokes for p in st)


def test_encoding_is_deterministic_and_images_are_raw_bytes() -> None:
    rec = tiny_record(seed=5)
    data = encode_record(rec)
    assert encode_record(rec) == data
    for img in rec.images:  # no base64: each image's bytes appear verbatim
        assert img.data in data


def test_stroke_packing_precision() -> None:
    sig = synthetic_signature(random.Random(2))
    for st in sig.strokes:
        packed = pack_stroke(st, True)
        assert len(packed) == 10 * len(st)
        for a, b in zip(st, unpack_stroke(packed, True), strict=True):
            assert abs(a.x - b.x) <= 0.05 and abs(a.y - b.y) <= 0.05 and a.t_ms == b.t_ms
            assert a.pressure is not None and b.pressure is not None
            assert abs(a.pressure - b.pressure) < 1e-4
    with pytest.raises(RecordFormatError):
        unpack_stroke(b"\x00" * 11, True)


def test_unknown_version_and_garbage_are_refused() -> None:
    obj = cbor2.loads(encode_record(tiny_record()))
    obj["v"] = 99
    with pytest.raises(RecordFormatError, match="version 99"):
        decode_record(cbor2.dumps(obj))
    with pytest.raises(RecordFormatError):
        decode_record(b"\xff\x00garbage")
    with pytest.raises(RecordFormatError):
        decode_record(cbor2.dumps([1, 2, 3]))
    del obj["img"]
    obj["v"] = 1
    with pytest.raises(RecordFormatError, match="img"):
        decode_record(cbor2.dumps(obj))


def test_v1_reader_ignores_fields_added_later() -> None:
    rec = tiny_record(seed=6)
    obj = cbor2.loads(encode_record(rec))
    obj["gps"] = [19.43, -99.13]  # an additive field from a newer v1 writer
    assert decode_record(cbor2.dumps(obj)) == rec


def test_uuid7_is_sortable_and_well_formed() -> None:
    ids = [uuid7() for _ in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [i.bytes for i in ids] == sorted(i.bytes for i in ids)
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert uuid7_time_ms(uuid7(now_ms=1_790_000_123_456)) >= 1_790_000_123_456


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_real_record_is_small_and_container_overhead_under_2_percent(seed: int) -> None:
    rec, _ = card_record(seed)
    data = encode_record(rec)
    image_bytes = rec.image_bytes()
    assert len(data) <= 150_000, f"record is {len(data)} bytes"
    payload = image_bytes + sum(len(pack_stroke(s, True)) for s in rec.signature.strokes)
    payload += sum(len(q) for q in rec.credential.qr)
    # Container overhead: every byte that is not image, signature-point or raw-QR payload
    # (CBOR framing, field names, and even the credential's text fields) stays under 2 %
    # of the image bytes.
    overhead = (len(data) - payload) / image_bytes
    assert overhead < 0.02, f"overhead {overhead:.2%}"
    kinds = {i.kind for i in rec.images}
    assert kinds == set(ImageKind)
    assert decode_record(data) == rec


def test_signature_dimensions_survive() -> None:
    sig = Signature(800, 300, (), False)
    rec = replace(tiny_record(), signature=sig)
    assert decode_record(encode_record(rec)).signature == sig


def test_how_the_back_was_read_round_trips_and_older_records_still_decode() -> None:
    rec = tiny_record(seed=7)
    banda = replace(rec, credential=replace(rec.credential, lectura_reverso="banda_mrz"))
    obj = cbor2.loads(encode_record(banda))
    assert obj["cred"]["lectura_reverso"] == "banda_mrz"            # a text key of the cred map
    assert decode_record(encode_record(banda)).credential.lectura_reverso == "banda_mrz"
    unconfirmed = replace(rec, credential=replace(rec.credential, lectura_reverso="contorno_sin_confirmar"))
    assert decode_record(encode_record(unconfirmed)).credential.lectura_reverso == "contorno_sin_confirmar"
    # A record from a device that did not say it (the key absent) reads as "" (not said).
    del obj["cred"]["lectura_reverso"]
    assert decode_record(cbor2.dumps(obj)).credential.lectura_reverso == ""
    # And a reader ignores cred keys it does not know, as it ignores record keys (§2).
    obj["cred"]["otro_dato"] = "x"
    assert decode_record(cbor2.dumps(obj)).credential == replace(banda.credential, lectura_reverso="")


def test_a_name_the_mrz_may_have_cut_round_trips_and_older_records_read_as_whole() -> None:
    rec = tiny_record(seed=8)
    assert not rec.credential.nombre_truncado
    assert "nombre_truncado" not in cbor2.loads(encode_record(rec))["cred"]   # written only when true
    cut = replace(rec, credential=replace(rec.credential, nombre="PERSONA EJEMPL", nombre_truncado=True))
    obj = cbor2.loads(encode_record(cut))
    assert obj["cred"]["nombre_truncado"] is True and obj["cred"]["nombre"] == "PERSONA EJEMPL"
    back = decode_record(encode_record(cut))
    assert back == cut and back.credential.nombre_truncado is True
    # A record from an older device (no key) reads as not cut; any other type is malformed.
    del obj["cred"]["nombre_truncado"]
    assert decode_record(cbor2.dumps(obj)).credential == replace(cut.credential, nombre_truncado=False)
    for bad in ("true", 1, None):
        obj["cred"]["nombre_truncado"] = bad
        with pytest.raises(RecordFormatError, match="nombre_truncado"):
            decode_record(cbor2.dumps(obj))


def test_a_self_service_record_round_trips_and_an_auxiliarys_bytes_are_unchanged() -> None:
    rec = tiny_record(seed=9)
    plain = cbor2.loads(encode_record(rec))
    assert "by" not in plain and "act" not in plain          # written only when set
    citizen = replace(rec, auxiliary_id="", captured_by="ciudadano", activation="K7Q2M9XBT4RC")
    obj = cbor2.loads(encode_record(citizen))
    assert obj["by"] == "ciudadano" and obj["act"] == "K7Q2M9XBT4RC" and obj["aux"] == ""
    back = decode_record(encode_record(citizen))
    assert back == citizen and back.captured_by == "ciudadano" and back.activation == "K7Q2M9XBT4RC"
    # A record of an older device (neither key) reads as an auxiliary's; a wrong type is malformed.
    assert decode_record(encode_record(rec)).captured_by == ""
    obj["by"] = 1
    with pytest.raises(RecordFormatError, match="'by' and 'act'"):
        decode_record(cbor2.dumps(obj))
