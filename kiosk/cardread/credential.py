"""From a photo of a voter card's back to a checked credential.

`read_back(frame, now_year=...)` takes the card's pictures the reading path offers
(`kiosk.cardread.reading`: the outline found, the image that already is the card, the card
implied by the MRZ band located in the frame), and for each in turn decodes the QR
code(s), reads the MRZ, parses it into the credential's fields, names the model,
cross-checks the public QR's URL against the MRZ, pre-checks the sección against the
aspirant's scope, and decides; the first picture that reads wins, and the reading says
which PATH read it (`BackReading.path`). It is:

- refused (`refusal` set, a code of `kiosk.cardread.reasons`): a front shown
  instead (`es_frente`); a photo to retake (`borrosa`, `qr_ilegible`, `mrz_ilegible`,
  `cortada`, `sin_credencial`, `reverso_no_reconocido`); or INE's own `sin_qr`, only for a
  sharp back with neither QR nor MRZ band that looks like an IFE-era back (models C/D);
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

import cv2
import numpy as np

from kiosk.cardread.reading import (
    BACK,
    FRONT,
    PATH_MRZ_BAND,
    PATH_OUTLINE,
    PATH_OUTLINE_UNCONFIRMED,
    PATH_WHOLE,
    PATHS,
    CardView,
    SideCues,
    card_views,
    segmentation_distance,
    shown_side,
    side_cues,
)
from kiosk.cardread.reasons import Notice, unread_back_code
from kiosk.mrz import parse as M
from kiosk.mrz.reader import MrzRead, read_mrz
from kiosk.vision.card import CardFind, as_rgb, find_card
from kiosk.vision.card_agree import AGREE
from kiosk.vision.qr import QrResult, decode_qr
from kiosk.vision.quality import Quality, assess_frame

__all__ = ["ELLIPSIS", "BackReading", "IneFields", "Notice", "PublicUrl",
           "check_scope", "display_name", "identify_model", "ine_fields", "parse_public_url", "read_back"]
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
    # The MRZ's name line may hold a cut name (kiosk.mrz.parse.name_cut): its last part, nombres
    # (or apellido_materno when the surnames fill the line), may be a prefix. Shown with "…".
    name_truncated: bool = False
    # With no given names read: whether the cut may have fallen inside the last surname (the
    # line is full, or ends in a single '<'). A line ending in "<<" proves the surnames ended:
    # only the given names can be missing.
    surname_cut: bool = False


ELLIPSIS = "…"


def display_name(fields: IneFields | None) -> str:
    """The citizen's name as screens show it: nombres, apellido paterno, apellido materno, the
    part the MRZ may have cut marked with "…" where the cut can be ("JESUS MANU… MUESTRA
    PRUEBA"; "… MUESTRA PRUEBA" when the given names were cut away whole); "" if not read."""
    if fields is None:
        return ""
    parts = [fields.nombres, fields.apellido_paterno, fields.apellido_materno]
    if fields.name_truncated:
        # The cut falls on the last part of line 3: the given names read, else the last surname
        # read when the line leaves it open, else the given names that did not fit at all.
        if fields.nombres:
            parts[0] += ELLIPSIS
        elif fields.surname_cut and (fields.apellido_materno or fields.apellido_paterno):
            cut = 2 if fields.apellido_materno else 1
            parts[cut] += ELLIPSIS
        else:
            parts[0] = ELLIPSIS
    return " ".join(x for x in parts if x)


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
    path: str = ""                          # the reading path of `card` (reading.PATHS), "" if none
    # False: read on an outline the card's segmentation did not confirm (`path` says
    # `contorno_sin_confirmar`); the kiosk looks again a few times before taking it.
    trusted: bool = True
    side: str = ""                          # reading.FRONT / BACK / UNKNOWN: which side the picture shows

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
        name_truncated=mrz.name_truncated,
        surname_cut=mrz.name_truncated and not mrz.nombres and not mrz.td1.lines[2].endswith("<<"),
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
              scope: ScopeLike | None = None, find: CardFind | None = None,
              paths: tuple[str, ...] = PATHS, located: bool = False) -> BackReading:
    """Everything the back of the card says, checked. `now_year` is the current year.

    `find`: the card's outline in this frame if the caller has it (`located=True`: the caller
    looked, and `find` is what it found, None included); `paths`: the reading paths to try.
    """
    frame = as_rgb(frame)
    if find is None and not located and (PATH_OUTLINE in paths or PATH_WHOLE in paths):
        find = find_card(frame)
    best: BackReading | None = None
    held: BackReading | None = None
    for view in card_views(frame, find, paths=paths, located=True):
        r = read_view(frame, view, now_year=now_year, secciones=secciones, scope=scope)
        if r.accepted:
            # The codes read, but an outline its segmentation disagrees with (a side on a print
            # line or a table's) would put a near-miss crop in the record: another view that
            # reads (an alternative outline, the MRZ band) is preferred; the data are the same.
            if view.path != PATH_OUTLINE or segmentation_distance(frame, view.find) <= AGREE:
                return r
            held = held or r
        elif best is None or _evidence(r) > _evidence(best):
            best = r
    if held is not None:
        held.trusted = False
        held.path = PATH_OUTLINE_UNCONFIRMED
        return held
    # Every view is tried before a front is concluded: an inner outline of a back (its MRZ
    # cut, fingers at its edge) can look like a front where the card's own outline reads.
    return best if best is not None else _no_card(frame, find)


