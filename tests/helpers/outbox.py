"""Shared helpers for the record / sealing / ack / outbox tests (real crypto, real SQLCipher)."""

from __future__ import annotations

import contextlib
import math
import os
import random
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from sync.outbox import sqlcipher_pages
from sync.outbox.keyfile import create_key_file
from sync.outbox.outbox import Outbox, OutboxItem
from sync.wire.ack import Ack, AckVerifier, sign_ack
from sync.wire.envelope import HYBRID, SuiteSpec
from sync.wire.envelope_open import OpenedEnvelope, ServerPrivateKey, open_envelope
from sync.wire.ids import uuid7
from sync.wire.record import Check, Credential, EncodedImage, ImageKind, Point, Record, Signature
from sync.wire.sealing import Sealer

DEVICE_ID = "dev-0001"


@dataclass
class Keys:
    device_id: str
    server_seal: ServerPrivateKey
    device_sign: ed25519.Ed25519PrivateKey
    server_ack: ed25519.Ed25519PrivateKey

    def sealer(self) -> Sealer:
        return Sealer(self.device_id, self.device_sign, self.server_seal.public_key())

    def verifier(self) -> AckVerifier:
        return AckVerifier(self.device_id, [self.server_ack.public_key()])

    def device_lookup(self, device_id: str) -> ed25519.Ed25519PublicKey | None:
        return self.device_sign.public_key() if device_id == self.device_id else None

    def open(self, envelope: bytes) -> OpenedEnvelope:
        return open_envelope(envelope, [self.server_seal], self.device_lookup)

    def ack_for(self, item: OutboxItem, **overrides: object) -> bytes:
        """What an honest server would send for ``item`` (fields overridable for attacks)."""
        fields = dict(record_id=item.record_id, device_id=self.device_id, folio=item.folio,
                      received_ms=item.created_ms + 1000, verdict="recibido",
                      receipt_id=f"R-{item.seq}", envelope_sha256=item.envelope_sha256)
        key = overrides.pop("key", self.server_ack)
        fields.update(overrides)
        return sign_ack(Ack(**fields), key)  # type: ignore[arg-type]


def make_keys(suite: SuiteSpec = HYBRID, device_id: str = DEVICE_ID) -> Keys:
    return Keys(device_id, ServerPrivateKey.generate(suite), ed25519.Ed25519PrivateKey.generate(),
                ed25519.Ed25519PrivateKey.generate())


def synthetic_signature(rng: random.Random, width: int = 600, height: int = 200,
                        pressure: bool = True) -> Signature:
    strokes = []
    t = 0
    for s in range(3):
        pts = []
        x0, y0 = 60 + 170 * s, 100 + rng.uniform(-20, 20)
        for i in range(60):
            t += rng.randint(6, 10)
            # On the wire grid (0.1 px, pressure in 1/65535) so round trips are exact.
            pts.append(Point(round(x0 + 2.2 * i + rng.uniform(-1, 1), 1),
                             round(y0 + 45 * math.sin(i / 6 + s) + rng.uniform(-1, 1), 1), t,
                             rng.randrange(20000, 60000) / 65535 if pressure else None))
        t += 150
        strokes.append(tuple(pts))
    return Signature(width, height, tuple(strokes), has_pressure=pressure)


def tiny_record(device_id: str = DEVICE_ID, seed: int = 0, image_bytes: int = 1500,
                citizen: dict[str, str] | None = None) -> Record:
    """A record with random bytes standing in for images: fast, for crypto/outbox tests."""
    rng = random.Random(seed)
    c = citizen or {}
    cred = Credential(model="H", cic=c.get("cic", f"{rng.randrange(10**9):09d}"),
                      ocr=f"{rng.randrange(10**13):013d}",
                      clave_elector=c.get("clave_elector", "ORVZLT63010909M218"),
                      nombre=c.get("nombre", "LETICIA"),
                      apellido_paterno=c.get("apellido_paterno", "ORTIZ"),
                      apellido_materno=c.get("apellido_materno", "VAZQUEZ"),
                      mrz=("IDMEX6048927963<<0384831568202", "6301097M2612317MEX<02<<46794<4",
                           "ORTIZ<VAZQUEZ<<LETICIA<<<<<<<<"),
                      qr=(rng.randbytes(160),))
    images = tuple(EncodedImage(k, "image/jpeg", 10, 10, rng.randbytes(image_bytes))
                   for k in (ImageKind.CARD_FRONT, ImageKind.CARD_BACK, ImageKind.SELFIE))
    return Record(record_id=uuid7(), device_id=device_id, auxiliary_id="aux-07",
                  process_id="proc-2027-ci", aspirant_id="asp-0042",
                  captured_at_ms=1_790_000_000_000 + seed, app_version="0.1.0",
                  credential=cred, images=images, signature=synthetic_signature(rng),
                  checks=(Check("liveness", True, 0.93, "blink"),),
                  email=c.get("email", "leticia.ortiz@example.org"))


