"""Sealing: HPKE to the server key, Ed25519-signed envelope; only the server can open."""

from __future__ import annotations

import ast
import uuid
from dataclasses import replace
from pathlib import Path

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

import sync
from sync.wire import envelope as env
from sync.wire.envelope import CLASSIC, HYBRID
from sync.wire.envelope_open import ServerPrivateKey, open_envelope, verify_envelope
from sync.wire.errors import EnvelopeDecryptError, EnvelopeError, EnvelopeFormatError, EnvelopeSignatureError
from sync.wire.sealing import Sealer, ServerPublicKey
from tests.helpers.outbox import make_keys, tiny_record

SYNC_DIR = Path(sync.__file__).parent


@pytest.mark.parametrize("suite", [HYBRID, CLASSIC], ids=lambda s: s.name)
def test_round_trip_seal_on_device_open_on_server(suite: env.SuiteSpec) -> None:
    keys = make_keys(suite)
    rec = replace(tiny_record(seed=1), folio="7KQ2-00001-X")
    sealed = keys.sealer().seal(rec, created_ms=1_790_000_000_500)
    opened = keys.open(sealed.data)
    assert opened.record == rec
    assert opened.sha256 == sealed.sha256 == env.envelope_hash(sealed.data)
    h = opened.header
    assert (h.record_id, h.device_id, h.folio, h.created_ms) == (
        rec.record_id, "dev-0001", rec.folio, 1_790_000_000_500)
    assert h.suite == suite and len(h.enc) == {HYBRID: 1120, CLASSIC: 32}[suite]
    # The plaintext appears nowhere in the envelope.
    assert rec.credential.cic.encode() not in sealed.data
    assert rec.images[0].data[:64] not in sealed.data


def test_same_record_seals_differently_each_time() -> None:
    keys = make_keys()
    rec = tiny_record(seed=2)
    a, b = keys.sealer().seal(rec), keys.sealer().seal(rec)
    assert a.data != b.data and a.header.enc != b.header.enc


def test_device_side_offers_no_open() -> None:
    sealer = make_keys().sealer()
    public_api = {n for n in dir(sealer) if not n.startswith("__")}
    assert not {n for n in public_api if "open" in n or "decrypt" in n}
    assert not hasattr(sealer.server_key, "hpke_private_key")
    # The device holds only the public half: no private sealing key in the Sealer.
    for value in vars(sealer).values():
        assert not isinstance(value, ServerPrivateKey)
    # Only the server-only module may call HPKE decrypt or import the private key type.
    for path in SYNC_DIR.glob("*.py"):
        if path.name == "envelope_open.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                assert node.attr != "decrypt", f"{path.name} calls decrypt"
            if isinstance(node, ast.ImportFrom) and node.module:
                assert "envelope_open" not in node.module, f"{path.name} imports envelope_open"


@pytest.mark.parametrize("suite", [HYBRID, CLASSIC], ids=lambda s: s.name)
def test_every_byte_of_the_envelope_is_protected(suite: env.SuiteSpec) -> None:
    """Flip each byte in turn (header, suite, key id, enc, ciphertext, tag, signature):
    the server must refuse every single variant."""
    keys = make_keys(suite)
    sealed = keys.sealer().seal(tiny_record(seed=3, image_bytes=200))
    data = sealed.data
    assert len(data) > 1500
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x01 if i % 2 else 0x80
        with pytest.raises(EnvelopeError):
            keys.open(bytes(bad))
    assert keys.open(data).record.record_id == sealed.header.record_id