def _evidence(r: BackReading) -> tuple[bool, int, bool]:
    """How much of a back a reading saw: a checked MRZ, QR codes, an MRZ band. A band found in
    the frame alone (`banda_mrz`) counts only when it read: lines of text can look like one."""
    band = r.mrz is not None and (r.path != PATH_MRZ_BAND or r.mrz.checks_ok)
    return (r.mrz is not None and r.mrz.checks_ok, len(r.qr.codes), band)


SMEARED_PX = 2.6      # frame blur no sharp back reaches (IFE backs <= 2.44 px, generated set)
MIN_CODE_BYTES = 20    # INE's public URL is ~60 bytes, the dense codes hundreds


def _card_codes(qr: QrResult) -> QrResult:
    """The codes a card could carry: a few bytes decoded from a speck of texture are not one."""
    codes = [c for c in qr.codes if len(c.data) >= MIN_CODE_BYTES]
    return qr if len(codes) == len(qr.codes) else QrResult(codes, qr.located, qr.stages_tried)


def _no_card(frame: np.ndarray, find: CardFind | None) -> BackReading:
    """No picture of the card to read: codes are still looked for in the whole frame."""
    qr = _card_codes(decode_qr(frame, None))
    out = BackReading(find, assess_frame(frame, find), qr, None, None, "?", None,
                      [c.data for c in qr.codes if c.is_binary])
    if find is not None and find.touches_border:
        out.refusal = Notice("cortada")
    else:
        out.refusal = Notice("mrz_ilegible" if qr.codes else "sin_credencial")
    return out


def read_view(frame: np.ndarray, view: CardView, *, now_year: int,
              secciones: Mapping[int, SeccionLike] | Iterable[SeccionLike] | None = None,
              scope: ScopeLike | None = None) -> BackReading:
    """The back as one picture (`reading.CardView`) shows it, checked."""
    quality = assess_frame(frame, view.find)
    card = view.card
    mrz = read_mrz(card)
    if view.mrz is not None and (mrz is None or (view.mrz.checks_ok, view.mrz.min_score)
                                 > (mrz.checks_ok, mrz.min_score)):
        mrz = view.mrz       # the band read in the frame beats the crop's read
    cues: SideCues | None = None
    if mrz is None:
        cues = side_cues(card)
    if cues is not None and shown_side(cues) == FRONT:
        qr = decode_qr(None, card, fast=True)      # a front: one quick look, not the whole cascade
    else:
        # The frame-to-crop homography lets the decoder go back to the camera's own pixels for
        # small blurred codes (the crop was resampled once already).
        hom = None
        if view.path != PATH_WHOLE:
            ch, cw = card.shape[:2]
            box = np.array([[0, 0], [cw, 0], [cw, ch], [0, ch]], np.float32)
            hom = cv2.getPerspectiveTransform(np.asarray(view.find.corners, np.float32), box)
        # The deblurring stage only where the MRZ read: a card back at a known scale, whose
        # support hangs on its QR (not a front, an IFE back, a view of something else).
        qr = decode_qr(None if view.path == PATH_WHOLE else frame, card, homography=hom,
                       deblur=mrz is not None and mrz.checks_ok)
    qr = _card_codes(qr)
    urls = [u for c in qr.codes if c.text and (u := parse_public_url(c.text))]
    public = urls[0] if urls else None
    dense = [c.data for c in qr.codes if c.is_binary]
    has_mrz = mrz is not None and mrz.checks_ok
    model = identify_model(qr, mrz is not None, card.shape[1])
    out = BackReading(view.find, quality, qr, mrz, None, model, public, dense, card=card, path=view.path,
                      side=BACK)
    blurred = "borrosa" in quality.reasons
    if not qr.codes:
        if cues is None:
            cues = side_cues(card)
        out.side = shown_side(cues, mrz_band=mrz is not None)
        if cues.barcode:
            # Sharp bars: a sharp photo, whatever the design (an IFE back's own print reads up to
            # ~2.4 px on the frame's measure); unless the frame is blurred beyond that: a card
            # shaken along its bars keeps them sharp while its codes smear.
            blurred = cues.bars_blurred or quality.metrics.get("blur", 0.0) >= SMEARED_PX
        code = unread_back_code(card_seen=True, mrz_band=mrz is not None, qr_seen=cues.qr_seen,
                                side=out.side, blurred=blurred)
        out.refusal = Notice(code)
        if code == "sin_qr":
            out.model = "C/D"
            out.flags.append(Notice("modelo_ife"))
        elif mrz is None:
            out.model = "?"
        return out
    parsed: M.IneMrz | None = None
    if has_mrz:
        assert mrz is not None
        try:
            parsed = M.parse_ine_mrz(list(mrz.lines))
        except M.MrzFormatError:
            parsed = None
    if parsed is None:
        out.refusal = Notice("borrosa" if blurred else "mrz_ilegible")
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
