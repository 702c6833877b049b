"""Acknowledgements: only a genuine ack for this device, this record and this envelope
erases anything; every attack erases nothing."""

from __future__ import annotations

from pathlib import Path

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from sync.outbox.outbox import Outbox, OutboxItem
from sync.wire.ack import Ack, AckVerifier, parse_ack, sign_ack
from sync.wire.errors import AckReason, AckRejected
from tests.helpers.outbox import Keys, fresh_uuid, make_keys, new_outbox, tiny_record


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Keys, Outbox, list[OutboxItem]]:
    keys = make_keys()
    ob, _ = new_outbox(tmp_path, keys)
    for i in range(3):
        ob.put(tiny_record(seed=i), keys.sealer())
    items = ob.next_batch(10)
    yield keys, ob, items
    ob.close()


def _snapshot(ob: Outbox) -> tuple[list[str], object]:
    return ob.folios(), ob.counts()


def test_genuine_ack_erases_exactly_its_record(setup) -> None:  # type: ignore[no-untyped-def]
    keys, ob, items = setup
    ack = ob.acknowledge(keys.ack_for(items[1]), keys.verifier())
    assert ack.record_id == items[1].record_id and ack.verdict == "recibido"
    assert ob.folios() == [items[0].folio, items[2].folio]
    c = ob.counts()
    assert (c.pending, c.acked_total, c.put_total) == (2, 1, 3)


def _bit_flip(data: bytes, i: int) -> bytes:
    b = bytearray(data)
    b[i] ^= 0x01
    return bytes(b)


ATTACKS = {
    "forged: signed by another key": (
        lambda k, it: k.ack_for(it, key=ed25519.Ed25519PrivateKey.generate()),
        AckReason.BAD_SIGNATURE),
    "forged: trusted key id, wrong key": (
        lambda k, it: _swap_sig(k.ack_for(it), ed25519.Ed25519PrivateKey.generate()),
        AckReason.BAD_SIGNATURE),
    "signature bit flipped": (lambda k, it: _bit_flip(k.ack_for(it), -1), AckReason.BAD_SIGNATURE),
    "body bit flipped": (lambda k, it: _bit_flip(k.ack_for(it), 20), AckReason.BAD_SIGNATURE),
    "unsigned": (lambda k, it: cbor2.loads(k.ack_for(it))[0], AckReason.BAD_FORMAT),
    "zero signature": (lambda k, it: cbor2.dumps([cbor2.loads(k.ack_for(it))[0], bytes(64)]),
                       AckReason.BAD_SIGNATURE),
    "garbage": (lambda k, it: b"\x00garbage", AckReason.BAD_FORMAT),
    "empty": (lambda k, it: b"", AckReason.BAD_FORMAT),
    "another device's ack": (lambda k, it: k.ack_for(it, device_id="dev-0002"),
                             AckReason.WRONG_DEVICE),
    "unknown record": (lambda k, it: k.ack_for(it, record_id=fresh_uuid()),
                       AckReason.UNKNOWN_RECORD),
    "envelope hash mismatch": (lambda k, it: k.ack_for(it, envelope_sha256=bytes(32)),
                               AckReason.HASH_MISMATCH),
    "folio mismatch": (lambda k, it: k.ack_for(it, folio="7KQ2-00099-0"),
                       AckReason.FOLIO_MISMATCH),
}


def _swap_sig(ack: bytes, key: ed25519.Ed25519PrivateKey) -> bytes:
    body, _ = cbor2.loads(ack)
    return cbor2.dumps([body, key.sign(b"fieldkit/v1/ack\x00" + body)])


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack_erases_nothing(setup, attack: str) -> None:  # type: ignore[no-untyped-def]
    keys, ob, items = setup
    make, reason = ATTACKS[attack]
    before = _snapshot(ob)
    with pytest.raises(AckRejected) as ei:
        ob.acknowledge(make(keys, items[0]), keys.verifier())
    assert ei.value.reason == reason
    assert _snapshot(ob) == before
    # The genuine ack still works afterwards.
    ob.acknowledge(keys.ack_for(items[0]), keys.verifier())
    assert items[0].folio not in ob.folios()


def test_ack_for_other_record_hash_is_refused(setup) -> None:  # type: ignore[no-untyped-def]
    """An ack naming record A with record B's envelope hash (a server mix-up)."""
    keys, ob, items = setup
    before = _snapshot(ob)
    with pytest.raises(AckRejected) as ei:
        ob.acknowledge(keys.ack_for(items[0], envelope_sha256=items[1].envelope_sha256),
                       keys.verifier())
    assert ei.value.reason == AckReason.HASH_MISMATCH
    assert _snapshot(ob) == before


def test_replayed_ack_erases_nothing_more(setup) -> None:  # type: ignore[no-untyped-def]
    keys, ob, items = setup
    ack = keys.ack_for(items[0])
    ob.acknowledge(ack, keys.verifier())
    before = _snapshot(ob)
    with pytest.raises(AckRejected) as ei:
        ob.acknowledge(ack, keys.verifier())
    assert ei.value.reason == AckReason.UNKNOWN_RECORD
    assert _snapshot(ob) == before


def test_batch_ack_applies_good_ones_and_reports_bad(setup) -> None:  # type: ignore[no-untyped-def]
    keys, ob, items = setup
    acks = [keys.ack_for(items[0]), keys.ack_for(items[1], device_id="dev-0009"),
            keys.ack_for(items[2])]
    done, refused = ob.acknowledge_many(acks, keys.verifier())
    assert [a.record_id for a in done] == [items[0].record_id, items[2].record_id]
    assert [r.reason for r in refused] == [AckReason.WRONG_DEVICE]
    assert ob.folios() == [items[1].folio]


def test_verifier_for_another_device_cannot_be_used(setup) -> None:  # type: ignore[no-untyped-def]
    keys, ob, items = setup
    other = AckVerifier("dev-0002", [keys.server_ack.public_key()])
    with pytest.raises(Exception, match="another device"):
        ob.acknowledge(keys.ack_for(items[0], device_id="dev-0002"), other)
    assert len(ob.folios()) == 3


def test_rotated_server_keys() -> None:
    old, new = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    verifier = AckVerifier("dev-0001", [old.public_key(), new.public_key()])
    ack = Ack(fresh_uuid(), "dev-0001", "7KQ2-00001-X", 1, "recibido", "R1", bytes(32))
    for k in (old, new):
        assert verifier.verify(sign_ack(ack, k)).record_id == ack.record_id
    with pytest.raises(ValueError):
        AckVerifier("dev-0001", [])


def test_ack_layout_is_as_documented() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    rid = fresh_uuid()
    data = sign_ack(Ack(rid, "dev-0001", "7KQ2-00001-X", 5, "duplicado", "R9", b"\x11" * 32), key)
    body, sig = cbor2.loads(data)
    assert cbor2.loads(body) == [1, rid.bytes, "dev-0001", "7KQ2-00001-X", 5, "duplicado", "R9",
                                 b"\x11" * 32, parse_ack(data)[0].server_key_id]
    key.public_key().verify(sig, b"fieldkit/v1/ack\x00" + body)
    with pytest.raises(ValueError):
        sign_ack(Ack(rid, "d", "f", 1, "v", "r", b"short"), key)


def test_noncanonical_ack_is_refused(setup) -> None:  # type: ignore[no-untyped-def]
    keys, ob, items = setup
    good = keys.ack_for(items[0])
    with pytest.raises(AckRejected) as ei:
        ob.acknowledge(good + b"\x00", keys.verifier())
    assert ei.value.reason == AckReason.BAD_FORMAT
    assert len(ob.folios()) == 3