def test_hybrid_envelope_regions_are_protected() -> None:
    keys = make_keys(HYBRID)
    sealed = keys.sealer().seal(tiny_record(seed=4))
    data = sealed.data
    body, sig = env.split(data)
    h = env.parse_body(body)
    regions = {"enc": h.enc, "ct": h.ct, "sig": sig}
    positions = list(range(0, 64))  # outer and body headers, record id, device id...
    for blob in regions.values():
        start = data.index(blob)
        positions += [start, start + len(blob) // 2, start + len(blob) - 1]
    for i in positions:
        bad = bytearray(data)
        bad[i] ^= 0x04
        with pytest.raises(EnvelopeError):
            keys.open(bytes(bad))
    with pytest.raises(EnvelopeFormatError):
        keys.open(data + b"\x00")
    with pytest.raises(EnvelopeFormatError):
        keys.open(data[:-1])


def _resign(keys, h: env.EnvelopeHeader) -> bytes:  # type: ignore[no-untyped-def]
    body = env.encode_body(h)
    return env.join(body, keys.device_sign.sign(env.SIGN_CONTEXT + body))


def test_hpke_context_binds_record_id_and_device_id() -> None:
    """Even someone holding the device's signing key cannot move a ciphertext to another
    record id or device: HPKE info binds them, so the AEAD fails."""
    keys = make_keys()
    sealed = keys.sealer().seal(tiny_record(seed=5))
    h = sealed.header
    moved = _resign(keys, replace(h, record_id=uuid.UUID(int=h.record_id.int ^ 1)))
    with pytest.raises(EnvelopeDecryptError):
        keys.open(moved)
    keys.device_id = "dev-0002"
    with pytest.raises(EnvelopeDecryptError):
        keys.open(_resign(keys, replace(h, device_id="dev-0002")))


def test_header_must_agree_with_sealed_record() -> None:
    keys = make_keys()
    sealed = keys.sealer().seal(replace(tiny_record(seed=6), folio="7KQ2-00001-X"))
    with pytest.raises(EnvelopeFormatError, match="disagrees"):
        keys.open(_resign(keys, replace(sealed.header, folio="7KQ2-00002-X")))


def test_wrong_keys_are_refused() -> None:
    keys = make_keys()
    sealed = keys.sealer().seal(tiny_record(seed=7))
    other_server = ServerPrivateKey.generate(HYBRID)
    with pytest.raises(EnvelopeDecryptError, match="no server key"):
        open_envelope(sealed.data, [other_server], keys.device_lookup)
    with pytest.raises(EnvelopeSignatureError, match="unknown device"):
        open_envelope(sealed.data, [keys.server_seal], lambda _d: None)
    impostor = ed25519.Ed25519PrivateKey.generate().public_key()
    with pytest.raises(EnvelopeSignatureError):
        verify_envelope(sealed.data, lambda _d: impostor)
    # Key rotation: the server may hold several keys; the key id picks the right one.
    opened = open_envelope(sealed.data, [other_server, keys.server_seal], keys.device_lookup)
    assert opened.header.record_id == sealed.header.record_id


def test_record_for_another_device_is_not_sealed() -> None:
    keys = make_keys()
    with pytest.raises(ValueError, match="device"):
        keys.sealer().seal(tiny_record(device_id="dev-0002"))


def test_public_key_wire_form() -> None:
    sk = ServerPrivateKey.generate(HYBRID)
    pk = sk.public_key()
    assert len(pk.raw) == 1216 and len(pk.key_id) == 8
    assert ServerPublicKey(HYBRID, pk.raw).key_id == pk.key_id
    with pytest.raises(ValueError):
        ServerPublicKey(HYBRID, pk.raw[:32])
    assert len(ServerPrivateKey.generate(CLASSIC).public_key().raw) == 32
    Sealer("dev-0001", ed25519.Ed25519PrivateKey.generate(), pk)


def test_envelope_layout_is_as_documented() -> None:
    keys = make_keys()
    sealed = keys.sealer().seal(replace(tiny_record(seed=8), folio="7KQ2-00003-Q"),
                                created_ms=123)
    outer = cbor2.loads(sealed.data)
    assert isinstance(outer, list) and len(outer) == 2 and len(outer[1]) == 64
    body = cbor2.loads(outer[0])
    assert body[0] == 1 and body[1] == sealed.header.record_id.bytes
    assert body[2:5] == ["dev-0001", "7KQ2-00003-Q", 123]
    assert body[5] == [0x647A, 0x0001, 0x0002]
    assert body[6] == keys.server_seal.public_key().key_id
    keys.device_sign.public_key().verify(outer[1], b"fieldkit/v1/envelope\x00" + outer[0])
    info = b"fieldkit/v1/record\x00\x01" + body[1] + b"dev-0001"
    assert env.hpke_info(sealed.header.record_id, "dev-0001") == info
