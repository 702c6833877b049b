"""ICAO 9303 TD1 machine-readable zone: check digits, composing and parsing.

The INE voter card (models E-H) carries a 3 x 30 TD1 zone on its back:

    line 1  IDMEX + CIC (9) + check + "<<" + OCR (13 = sección 4 + identificador 9)
    line 2  birth YYMMDD + check, sex H/M, expiry YYMMDD + check, "MEX", "<",
            emisión (2), "<<", 5 digits, "<", composite check
    line 3  PATERNO<MATERNO<<NOMBRES, "<"-padded, cut at 30 characters when longer
            (`name_cut`: whether the zone lets one tell)

The same check-digit code validates ICAO's own TD1 specimen (tests do both).
Pure functions; no OCR here (the reader that turns pixels into lines lives
beside this module).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

LINE_LEN = 30
_WEIGHTS = (7, 3, 1)
_VALID = re.compile(r"^[A-Z0-9<]{30}$")


def char_value(c: str) -> int:
    if c.isdigit():
        return ord(c) - 48
    if "A" <= c <= "Z":
        return ord(c) - 55  # A = 10 ... Z = 35
    if c == "<":
        return 0
    raise ValueError(f"carácter no válido en la zona MRZ: {c!r}")


def check_digit(data: str) -> str:
    """ICAO 9303 check digit: weights 7, 3, 1 repeating, sum mod 10."""
    return str(sum(char_value(c) * _WEIGHTS[i % 3] for i, c in enumerate(data)) % 10)


def mrz_name(text: str) -> str:
    """Upper-case A-Z only, as the MRZ writes names (Ñ -> N, accents dropped)."""
    decomposed = unicodedata.normalize("NFKD", text.upper())
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^A-Z]+", "<", ascii_only).strip("<")


def _pad(s: str, n: int = LINE_LEN) -> str:
    return (s + "<" * n)[:n]


@dataclass(frozen=True)
class Td1:
    """A TD1 zone split into its ICAO fields, with the result of each check."""

    lines: tuple[str, str, str]
    document_code: str
    issuing_state: str
    document_number: str
    optional1: str
    birth_date: str
    sex: str
    expiry_date: str
    nationality: str
    optional2: str
    primary_name: str
    secondary_name: str
    checks: dict[str, bool] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return all(self.checks.values())

    @property
    def name_truncated(self) -> bool:
        """Whether the name field (line 3) may have been cut: `name_cut`."""
        return name_cut(self.lines[2])

    @property
    def failed_checks(self) -> list[str]:
        return [k for k, ok in self.checks.items() if not ok]


class MrzFormatError(ValueError):
    pass


def parse_td1(lines: list[str] | tuple[str, ...]) -> Td1:
    """Split three TD1 lines into ICAO fields and verify every check digit."""
    if len(lines) != 3:
        raise MrzFormatError(f"se esperaban 3 líneas, hay {len(lines)}")
    l1, l2, l3 = (ln.strip().upper() for ln in lines)
    for i, ln in enumerate((l1, l2, l3), 1):
        if not _VALID.match(ln):
            raise MrzFormatError(f"la línea {i} no tiene 30 caracteres A-Z, 0-9 o '<': {ln!r}")
    doc_number, doc_check = l1[5:14], l1[14]
    birth, birth_check = l2[0:6], l2[6]
    expiry, expiry_check = l2[8:14], l2[14]
    composite = l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29]
    checks = {
        "document_number": _check_ok(doc_number, doc_check),
        "birth_date": _check_ok(birth, birth_check),
        "expiry_date": _check_ok(expiry, expiry_check),
        "composite": _check_ok(composite, l2[29]),
    }
    primary, _, secondary = l3.partition("<<")
    return Td1(
        lines=(l1, l2, l3),
        document_code=l1[0:2],
        issuing_state=l1[2:5],
        document_number=doc_number,
        optional1=l1[15:30],
        birth_date=birth,
        sex=l2[7],
        expiry_date=expiry,
        nationality=l2[15:18],
        optional2=l2[18:29],
        primary_name=primary.replace("<", " ").strip(),
        secondary_name=secondary.replace("<", " ").strip(),
        checks=checks,
    )


def name_cut(line3: str) -> bool:
    """Whether a TD1 name line may hold a cut name: True unless its filler proves the name ended.

    A name longer than the field is cut at 30 characters, with no mark. What the filler at the
    end tells: two or more '<' after a given name cannot be a cut (inside a part of the name the
    separator is a single '<', and "<<" comes once, before the given names), so the name is whole.
    A full line, or one '<' at the end (a cut may fall just after a space), or no given names
    with two '<' or fewer (a cut at or before the "<<"), may be a cut name, or a name that
    happens to fill the field: the zone cannot tell them apart, so both are "possibly cut".
    """
    room = len(line3) - len(line3.rstrip("<"))
    _, sep, given = line3.rstrip("<").partition("<<")
    return room < 2 or (room < 3 and not (sep and given.strip("<")))


def _check_ok(data: str, digit: str) -> bool:
    if not digit.isdigit():
        return False
    try:
        return check_digit(data) == digit
    except ValueError:
        return False


@dataclass(frozen=True)
class IneMrz:
    """What an INE card's MRZ says, in the credential's own terms."""

    cic: str                  # código de identificación de la credencial, 9 digits
    ocr: str                  # 13 digits: sección (4) + identificador ciudadano (9)
    birth_date: str           # YYMMDD
    sex: str                  # "H" hombre, "M" mujer (INE's letters, not ICAO's)
    expiry_date: str          # YYMMDD, 31 December of the vigencia year
    emision: str              # 2 digits
    extra: str                # the 5 digits after the emisión
    apellido_paterno: str
    apellido_materno: str
    nombres: str
    td1: Td1

    @property
    def seccion(self) -> str:
        return self.ocr[:4]

    @property
    def identificador(self) -> str:
        return self.ocr[4:]

    @property
    def vigencia(self) -> int:
        return 2000 + int(self.expiry_date[:2])

    @property
    def name_truncated(self) -> bool:
        """Whether the name may have been cut to fit line 3 (`name_cut`): its last part,
        `nombres` (or `apellido_materno` when the surnames fill the line), may be a prefix."""
        return self.td1.name_truncated


def compose_ine_td1(
    *,
    cic: str,
    ocr: str,
    birth_date: str,
    sex: str,
    expiry_date: str,
    emision: str,
    extra: str,
    apellido_paterno: str,
    apellido_materno: str,
    nombres: str,
) -> tuple[str, str, str]:
    """The three MRZ lines of an INE card (models E-H) with correct check digits."""
    if not (re.fullmatch(r"\d{9}", cic) and re.fullmatch(r"\d{13}", ocr)):
        raise ValueError("CIC debe tener 9 dígitos y OCR 13")
    if sex not in ("H", "M"):
        raise ValueError("sexo debe ser H o M")
    if not (re.fullmatch(r"\d{2}", emision) and re.fullmatch(r"\d{5}", extra)):
        raise ValueError("emisión debe tener 2 dígitos y el campo siguiente 5")
    l1 = f"IDMEX{cic}{check_digit(cic)}<<{ocr}"
    head = f"{birth_date}{check_digit(birth_date)}{sex}{expiry_date}{check_digit(expiry_date)}MEX"
    opt2 = f"<{emision}<<{extra}<"
    composite = check_digit(l1[5:30] + head[0:7] + head[8:15] + opt2)
    l2 = head + opt2 + composite
    surnames = mrz_name(apellido_paterno) + "<" + mrz_name(apellido_materno)
    l3 = _pad(surnames + "<<" + mrz_name(nombres))
    assert len(l1) == len(l2) == LINE_LEN
    return l1, l2, l3


def parse_ine_mrz(lines: list[str] | tuple[str, ...]) -> IneMrz:
    """Parse an INE TD1 zone; raises MrzFormatError if it is not one."""
    td1 = parse_td1(lines)
    l1 = td1.lines[0]
    if td1.document_code != "ID" or td1.issuing_state != "MEX":
        raise MrzFormatError(f"no es una credencial INE (empieza {l1[:5]!r}, se esperaba 'IDMEX')")
    if not re.fullmatch(r"<<\d{13}", td1.optional1):
        raise MrzFormatError("la línea 1 no termina en '<<' + OCR de 13 dígitos")
    m = re.fullmatch(r"<(\d{2})<<(\d{5})<", td1.optional2)
    if not m:
        raise MrzFormatError("la línea 2 no tiene emisión y folio en el formato INE")
    paterno, _, materno = td1.primary_name.partition(" ")
    return IneMrz(
        cic=td1.document_number,
        ocr=td1.optional1[2:],
        birth_date=td1.birth_date,
        sex=td1.sex,
        expiry_date=td1.expiry_date,
        emision=m.group(1),
        extra=m.group(2),
        apellido_paterno=paterno,
        apellido_materno=materno.strip(),
        nombres=td1.secondary_name,
        td1=td1,
    )
