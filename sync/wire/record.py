"""The record schema (format version 1) and its compact CBOR serialisation.

A record is everything captured for one citizen. It is serialised with CBOR
(RFC 8949): images and signature strokes are byte strings, never base64. The
layout is specified byte for byte in docs/protocol.md; readers dispatch on the
``v`` field so a server can read records from old devices.
"""

from __future__ import annotations

import enum
import re
import struct
import uuid
from dataclasses import dataclass, field
from typing import Any

import cbor2

from sync.wire.errors import RecordFormatError

FORMAT_VERSION = 1
# A signature point: x, y in tenths of a pad pixel (uint16), t in ms since the first
# point (uint32), pressure 0..65535 (uint16, 0 when the pad has no pressure). Little endian.
_POINT = struct.Struct("<HHIH")
# The acuse's address: one @, a dotted domain. Checked where it is typed and again at save.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[A-Za-z]{2,}$")


def valid_email(address: str) -> bool:
    """Whether `address` may go in a record's `email` field (the one rule, kiosk and save)."""
    return bool(_EMAIL.match(address))


class ImageKind(enum.StrEnum):
    CARD_FRONT = "card_front"
    CARD_BACK = "card_back"
    FACE_CROP = "face_crop"  # the portrait printed on the card
    SELFIE = "selfie"  # the live photo
    SIGNATURE = "signature"  # the rendered signature (PNG)


@dataclass(frozen=True, slots=True)
class EncodedImage:
    kind: ImageKind
    media_type: str  # "image/avif", "image/webp", "image/jpeg" or "image/png" (docs/protocol.md)
    width: int
    height: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Point:
    x: float  # pad pixels
    y: float
    t_ms: int  # since the signature's first point
    pressure: float | None = None  # 0..1, None when the input has no pressure


@dataclass(frozen=True, slots=True)
class Signature:
    width: int  # pad size in pixels
    height: int
    strokes: tuple[tuple[Point, ...], ...]
    has_pressure: bool = False


@dataclass(frozen=True, slots=True)
class Credential:
    """Fields parsed from the voter card. Empty string = not read."""

    model: str = ""  # "E", "F", "G" or "H", or the family "E/F" / "G/H" when only that is known
    cic: str = ""
    ocr: str = ""
    seccion: str = ""
    id_ciudadano: str = ""
    clave_elector: str = ""
    curp: str = ""
    nombre: str = ""
    apellido_paterno: str = ""
    apellido_materno: str = ""
    fecha_nacimiento: str = ""  # YYYY-MM-DD
    sexo: str = ""  # "H" or "M"
    vigencia: str = ""  # year
    emision: str = ""
    estado: str = ""
    municipio: str = ""
    localidad: str = ""
    domicilio: str = ""
    # How the back's image was obtained (BACK_READS): "contorno" (the card's outline found in the
    # photo), "imagen_completa" (the image was the card itself), "banda_mrz" (no outline: the
    # card placed from the MRZ band found in the photo), "contorno_sin_confirmar" (an outline the
    # card's segmentation did not confirm, the codes read on it, nothing better read after a few
    # looks). "" = not said (records of older devices).
    lectura_reverso: str = ""
    # The MRZ's name line may hold a cut name: its last part (`nombre`, or `apellido_materno` when
    # the surnames fill the line) may be a prefix. The fields hold what the MRZ gives; whoever
    # shows them adds "…". False = whole, or not said (records of older devices).
    nombre_truncado: bool = False
    mrz: tuple[str, ...] = ()  # the 3 TD1 lines as read
    qr: tuple[bytes, ...] = ()  # raw bytes of every QR decoded on the back


BACK_READS = ("contorno", "imagen_completa", "banda_mrz", "contorno_sin_confirmar")


@dataclass(frozen=True, slots=True)
class Check:
    """One liveness or quality result."""

    name: str
    passed: bool
    score: float | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Record:
    record_id: uuid.UUID
    device_id: str
    auxiliary_id: str
    process_id: str
    aspirant_id: str
    captured_at_ms: int  # Unix ms, UTC
    app_version: str
    credential: Credential
    images: tuple[EncodedImage, ...]
    signature: Signature
    checks: tuple[Check, ...] = ()
    email: str | None = None  # for the acuse de recibo, optional
    folio: str = ""  # assigned by the outbox in the same transaction as the save
    # Self-service (docs/self-service.md): `captured_by` "ciudadano" when the citizen captured
    # it on a self-service device (`auxiliary_id` then empty), "" for an auxiliary's capture;
    # `activation` the activation code as the citizen typed it (12 characters, normalised),
    # which only the server can check. Both written only when set.
    captured_by: str = ""
    activation: str = ""
    version: int = field(default=FORMAT_VERSION)

    def image(self, kind: ImageKind) -> EncodedImage:
        for img in self.images:
            if img.kind == kind:
                return img
        raise KeyError(kind)

    def image_bytes(self) -> int:
        return sum(len(i.data) for i in self.images)


# The cred map's text keys; `nombre_truncado` (a bool), `mrz` and `qr` are written apart.
_CRED_FIELDS = [f for f in Credential.__dataclass_fields__ if f not in ("nombre_truncado", "mrz", "qr")]


def pack_stroke(points: tuple[Point, ...], has_pressure: bool) -> bytes:
    if not points:
        return b""
    t0 = 0
    out = bytearray()
    for p in points:
        x = min(max(round(p.x * 10), 0), 0xFFFF)
        y = min(max(round(p.y * 10), 0), 0xFFFF)
        t = min(max(p.t_ms - t0, 0), 0xFFFFFFFF)
        pr = 0
        if has_pressure and p.pressure is not None:
            pr = min(max(round(p.pressure * 65535), 0), 0xFFFF)
        out += _POINT.pack(x, y, t, pr)
    return bytes(out)


