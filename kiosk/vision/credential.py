"""From a photo of a voter card's back to a checked credential.

`read_back(frame, now_year=...)` finds and straightens the card, decodes its
QR code(s), reads the MRZ, parses it into the credential's fields, names the
model, cross-checks the public QR's URL against the MRZ, pre-checks the
sección against the aspirant's scope, and decides:

- refused (`refusal` set): no QR on the back (INE's own message; IFE models
  C/D land here too); or, asking for another photo, a QR that is there but
  unreadable, or an MRZ that could not be read with valid check digits;
- accepted, possibly with `flags`: vencida, QR that disagrees with the MRZ,
  sección outside the scope or not in the device's table.

Pure: "now" and the sección table come in as arguments, as plain data
(anything with the attributes of `sync.device.config.Seccion` / `Scope` will do).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from kiosk.vision import mrz as M
from kiosk.vision.card import CardFind, find_card, straighten
from kiosk.vision.mrz_reader import MrzRead, read_mrz
from kiosk.vision.qr import QrResult, decode_qr
from kiosk.vision.quality import Quality, assess_frame

MSG_SIN_QR = "Sólo será posible captar las credenciales que cuenten al reverso con código QR"
MESSAGES = {
    "sin_qr": MSG_SIN_QR,
    "sin_credencial": "No se encontró la credencial en la imagen",
    "qr_ilegible": "No se pudo leer el código QR: tome otra foto del reverso",
    "mrz_ilegible": "No se pudo leer la zona de lectura mecánica: tome otra foto del reverso",
    "vencida": "La credencial ya no está vigente",
    "qr_no_coincide": "El código QR no coincide con los datos de la credencial",
    "fuera_de_ambito": "La sección de la credencial está fuera del ámbito geográfico del aspirante",
    "seccion_desconocida": "La sección de la credencial no está en la tabla del dispositivo",
    "modelo_ife": "Credencial del IFE (modelo C o D)",
}
_URL = re.compile(r"^https?://qr\.ine\.mx/(\d{24})/(\d{8})/([A-Z])/(\d+)/?$")


# Read-only members (properties), so frozen dataclasses (sync.device.config) match.
class SeccionLike(Protocol):
    @property
    def seccion(self) -> int: ...
    @property
    def entidad(self) -> int: ...
    @property
    def distrito_federal(self) -> int: ...
    @property
    def distrito_local(self) -> int: ...
    @property
    def municipio(self) -> int: ...


class ScopeLike(Protocol):
    @property
    def level(self) -> str: ...
    @property
    def entidad(self) -> int | None: ...
    @property
    def distrito_federal(self) -> int | None: ...
    @property
    def distrito_local(self) -> int | None: ...
    @property
    def municipio(self) -> int | None: ...


@dataclass(frozen=True)
class Notice:
    code: str

    @property
    def message(self) -> str:
        return MESSAGES[self.code]


@dataclass(frozen=True)
class IneFields:
    cic: str
    ocr: str
    seccion: str                 # first 4 OCR digits
    identificador: str           # last 9 OCR digits
    fecha_nacimiento: str        # YYYY-MM-DD (century inferred against now)
    sexo: str                    # H / M
    vigencia: int                # year
    emision: str                 # 2 digits (MRZ line 2 pos 20-21)
    apellido_paterno: str
    apellido_materno: str
    nombres: str


@dataclass(frozen=True)
class PublicUrl:
    url: str
    digits: str                  # the 24 digits
    date: str                    # YYYYMMDD
    letter: str
    tail: str

    def parts(self) -> dict[str, str]:
        """The inferred reading (docs/credential.md): OCR (13) + 2 digits + CIC (9)."""
        return {"ocr": self.digits[:13], "dos": self.digits[13:15], "cic": self.digits[15:]}


@dataclass
class BackReading:
    find: CardFind | None
    quality: Quality
    qr: QrResult
    mrz: MrzRead | None
    fields: IneFields | None
    model: str                   # "E/F", "G/H", "C/D" or "?"
    public_url: PublicUrl | None
    dense: list[bytes]           # G/H: the two encrypted codes, raw
    cross_check: dict[str, bool] = field(default_factory=dict)
    refusal: Notice | None = None
    flags: list[Notice] = field(default_factory=list)
    card: np.ndarray | None = None          # the straightened back, CARD_W x CARD_H RGB

    @property
    def accepted(self) -> bool:
        return self.refusal is None


def parse_public_url(text: str) -> PublicUrl | None:
    m = _URL.match(text.strip())
    return PublicUrl(text.strip(), *m.groups()) if m else None


def ine_fields(mrz: M.IneMrz, now_year: int) -> IneFields:
    yy, mm, dd = int(mrz.birth_date[:2]), mrz.birth_date[2:4], mrz.birth_date[4:6]
    century = 1900 if yy > now_year % 100 else 2000
    return IneFields(
        cic=mrz.cic, ocr=mrz.ocr, seccion=mrz.seccion, identificador=mrz.identificador,
        fecha_nacimiento=f"{century + yy:04d}-{mm}-{dd}", sexo=mrz.sex, vigencia=mrz.vigencia,
        emision=mrz.emision, apellido_paterno=mrz.apellido_paterno,
        apellido_materno=mrz.apellido_materno, nombres=mrz.nombres,
    )


def identify_model(qr: QrResult, has_mrz: bool, card_width: int | None = None) -> str:
    """E/F: one public QR; G/H: a public QR and two dense ones; C/D: neither QR nor MRZ.

    When only the public QR was read, its place tells the two apart: top left on E/F, right
    of the middle on G/H (docs/credential.md §10).
    """
    n_dense = sum(1 for c in qr.codes if c.is_binary)
    if n_dense or len(qr.codes) >= 2:
        return "G/H"
    if qr.codes:
        c = qr.codes[0]
        if card_width and c.source == "card" and c.box[0] + c.box[2] / 2 > 0.5 * card_width:
            return "G/H"
        return "E/F"
    return "?" if has_mrz else "C/D"


def check_scope(seccion: int, table: Mapping[int, SeccionLike] | Iterable[SeccionLike] | None,
                scope: ScopeLike | None) -> str | None:
    """None if inside the scope (or nothing to check against), else a flag code.

    Sección numbers repeat across entidades: the table is the device's own (provisioned for
    its aspirant), so a number is looked up there; the server's check is the authority.
    """
    if scope is None or scope.level == "nacional":
        return None
    if table is None:
        return None
    rows = table if isinstance(table, Mapping) else {r.seccion: r for r in table}
    row = rows.get(seccion)
    if row is None:
        return "seccion_desconocida"
    for attr in ("entidad", "distrito_federal", "distrito_local", "municipio"):
        want = getattr(scope, attr)
        if want is not None and getattr(row, attr) != want:
            return "fuera_de_ambito"
        if attr == scope.level:
            break
    return None


def read_back(frame: np.ndarray, *, now_year: int,
              secciones: Mapping[int, SeccionLike] | Iterable[SeccionLike] | None = None,
              scope: ScopeLike | None = None, find: CardFind | None = None) -> BackReading:
    """Everything the back of the card says, checked. `now_year` is the current year."""
    if find is None:
        find = find_card(frame)
    quality = assess_frame(frame, find)
    card = straighten(frame, find.corners) if find is not None and not find.touches_border else None
    qr = decode_qr(frame, card)
    mrz = read_mrz(card) if card is not None else None
    urls = [u for c in qr.codes if c.text and (u := parse_public_url(c.text))]
    public = urls[0] if urls else None
    dense = [c.data for c in qr.codes if c.is_binary]
    has_mrz = mrz is not None and mrz.checks_ok
    model = identify_model(qr, mrz is not None, None if card is None else card.shape[1])
    out = BackReading(find, quality, qr, mrz, None, model, public, dense, card=card)
    if not qr.codes:
        if find is None:
            out.refusal = Notice("sin_credencial")
            return out
        # A QR that is there but unreadable asks for another photo, not INE's refusal. Its
        # presence is implied by an MRZ (every model with one has a QR); zxing-cpp's located
        # symbols are not trusted for this (bars and fingerprints can look like finders).
        if mrz is not None:
            out.refusal = Notice("qr_ilegible")
            return out
        out.refusal = Notice("sin_qr")
        if model == "C/D":
            out.flags.append(Notice("modelo_ife"))
        return out
    parsed: M.IneMrz | None = None
    if has_mrz:
        assert mrz is not None
        try:
            parsed = M.parse_ine_mrz(list(mrz.lines))
        except M.MrzFormatError:
            parsed = None
    if parsed is None:
        out.refusal = Notice("mrz_ilegible")
        return out
    out.fields = f = ine_fields(parsed, now_year)
    if f.vigencia < now_year:
        out.flags.append(Notice("vencida"))
    if public is not None:
        p = public.parts()
        out.cross_check = {"cic": p["cic"] == f.cic, "ocr": p["ocr"] == f.ocr}
        if not all(out.cross_check.values()):
            out.flags.append(Notice("qr_no_coincide"))
    scope_flag = check_scope(int(f.seccion), secciones, scope)
    if scope_flag:
        out.flags.append(Notice(scope_flag))
    return out
