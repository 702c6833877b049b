"""Kiosk-side test helpers: a provisioned device for saving (keys + config, no server
needed), and drafts built from generated cards exactly as the capture screens would."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from kiosk.capture.flow import Draft
from kiosk.capture.save import read_front
from kiosk.cardread.credential import BackReading, read_back
from kiosk.testdata.cards import sample_card
from kiosk.testdata.selfies import make_selfie
from kiosk.testdata.signatures import make_signature
from kiosk.vision.card import CardFind
from kiosk.vision.integrity import check_integrity
from kiosk.vision.liveness import assess_selfie
from server_stub.deploy import keys as server_keys
from sync.device.config import DeviceConfig, load_config
from sync.outbox.keyfile import create_key_file
from sync.wire.envelope import CLASSIC
from sync.wire.envelope_open import ServerPrivateKey, open_envelope
from sync.wire.record import Record

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "device.example.toml"
NOW_YEAR = 2026
PROCESS, ASPIRANT, AUXILIARY = "ci-2027-df-0901", "asp-0001", "aux-0001"


def _q(p: Path | str) -> str:
    return '"' + str(p).replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class SaveDevice:
    """A device as provisioning leaves it, plus the server's private sealing key to open records."""

    __test__ = False
    root: Path
    config_path: Path
    config: DeviceConfig
    server_key: ServerPrivateKey
    signing_key: ed25519.Ed25519PrivateKey

    def open(self, envelope: bytes) -> Record:
        pub = self.signing_key.public_key()
        return open_envelope(envelope, [self.server_key],
                             lambda d: pub if d == self.config.device.id else None).record


def provision(root: Path, device_id: str = "fk-test-0001", folio_prefix: str = "T1") -> SaveDevice:
    """Keys and a device.toml in ``root`` (x25519 sealing: fast); the outbox is made at first save."""
    kdir = root / "keys"
    kdir.mkdir(parents=True, exist_ok=True)
    seal = ServerPrivateKey.generate(CLASSIC)
    server_keys.write_seal_keys(kdir / "server-seal.key", kdir / "server-seal.pub", seal)
    ack = ed25519.Ed25519PrivateKey.generate()
    server_keys.write_sign_keys(kdir / "server-sign.key", kdir / "server-sign.pub", ack)
    sign = ed25519.Ed25519PrivateKey.generate()
    (kdir / "device-sign.key").write_bytes(sign.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (kdir / "device-sign.key").chmod(0o600)
    create_key_file(kdir / "outbox.key")
    lines = [
        "[device]", f'id = "{device_id}"', f'folio_prefix = "{folio_prefix}"', 'data_dir = "data"',
        "[server]", 'https_url = "https://127.0.0.1:9"', 'transport = "https"', 'seal_suite = "x25519"',
        "[keys]", 'ca = "keys/ca.pem"', 'client_cert = "keys/device.crt"', 'client_key = "keys/device.key"',
        'signing_key = "keys/device-sign.key"', 'outbox_key = "keys/outbox.key"',
        'server_seal_public = "keys/server-seal.pub"', 'server_sign_public = "keys/server-sign.pub"', "",
    ]
    example = EXAMPLE.read_text()
    cfg_path = root / "device.toml"
    cfg_path.write_text("\n".join(lines) + example[example.index("[[processes]]"):])
    return SaveDevice(root, cfg_path, load_config(cfg_path), seal, sign)


def full_frame_find(img: np.ndarray) -> CardFind:
    h, w = img.shape[:2]
    return CardFind(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), 1.0, False, 1.0, "archivo")


@functools.cache
def card(seed: int, model: str | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    return sample_card(seed, model)


@functools.cache
def back_reading(seed: int, model: str | None = None) -> BackReading:
    _, back, _ = card(seed, model)
    return read_back(back, now_year=NOW_YEAR, find=full_frame_find(back))


def make_draft(seed: int = 1, *, liveness: object = None, consent: bool = True,
               email: str | None = "muestra@example.org") -> Draft:
    """A complete draft from generated card ``seed``, as the flow holds it at "Guardar"."""
    front, _back, truth = card(seed)
    reading = back_reading(seed)
    d = Draft(PROCESS, ASPIRANT, AUXILIARY, model=truth["model"])
    d.front, d.front_reading = front, read_front(front, truth["model"])
    d.card_photo_confirmed = True
    d.back, d.back_reading = reading.card, reading
    d.back_integrity = check_integrity(reading.card)  # as the back's capture measures it
    d.selfie, d.liveness = make_selfie(seed), liveness
    d.selfie_quality = assess_selfie(d.selfie)  # as the selfie's capture measures it
    d.signature = make_signature(seed)
    d.email, d.consent = email, consent
    return d
