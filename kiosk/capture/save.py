""""Guardar": the one code path from a finished `kiosk.capture.flow.Draft` to a folio.

    ctx = SaveContext.from_config(cfg)          # once, at start-up (opens the outbox)
    result = save_draft(flow.draft, ctx)        # on a worker thread; SaveError -> its `msg`
    flow.saved(result.folio)

`save_draft` validates the draft, builds the `sync.wire.record.Record` (credential
fields from the back's reading, the straightened card crops, the portrait
printed on the card, the selfie, the signature strokes and their rendering, the
checks: consent, card-photo confirmation, integrity, credential flags, selfie
quality, liveness), encodes the images in memory with `sync.wire.imaging`, seals it
to the server and commits it to the outbox in one transaction
(`Outbox.put`). Only then does it return the folio. Any problem raises
`SaveError` and stores nothing: its `msg` is what the screen says (a `save.*` code, or the
card's or the signature's own), and the technical cause (SQLCipher's or the key file's words, a
path) goes to the log only, never into a text the auxiliary reads.

Liveness: a `LivenessState` that PASSED is recorded as passed; anything else
(failed, pending) as not passed; `None` is recorded as *not performed* (check
`liveness`, passed false, detail `no_realizada`), never as passed.

The UI, the `fieldkit-kiosk capture` command and the demo all go through here.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from kiosk.capture.fit import fit_record
from kiosk.capture.flow import Draft
from kiosk.capture.signature import signature_problem
from kiosk.cardread.credential import BackReading
from kiosk.cardread.reasons import msg_code
from kiosk.vision.face import CardPhoto, find_card_photo
from kiosk.vision.integrity import IntegrityResult, check_integrity
from kiosk.vision.liveness import LivenessState, SelfieQuality, Verdict, assess_selfie
from sync.common.msg import Msg
from sync.common.version import package_version
from sync.device.config import DeviceConfig
from sync.outbox.errors import OutboxError, OutboxStateError
from sync.outbox.outbox import Outbox, OutboxCounts
from sync.wire.activation import CAPTURED_BY_CITIZEN
from sync.wire.envelope import MAX_RECORD_BYTES
from sync.wire.errors import SyncError
from sync.wire.ids import uuid7
from sync.wire.imaging import encode_image, render_signature
from sync.wire.record import Check, Credential, EncodedImage, ImageKind, Record, valid_email
from sync.wire.sealing import Sealer, ServerPublicKey, read_seal_public_file

CONSENT_TEXT_VERSION = "aviso-privacidad-v1"
MIN_IMAGE_SIDE = 64
_MODELS = ("E", "F", "G", "H")
_log = logging.getLogger(__name__)


class SaveError(Exception):
    """Nothing was stored. `msg` is what the screen says; `detail`, the technical cause (in
    English or the library's words, perhaps a path), is logged here and never shown."""

    def __init__(self, msg: Msg, detail: str = "") -> None:
        super().__init__(f"{msg.code}: {detail}" if detail else msg.code)
        self.msg, self.detail = msg, detail
        if detail:
            _log.error("save refused (%s): %s", msg.code, detail)

    @property
    def message(self) -> Msg:
        """`msg`, under the name the window's save path reads."""
        return self.msg


def _fail(code: str, detail: str = "", **args: Any) -> SaveError:
    return SaveError(Msg(code, args), detail)


@dataclass(frozen=True)
class SaveResult:
    folio: str
    record_id: uuid.UUID
    envelope_bytes: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class FrontReading:
    """What vision found on the straightened front: the printed portrait and integrity."""

    photo: CardPhoto | None
    integrity: IntegrityResult | None
    model: str | None = None         # "E".."H" when the layout told it, else None


def read_front(front: np.ndarray, model: str | None = None) -> FrontReading:
    """Portrait crop (kiosk.vision.face), integrity verdict (kiosk.vision.integrity) and, unless
    given, the model family from the layout ("E/F", "G/H"; None when unsure: the chooser asks)."""
    from kiosk.vision.front_model import front_model

    photo = find_card_photo(front)
    if model is None and photo is not None:
        model = front_model(front, photo)
    return FrontReading(photo, check_integrity(front), model)


def back_refusal(reading: BackReading | None) -> Msg | None:
    """Why the back cannot be saved, or None: no QR / old model, unreadable, expired."""
    if reading is None:
        return Msg("save.back_unread")
    if reading.refusal is not None:
        return Msg(reading.refusal.msg_code)
    if reading.fields is None:
        return Msg("save.back_data")
    if any(flag.code == "vencida" for flag in reading.flags):
        return Msg(msg_code("credencial_vencida"))
    return None


def load_seal_public(path: Path) -> ServerPublicKey:
    """The server's sealing key file: ``fieldkit-seal-public-v1 <suite> <base64>``."""
    try:
        return read_seal_public_file(path)
    except ValueError as e:
        raise _fail("save.server_key", f"{path}: {e}") from e


def load_signing_key(path: Path) -> ed25519.Ed25519PrivateKey:
    """The device's Ed25519 envelope-signing key (PKCS#8 PEM, mode 0600)."""
    try:
        if path.stat().st_mode & 0o077:
            raise _fail("save.signing_key", f"{path} must have mode 0600")
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as e:
        raise _fail("save.signing_key", f"cannot read {path}: {e}") from e
    except (ValueError, TypeError) as e:
        raise _fail("save.signing_key", f"{path} is not a valid PEM private key ({e})") from e
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise _fail("save.signing_key", f"{path} is not an Ed25519 key")
    return key


@dataclass
class SaveContext:
    """The device's sealing identity and its one outbox connection (guarded by a lock)."""

    device_id: str
    outbox: Outbox
    sealer: Sealer
    config: DeviceConfig | None = None
    app_version: str = "0+unknown"
    on_saved: list[Callable[[SaveResult], None]] = field(default_factory=list)
    max_record_bytes: int = MAX_RECORD_BYTES  # the record is shrunk to fit (kiosk/capture/fit.py)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_config(cls, cfg: DeviceConfig, *, create_outbox: bool = True) -> SaveContext:
        """Open the device's outbox with the key file (created empty on first use when
        `create_outbox`), load the signing key and the server's sealing key."""
        k = cfg.keys
        server_key = load_seal_public(k.server_seal_public)
        if server_key.suite.name != cfg.server.seal_suite:
            raise _fail("save.server_key", f"the server key is {server_key.suite.name} but the config "
                        f"asks for {cfg.server.seal_suite}")
        sealer = Sealer(cfg.device.id, load_signing_key(k.signing_key), server_key)
        path = cfg.device.outbox_path
        try:
            if path.exists() or not create_outbox:
                outbox = Outbox.open_with_key_file(path, k.outbox_key)
            else:
                from sync.outbox.keyfile import load_key

                path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    outbox = Outbox.create(path, load_key(k.outbox_key), cfg.device.id,
                                           cfg.device.folio_prefix)
                except OutboxStateError:  # another creator (the capture CLI) made it since exists()
                    outbox = Outbox.open_with_key_file(path, k.outbox_key)
        except (SyncError, OSError, ValueError) as e:  # ValueError: a bad folio prefix
            raise _fail("save.outbox", f"cannot open {path}: {e}") from e
        if outbox.device_id != cfg.device.id:
            outbox.close()
            raise _fail("save.outbox_other_device", f"{path} belongs to device {outbox.device_id}")
        return cls(cfg.device.id, outbox, sealer, cfg, package_version())

    def counts(self) -> OutboxCounts:
        with self._lock:
            return self.outbox.counts()

    def close(self) -> None:
        with self._lock:
            self.outbox.close()

    def __enter__(self) -> SaveContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()



# --- building the record ------------------------------------------------------------------

# An image's name as each refusal needs it: "Falta el frente…" names the part, "La imagen del
# frente…" names it after "de", which Spanish contracts with "el": so a code per sentence.
IMAGE_NAMES = {
    "front": ("save.image.front", "save.image_of.front"),
    "back": ("save.image.back", "save.image_of.back"),
    "selfie": ("save.image.selfie", "save.image_of.selfie"),
}


def _rgb(img: Any, part: str) -> np.ndarray:
    """`part`: the image's key in IMAGE_NAMES, named in the refusal."""
    name, of_name = IMAGE_NAMES[part]
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise _fail("save.image_missing", what=Msg(name))
    if min(img.shape[:2]) < MIN_IMAGE_SIDE:
        raise _fail("save.image_small", what=Msg(of_name))
    return np.ascontiguousarray(img)


def _check_people(draft: Draft, cfg: DeviceConfig | None) -> None:
    citizen = draft.captured_by == CAPTURED_BY_CITIZEN
    if citizen and (draft.auxiliary_id or not draft.activation):
        raise _fail("save.ids_missing", f"a citizen's capture with auxiliary {draft.auxiliary_id!r} "
                    f"and {'an' if draft.activation else 'no'} activation code")
    if not draft.process_id or not draft.aspirant_id or not (draft.auxiliary_id or citizen):
        raise _fail("save.ids_missing")
    if cfg is None:
        return
    try:
        proc = cfg.process(draft.process_id)
    except KeyError:
        raise _fail("save.process_unknown", process=draft.process_id) from None
    if proc.aspirant_id != draft.aspirant_id:
        raise _fail("save.aspirant_mismatch", aspirant=draft.aspirant_id, process=proc.id)
    if citizen:
        if not cfg.self_service.enabled:
            raise _fail("save.not_self_service", "captured_by ciudadano on a device not self-service")
        return
    aux = next((a for a in cfg.auxiliaries if a.id == draft.auxiliary_id), None)
    if aux is None:
        raise _fail("save.auxiliary_unknown", auxiliary=draft.auxiliary_id)
    if proc.id not in aux.processes:
        raise _fail("save.auxiliary_unassigned", auxiliary=aux.id, process=proc.id)


def credential_of(reading: BackReading, model: str | None) -> Credential:
    f = reading.fields
    assert f is not None
    # A letter from the chooser, or the family ("E/F", "G/H") that the front's layout
    # or the back's QR count tells; the back's family when the front told nothing.
    family = model or reading.model
    kept = family if family in _MODELS or family in ("E/F", "G/H") else ""
    return Credential(
        model=kept, cic=f.cic, ocr=f.ocr, seccion=f.seccion, id_ciudadano=f.identificador,
        nombre=f.nombres, apellido_paterno=f.apellido_paterno, apellido_materno=f.apellido_materno,
        nombre_truncado=f.name_truncated,
        fecha_nacimiento=f.fecha_nacimiento, sexo=f.sexo, vigencia=str(f.vigencia), emision=f.emision,
        mrz=tuple(reading.mrz.lines) if reading.mrz is not None else (),
        qr=tuple(bytes(c.data) for c in reading.qr.codes),
        lectura_reverso=reading.path,
    )


def liveness_check(verdict: Any) -> Check:
    """None = not performed (never passed); a LivenessState = its verdict."""
    if verdict is None:
        return Check("liveness", False, None, "no_realizada")
    if not isinstance(verdict, LivenessState):
        raise _fail("save.liveness_invalid", f"liveness is a {type(verdict).__name__}")
    passed = verdict.verdict == Verdict.PASSED
    state = "superada" if passed else ("fallida" if verdict.verdict == Verdict.FAILED else "incompleta")
    return Check("liveness", passed, round(verdict.progress, 3),
                 f"{state}: {verdict.challenge.value}: {verdict.code}")


def integrity_check(result: IntegrityResult, name: str) -> Check:
    """An integrity result as a record check (detail = verdict, and the reason when refused)."""
    return Check(name, result.passed, round(result.scores.get("periodic_peak", 0.0), 3),
                 result.verdict if result.passed else f"{result.verdict}: {result.reason}")


def selfie_check(quality: SelfieQuality) -> Check:
    return Check("selfie_quality", quality.ok, round(quality.scores.get("sharpness", 0.0), 3),
                 "; ".join(quality.codes))


def build_record(draft: Draft, ctx: SaveContext, now_ms: int | None = None) -> Record:
    """Validate the draft and build its record (not yet sealed, no folio). Raises SaveError."""
    if not isinstance(draft, Draft):
        raise _fail("save.nothing")
    if not draft.consent:
        raise _fail("save.no_consent")
    _check_people(draft, ctx.config)
    front = _rgb(draft.front, "front")
    back = _rgb(draft.back, "back")
    selfie = _rgb(draft.selfie, "selfie")
    reading = draft.back_reading
    if not isinstance(reading, BackReading):
        raise _fail("save.back_unread")
    if (why := back_refusal(reading)) is not None:
        raise SaveError(why)
    if (why := signature_problem(draft.signature)) is not None:
        raise SaveError(why)
    email = (draft.email or "").strip() or None
    if email is not None and not valid_email(email):
        raise _fail("capture.email_invalid")
    fr = draft.front_reading if draft.front_reading is not None else read_front(front)
    if not isinstance(fr, FrontReading):
        raise _fail("save.front_invalid", f"front reading is a {type(fr).__name__}")
    model = draft.model or fr.model

    checks = [
        Check("consent_biometric", True, None, f"{CONSENT_TEXT_VERSION}: rostro y firma"),
        Check("card_photo_confirmed", bool(draft.card_photo_confirmed), None,
              "" if draft.card_photo_confirmed else "no confirmada por el " + (
                  "ciudadano" if draft.captured_by == CAPTURED_BY_CITIZEN else "auxiliar")),
        Check("card_photo_found", fr.photo is not None, None if fr.photo is None
              else float(fr.photo.edges_found), "" if fr.photo else "no se encontró el retrato"),
    ]
    if fr.integrity is not None:
        checks.append(integrity_check(fr.integrity, "integrity_front"))
    back_integrity = draft.back_integrity if isinstance(draft.back_integrity, IntegrityResult) \
        else check_integrity(back)
    checks.append(integrity_check(back_integrity, "integrity_back"))
    flags = ",".join(f.code for f in reading.flags)
    checks.append(Check("credential", not reading.flags, None,
                        f"modelo {reading.model}" + (f"; avisos: {flags}" if flags else "")))
    if reading.cross_check:
        checks.append(Check("qr_mrz_match", all(reading.cross_check.values()), None,
                            ",".join(f"{k}={'si' if v else 'no'}" for k, v in reading.cross_check.items())))
    quality = draft.selfie_quality if isinstance(draft.selfie_quality, SelfieQuality) \
        else assess_selfie(selfie)
    checks.append(selfie_check(quality))
    checks.append(liveness_check(draft.liveness))

    try:
        images: list[EncodedImage] = [encode_image(front, ImageKind.CARD_FRONT),
                                      encode_image(back, ImageKind.CARD_BACK)]
        if fr.photo is not None and min(fr.photo.crop.shape[:2]) > 0:
            images.append(encode_image(np.ascontiguousarray(fr.photo.crop), ImageKind.FACE_CROP))
        images.append(encode_image(selfie, ImageKind.SELFIE))
        images.append(render_signature(draft.signature))
    except ValueError as e:
        raise _fail("save.record_invalid", f"images could not be encoded: {e}") from e
    return Record(
        record_id=uuid7(now_ms), device_id=ctx.device_id, auxiliary_id=draft.auxiliary_id,
        process_id=draft.process_id, aspirant_id=draft.aspirant_id,
        captured_at_ms=int(time.time() * 1000) if now_ms is None else now_ms,
        app_version=ctx.app_version, credential=credential_of(reading, model),
        images=tuple(images), signature=draft.signature, checks=tuple(checks), email=email,
        captured_by=draft.captured_by, activation=draft.activation)


def save_draft(draft: Draft, ctx: SaveContext) -> SaveResult:
    """Build, seal and commit one record in one outbox transaction; the folio. Raises SaveError."""
    t0 = time.perf_counter()
    record = build_record(draft, ctx)
    try:
        record = fit_record(record, ctx.max_record_bytes)
    except ValueError as e:
        raise _fail("save.too_large", f"record does not shrink to {ctx.max_record_bytes} bytes: {e}") from e
    try:
        with ctx._lock:
            put = ctx.outbox.put(record, ctx.sealer)
    except (OutboxError, SyncError, ValueError) as e:
        raise _fail("save.store_failed", f"outbox put failed: {type(e).__name__}: {e}") from e
    result = SaveResult(put.folio, put.record_id, put.envelope_bytes, time.perf_counter() - t0)
    for hook in list(ctx.on_saved):
        try:
            hook(result)
        except Exception:  # a hook (e.g. "send now") must never undo or hide a save
            logging.getLogger("fieldkit.kiosk").exception("on_saved hook failed")
    return result