def unpack_stroke(data: bytes, has_pressure: bool) -> tuple[Point, ...]:
    if len(data) % _POINT.size:
        raise RecordFormatError(f"stroke length {len(data)} is not a multiple of {_POINT.size}")
    return tuple(
        Point(x / 10, y / 10, t, (pr / 65535) if has_pressure else None)
        for x, y, t, pr in _POINT.iter_unpack(data)
    )


def record_to_cbor_obj(r: Record) -> dict[str, Any]:
    c = r.credential
    cred: dict[str, Any] = {k: getattr(c, k) for k in _CRED_FIELDS if getattr(c, k)}
    if c.nombre_truncado:  # written only when true, so a whole name costs no bytes
        cred["nombre_truncado"] = True
    cred["mrz"] = list(c.mrz)
    cred["qr"] = [bytes(q) for q in c.qr]
    s = r.signature
    out: dict[str, Any] = {
        "v": r.version,
        "id": r.record_id.bytes,
        "dev": r.device_id,
        "aux": r.auxiliary_id,
        "proc": r.process_id,
        "asp": r.aspirant_id,
        "t": r.captured_at_ms,
        "app": r.app_version,
        "folio": r.folio,
        "cred": cred,
        "img": [[i.kind.value, i.media_type, i.width, i.height, i.data] for i in r.images],
        "sig": {
            "w": s.width,
            "h": s.height,
            "pr": s.has_pressure,
            "st": [pack_stroke(st, s.has_pressure) for st in s.strokes],
        },
        "chk": [[k.name, k.passed, k.score, k.detail] for k in r.checks],
        "email": r.email,
    }
    if r.captured_by:  # absent for an auxiliary's capture: its bytes are as before
        out["by"] = r.captured_by
    if r.activation:
        out["act"] = r.activation
    return out


def encode_record(r: Record) -> bytes:
    """Deterministic CBOR of a record (version 1 layout)."""
    if r.version != FORMAT_VERSION:
        raise RecordFormatError(f"this device writes version {FORMAT_VERSION}, not {r.version}")
    return cbor2.dumps(record_to_cbor_obj(r), canonical=True)


def _req(m: dict[str, Any], key: str, typ: type | tuple[type, ...]) -> Any:
    if key not in m or not isinstance(m[key], typ) or isinstance(m[key], bool) != (typ is bool):
        raise RecordFormatError(f"record field {key!r} missing or not {typ}")
    return m[key]


def _decode_v1(m: dict[str, Any]) -> Record:
    cm = _req(m, "cred", dict)
    cut = cm.get("nombre_truncado", False)
    if not isinstance(cut, bool):
        raise RecordFormatError("cred field 'nombre_truncado' is not a bool")
    cred = Credential(
        **{k: str(cm.get(k, "")) for k in _CRED_FIELDS},
        nombre_truncado=cut,
        mrz=tuple(str(x) for x in cm.get("mrz", [])),
        qr=tuple(bytes(x) for x in cm.get("qr", [])),
    )
    images = []
    for item in _req(m, "img", list):
        if not (isinstance(item, list) and len(item) == 5 and isinstance(item[4], bytes)):
            raise RecordFormatError("malformed image entry")
        images.append(EncodedImage(ImageKind(item[0]), str(item[1]), int(item[2]),
                                   int(item[3]), item[4]))
    sm = _req(m, "sig", dict)
    has_pr = bool(sm.get("pr", False))
    sig = Signature(int(sm["w"]), int(sm["h"]),
                    tuple(unpack_stroke(b, has_pr) for b in sm.get("st", [])), has_pr)
    checks = tuple(Check(str(n), bool(p), None if s is None else float(s), str(d))
                   for n, p, s, d in m.get("chk", []))
    rid = _req(m, "id", bytes)
    if len(rid) != 16:
        raise RecordFormatError("record id must be 16 bytes")
    email = m.get("email")
    by, act = m.get("by", ""), m.get("act", "")
    if not isinstance(by, str) or not isinstance(act, str):
        raise RecordFormatError("record fields 'by' and 'act' must be text")
    return Record(
        record_id=uuid.UUID(bytes=rid),
        device_id=_req(m, "dev", str),
        auxiliary_id=_req(m, "aux", str),
        process_id=_req(m, "proc", str),
        aspirant_id=_req(m, "asp", str),
        captured_at_ms=_req(m, "t", int),
        app_version=_req(m, "app", str),
        credential=cred,
        images=tuple(images),
        signature=sig,
        checks=checks,
        email=None if email is None else str(email),
        folio=str(m.get("folio", "")),
        captured_by=by,
        activation=act,
        version=1,
    )


_DECODERS = {1: _decode_v1}


def decode_record(data: bytes) -> Record:
    """Parse a record of any version this code knows; unknown extra keys are ignored."""
    try:
        m = cbor2.loads(data)
    except Exception as e:  # cbor2 raises several types for garbage
        raise RecordFormatError(f"record is not valid CBOR: {e}") from e
    if not isinstance(m, dict) or not isinstance(m.get("v"), int):
        raise RecordFormatError("record is not a CBOR map with an integer 'v'")
    decoder = _DECODERS.get(m["v"])
    if decoder is None:
        raise RecordFormatError(f"unknown record format version {m['v']}")
    try:
        return decoder(m)
    except RecordFormatError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise RecordFormatError(f"malformed version {m['v']} record: {e}") from e