def card_record(seed: int, device_id: str = DEVICE_ID) -> tuple[Record, dict]:
    """A realistic record: synthetic card (kiosk.testdata), astronaut selfie, signature."""
    import skimage.data

    from kiosk.testdata.cards import sample_card
    from sync.wire.imaging import encode_image, render_signature

    front, back, truth = sample_card(seed)
    x, y, w, h = truth["front"]["face_box"]
    c = truth["citizen"]
    sig = synthetic_signature(random.Random(seed))
    images = (
        encode_image(front, ImageKind.CARD_FRONT),
        encode_image(back, ImageKind.CARD_BACK),
        encode_image(front[y : y + h, x : x + w], ImageKind.FACE_CROP),
        encode_image(skimage.data.astronaut(), ImageKind.SELFIE),
        render_signature(sig),
    )
    cred = Credential(
        model=c["modelo"], cic=c["cic"], ocr=c["ocr"], seccion=f"{c['seccion']:04d}",
        id_ciudadano=c["identificador"], clave_elector=c["clave_elector"], curp=c["curp"],
        nombre=c["nombres"], apellido_paterno=c["apellido_paterno"],
        apellido_materno=c["apellido_materno"], fecha_nacimiento=c["fecha_nacimiento"],
        sexo=c["sexo"], vigencia=str(c["vigencia"]), emision=c["emision"],
        domicilio=c["domicilio"], mrz=tuple(truth["mrz"] or ()),
        qr=tuple(bytes.fromhex(q["payload"]) if q["mode"] == "bytes" else q["payload"].encode()
                 for q in truth["qr"]))
    rec = Record(record_id=uuid7(), device_id=device_id, auxiliary_id="aux-07",
                 process_id="proc-2027-ci", aspirant_id="asp-0042",
                 captured_at_ms=1_790_000_000_000, app_version="0.1.0", credential=cred,
                 images=images, signature=sig,
                 checks=(Check("liveness", True, 0.91, "turn-left"),
                         Check("sharpness_back", True, 412.0)),
                 email=f"{c['nombres']}.{c['apellido_paterno']}@example.org".lower().replace(" ", "."))
    return rec, truth


def new_outbox(tmp_path: Path, keys: Keys, prefix: str = "7KQ2",
               name: str = "outbox.db") -> tuple[Outbox, bytes]:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    key = create_key_file(tmp_path / "outbox.key")
    return Outbox.create(data / name, key, keys.device_id, prefix), key


def with_folio(rec: Record, folio: str) -> Record:
    return replace(rec, folio=folio)


def disk_views(data_dir: Path, key: bytes) -> list[tuple[str, bytes]]:
    """Everything on disk under ``data_dir``: every file's raw bytes, plus every decrypted
    page of each SQLCipher DB and of its WAL (stale frames and free pages included)."""
    views: list[tuple[str, bytes]] = []
    for p in sorted(data_dir.rglob("*")):
        if p.is_file():
            views.append((f"raw:{p.name}", p.read_bytes()))
    for db in sorted(data_dir.glob("*.db")):
        salt = sqlcipher_pages.read_salt(db)
        for page in sqlcipher_pages.db_pages(db, key):
            assert page.hmac_ok, f"{db.name} page {page.pgno} fails its HMAC"
            views.append((f"db:{db.name}:page{page.pgno}", page.plain))
        wal = Path(f"{db}-wal")
        for i, page in enumerate(sqlcipher_pages.wal_pages(wal, key, salt)):
            views.append((f"wal:{db.name}:frame{i}:page{page.pgno}", page.plain))
    return views


def find_in(views: list[tuple[str, bytes]], needle: bytes) -> list[str]:
    return [label for label, data in views if needle in data]


def text_needles(text: str) -> list[bytes]:
    return [text.encode("utf-8"), text.encode("utf-16-le"), text.encode("utf-16-be")]


def fresh_uuid() -> uuid.UUID:
    return uuid.UUID(bytes=os.urandom(16))


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A private tmpfs of ``size`` mounted at ``path`` (needs root; the tests run as root
    on the CI and the dev machines, and fall back to SQLite-level limits otherwise)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                   check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


def remount(path: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)
