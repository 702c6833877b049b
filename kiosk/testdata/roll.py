"""A synthetic electoral roll (lista nominal / padrón), reproducible from a seed.

Nothing here is a real person: names are drawn at random from lists of common
words, and every identifier is built from the random generator with the
formats INE uses (see docs/credential.md). The geography is synthetic too:
32 entidades with their real codes, but invented distritos, municipios and
secciones.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

# Entidad number -> (name on the card, CURP state code).
ENTIDADES: dict[int, tuple[str, str]] = {
    1: ("AGUASCALIENTES", "AS"), 2: ("BAJA CALIFORNIA", "BC"), 3: ("BAJA CALIFORNIA SUR", "BS"),
    4: ("CAMPECHE", "CC"), 5: ("COAHUILA", "CL"), 6: ("COLIMA", "CM"), 7: ("CHIAPAS", "CS"),
    8: ("CHIHUAHUA", "CH"), 9: ("CIUDAD DE MEXICO", "DF"), 10: ("DURANGO", "DG"),
    11: ("GUANAJUATO", "GT"), 12: ("GUERRERO", "GR"), 13: ("HIDALGO", "HG"), 14: ("JALISCO", "JC"),
    15: ("MEXICO", "MC"), 16: ("MICHOACAN", "MN"), 17: ("MORELOS", "MS"), 18: ("NAYARIT", "NT"),
    19: ("NUEVO LEON", "NL"), 20: ("OAXACA", "OC"), 21: ("PUEBLA", "PL"), 22: ("QUERETARO", "QT"),
    23: ("QUINTANA ROO", "QR"), 24: ("SAN LUIS POTOSI", "SP"), 25: ("SINALOA", "SL"),
    26: ("SONORA", "SR"), 27: ("TABASCO", "TC"), 28: ("TAMAULIPAS", "TS"), 29: ("TLAXCALA", "TL"),
    30: ("VERACRUZ", "VZ"), 31: ("YUCATAN", "YN"), 32: ("ZACATECAS", "ZS"),
}

# Common words used as surnames and given names; combinations are random.
APELLIDOS = (
    "GARCIA HERNANDEZ LOPEZ MARTINEZ GONZALEZ RODRIGUEZ PEREZ SANCHEZ RAMIREZ CRUZ FLORES "
    "GOMEZ MORALES VAZQUEZ JIMENEZ REYES DIAZ TORRES GUTIERREZ RUIZ MENDOZA AGUILAR ORTIZ "
    "CASTILLO MORENO ROMERO ALVAREZ CHAVEZ RIVERA JUAREZ RAMOS DOMINGUEZ HERRERA MEDINA "
    "CASTRO VARGAS GUZMAN VELAZQUEZ MUÑOZ ROJAS CONTRERAS SALAZAR LUNA ORTEGA NUÑEZ"
).split()
NOMBRES_M = (
    "MARIA GUADALUPE JUANA ROSA VERONICA LETICIA ELIZABETH PATRICIA ALEJANDRA SOFIA XIMENA "
    "VALERIA FERNANDA ANA LUCIA DANIELA GABRIELA ADRIANA CLAUDIA MONICA"
).split()
NOMBRES_H = (
    "JOSE JUAN LUIS CARLOS JESUS MIGUEL FRANCISCO ANTONIO ALEJANDRO PEDRO MANUEL RICARDO "
    "JORGE SANTIAGO MATEO DIEGO EDUARDO FERNANDO ROBERTO JAVIER"
).split()
CALLES = (
    "AV INDEPENDENCIA,C HIDALGO,C MORELOS,AV JUAREZ,C ALLENDE,C 5 DE MAYO,AV REFORMA,"
    "C ZARAGOZA,C ALDAMA,C GUERRERO,AV REVOLUCION,C NICOLAS BRAVO"
).split(",")
COLONIAS = (
    "CENTRO,SAN JOSE,LA PAZ,EL ROSARIO,SANTA CRUZ,LAS FLORES,EL MIRADOR,LOMAS"
).split(",")

BAJAS = (
    "baja_defuncion",
    "baja_suspension_derechos",
    "baja_perdida_vigencia",
    "baja_domicilio_irregular",
    "baja_datos_irregulares",
    "baja_duplicado",
)
STATUSES = ("vigente", "padron_sin_lista", *BAJAS)
MODELS = ("C", "D", "E", "F", "G", "H")
# Model -> first year of emission (docs/credential.md).
MODEL_YEARS = {"C": 2008, "D": 2010, "E": 2014, "F": 2016, "G": 2019, "H": 2019}


@dataclass(frozen=True)
class Geo:
    """One sección and where it lies."""

    entidad: int
    distrito_federal: int
    distrito_local: int
    municipio: int
    seccion: int


@dataclass(frozen=True)
class Citizen:
    """One row of the synthetic roll; field names match the CSV header."""

    clave_elector: str
    cic: str
    identificador: str
    ocr: str
    curp: str
    apellido_paterno: str
    apellido_materno: str
    nombres: str
    fecha_nacimiento: str  # YYYY-MM-DD
    sexo: str              # H / M
    entidad: int
    municipio: int
    distrito_federal: int
    distrito_local: int
    seccion: int
    localidad: int
    domicilio: str
    modelo: str
    emision: str           # 2 digits
    anio_registro: int
    anio_emision: int
    vigencia: int
    estatus: str

    @property
    def nombre_completo(self) -> str:
        return f"{self.nombres} {self.apellido_paterno} {self.apellido_materno}"

    @property
    def entidad_nombre(self) -> str:
        return ENTIDADES[self.entidad][0]


FIELDNAMES = [f.name for f in fields(Citizen)]


def synthetic_geography(seed: int = 0) -> list[Geo]:
    """Secciones of all 32 entidades: a few distritos and municipios each."""
    rng = random.Random(f"geo:{seed}")
    out: list[Geo] = []
    for ent in ENTIDADES:
        n_df = rng.randint(2, 6)
        n_mun = rng.randint(3, 9)
        seccion = rng.randint(1, 300)
        for df in range(1, n_df + 1):
            for dl in (2 * df - 1, 2 * df):
                for _ in range(rng.randint(3, 8)):
                    out.append(Geo(ent, df, dl, rng.randint(1, n_mun), seccion))
                    seccion += rng.randint(1, 7)
    return out


def _consonant(word: str) -> str:
    for c in word[1:]:
        if c not in "AEIOU":
            return "X" if c == "Ñ" else c
    return "X"


def _vowel(word: str) -> str:
    for c in word[1:]:
        if c in "AEIOU":
            return c
    return "X"


def _curp(p: str, m: str, n: str, birth: str, sexo: str, ent: int, rng: random.Random) -> str:
    stem = (p[0] + _vowel(p) + m[0] + n[0]).replace("Ñ", "X")
    yymmdd = birth[2:4] + birth[5:7] + birth[8:10]
    body = stem + yymmdd + sexo + ENTIDADES[ent][1] + _consonant(p) + _consonant(m) + _consonant(n)
    diff = "0" if int(birth[:4]) < 2000 else "A"
    alphabet = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ"
    partial = body + diff
    total = sum(alphabet.index(c) * (18 - i) for i, c in enumerate(partial))
    return partial + str((10 - total % 10) % 10)


def _clave(p: str, m: str, n: str, birth: str, ent: int, sexo: str, rng: random.Random) -> str:
    letters = (p[0] + _consonant(p) + m[0] + _consonant(m) + n[0] + _consonant(n)).replace("Ñ", "X")
    yymmdd = birth[2:4] + birth[5:7] + birth[8:10]
    return f"{letters}{yymmdd}{ent:02d}{sexo}{rng.randint(0, 999):03d}"


def make_citizen(rng: random.Random, geo: Geo) -> Citizen:
    sexo = rng.choice("HM")
    nombres = rng.choice(NOMBRES_H if sexo == "H" else NOMBRES_M)
    if rng.random() < 0.35:
        nombres += " " + rng.choice(NOMBRES_H if sexo == "H" else NOMBRES_M)
    paterno, materno = rng.choice(APELLIDOS), rng.choice(APELLIDOS)
    year = rng.randint(1945, 2007)
    birth = f"{year:04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    model = rng.choices(MODELS, weights=(1, 3, 12, 2, 30, 52))[0]
    first = max(MODEL_YEARS[model], year + 18)
    last = {"C": 2009, "D": 2013, "E": 2018, "F": 2025}.get(model, 2026)
    anio_emision = rng.randint(min(first, last), last)
    anio_registro = rng.randint(year + 18, max(year + 18, anio_emision))
    identificador = f"{rng.randint(0, 10**9 - 1):09d}"
    status = "vigente"
    r = rng.random()
    if r < 0.04:
        status = "padron_sin_lista"
    elif r < 0.10:
        status = rng.choice(BAJAS)
    return Citizen(
        clave_elector=_clave(paterno, materno, nombres, birth, geo.entidad, sexo, rng),
        cic=f"{rng.randint(10**8, 10**9 - 1):09d}",
        identificador=identificador,
        ocr=f"{geo.seccion:04d}{identificador}",
        curp=_curp(paterno, materno, nombres, birth, sexo, geo.entidad, rng),
        apellido_paterno=paterno,
        apellido_materno=materno,
        nombres=nombres,
        fecha_nacimiento=birth,
        sexo=sexo,
        entidad=geo.entidad,
        municipio=geo.municipio,
        distrito_federal=geo.distrito_federal,
        distrito_local=geo.distrito_local,
        seccion=geo.seccion,
        localidad=rng.randint(1, 120),
        domicilio=(f"{rng.choice(CALLES)} {rng.randint(1, 999)} COL {rng.choice(COLONIAS)} "
                   f"{rng.randint(10000, 99999)}"),
        modelo=model,
        emision=f"{rng.choices((0, 1, 2, 3), weights=(70, 20, 7, 3))[0]:02d}",
        anio_registro=anio_registro,
        anio_emision=anio_emision,
        vigencia=anio_emision + 10,
        estatus=status,
    )


def generate_roll(n: int, seed: int = 0) -> Iterator[Citizen]:
    """n citizens; the same (n, seed) always gives the same rows."""
    geo = synthetic_geography(seed)
    rng = random.Random(f"roll:{seed}")
    seen_ids: set[str] = set()
    for _ in range(n):
        c = make_citizen(rng, rng.choice(geo))
        while c.identificador in seen_ids:  # identificador ciudadano is unique
            c = make_citizen(rng, rng.choice(geo))
        seen_ids.add(c.identificador)
        yield c


def write_roll(path: Path, citizens: Iterator[Citizen] | list[Citizen]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDNAMES)
        w.writeheader()
        for c in citizens:
            w.writerow(asdict(c))
            count += 1
    return count


_INT_FIELDS = {f.name for f in fields(Citizen) if f.type in ("int", int)}


def _citizen(row: dict[str, str]) -> Citizen:
    values: dict[str, Any] = {k: int(v) if k in _INT_FIELDS else v for k, v in row.items()}
    return Citizen(**values)


def read_roll(path: Path) -> list[Citizen]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [_citizen(r) for r in rows]
