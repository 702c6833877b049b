"""The electoral roll (padrón + lista nominal) on the server: import and look-up.

`fieldkit-server roll import FILE.csv` (and the dashboard's `/padron`) replaces the whole
roll: readers keep seeing the old one until the new one is complete. On SQLite the rows go
in batches, each its own short transaction, into a staging table of its own (`roll_next_<random>`), so the
dashboard and the verifier are not held off while a large file loads; one last transaction
swaps it in, builds the unique look-up index on (CIC, identificador del ciudadano) and
aggregates the per-sección counts (`roll_units`: lista nominal and padrón) the thresholds
need. On PostgreSQL the rows go by `COPY` in one transaction (readers of other tables are
not blocked there). Only the columns verification and the dashboard need are kept (no
names or addresses: the server never shows a citizen's data that the record did not
already carry). One import at a time: the staging table is shared.

Bad rows are rejected, counted and reported (line number and reason, the first
`REJECTS_KEPT`), never imported and never fatal. A row is bad when:

- it has a different number of columns from the header;
- `cic` or `identificador` is not exactly 9 digits (the value is not echoed: it identifies
  a citizen);
- `entidad` is not an integer from 1 to 32, or `distrito_federal`, `distrito_local`,
  `municipio`, `seccion` or `vigencia` is not a non-negative integer (ASCII digits);
- `estatus` is not `vigente`, `padron_sin_lista` or `baja_…`;
- `modelo` is empty.

Fatal, and the roll stays as it was: the file cannot be read, a required column is
missing from the header, the CSV itself is broken (a quote never closed), no row at all is
good, or the same CIC + identificador appears twice (found when the unique index is
built; which rows is not said: keeping every key in memory would not fit a national roll).

Look-up key: CIC + identificador del ciudadano (models E–H; older models are
refused at capture).
"""

from __future__ import annotations

import csv
import operator
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server_stub.core.store import Store

ROLL_COLUMNS = ("cic", "identificador", "entidad", "distrito_federal", "distrito_local", "municipio",
                "seccion", "estatus", "vigencia", "modelo")
_INT_COLUMNS = ("entidad", "distrito_federal", "distrito_local", "municipio", "seccion", "vigencia")
BATCH = 20_000
REJECTS_KEPT = 50
_DIGITS9 = re.compile(r"[0-9]{9}")
_UINT = re.compile(r"[0-9]{1,9}")
_UINTS6 = re.compile(r"[0-9]{1,9}(?:,[0-9]{1,9}){5}")
ESTATUS_VIGENTE = "vigente"
ESTATUS_SIN_LISTA = "padron_sin_lista"
ENTIDADES = range(1, 33)
_ESTATUS = frozenset((ESTATUS_VIGENTE, ESTATUS_SIN_LISTA))
STAGING = "roll_next"

# (rows read so far, rows in the file): called every BATCH rows and once reading ends.
Progress = Callable[[int, int], None]

_ROLL_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    cic               TEXT NOT NULL,
    identificador     TEXT NOT NULL,
    entidad           {int} NOT NULL,
    distrito_federal  {int} NOT NULL,
    distrito_local    {int} NOT NULL,
    municipio         {int} NOT NULL,
    seccion           {int} NOT NULL,
    estatus           TEXT NOT NULL,
    vigencia          {int} NOT NULL,
    modelo            TEXT NOT NULL
)"""
SCHEMA = _ROLL_TABLE.replace("{name}", "roll") + """;
CREATE TABLE IF NOT EXISTS roll_units (
    entidad           {int} NOT NULL,
    distrito_federal  {int} NOT NULL,
    municipio         {int} NOT NULL,
    seccion           {int} NOT NULL,
    lista_nominal     {int} NOT NULL,
    padron            {int} NOT NULL,
    PRIMARY KEY (entidad, seccion)
);
CREATE TABLE IF NOT EXISTS roll_meta (
    id           {int} PRIMARY KEY,
    imported_ms  {int} NOT NULL,
    rows         {int} NOT NULL,
    source       TEXT NOT NULL
)
"""
_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS roll_key ON roll (cic, identificador)"


class RollError(ValueError):
    """The roll file cannot be imported (unreadable, missing column, no good row, repeated key)."""


@dataclass(frozen=True, slots=True)
class RollEntry:
    cic: str
    identificador: str
    entidad: int
    distrito_federal: int
    distrito_local: int
    municipio: int
    seccion: int
    estatus: str
    vigencia: int
    modelo: str

    @property
    def in_lista_nominal(self) -> bool:
        return self.estatus == ESTATUS_VIGENTE


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int  # the file's line (1 is the header)
    reason: str  # Spanish


@dataclass(frozen=True, slots=True)
class ImportResult:
    rows: int
    secciones: int
    seconds: float
    rejected: int = 0  # every bad row
    rejected_rows: tuple[Rejected, ...] = ()  # the first REJECTS_KEPT of them

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "secciones": self.secciones, "seconds": round(self.seconds, 2),
                "rejected": self.rejected,
                "rejected_rows": [{"line": r.line, "reason": r.reason} for r in self.rejected_rows]}


def ensure_schema(store: Store) -> None:
    store.ensure_schema(SCHEMA + ";" + _INDEX, 7711101)


def _short(value: str) -> str:
    return repr(value if len(value) <= 20 else value[:20] + "…")


def row_problem(r: dict[str, str]) -> str | None:
    """Why a row (column -> text) is bad, in Spanish; None for a good row."""
    for k in ("cic", "identificador"):
        if not _DIGITS9.fullmatch(r[k]):
            return f"{k} no tiene 9 dígitos"
    for k in _INT_COLUMNS:
        if not _UINT.fullmatch(r[k]):
            return f"{k} no es un número entero: {_short(r[k])}"
    if int(r["entidad"]) not in ENTIDADES:
        return f"entidad fuera de 1–32: {int(r['entidad'])}"
    e = r["estatus"]
    if e not in (ESTATUS_VIGENTE, ESTATUS_SIN_LISTA) and not e.startswith("baja_"):
        return f"estatus desconocido: {_short(e)}"
    if not r["modelo"].strip():
        return "modelo vacío"
    return None


def _count_lines(path: Path) -> int:
    n, last = 0, b"\n"
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")


@dataclass
class _Rows:
    """The good rows of a roll CSV, as table tuples; bad rows counted, the first ones kept."""

    path: Path
    rejected: int = 0
    kept: list[Rejected] = field(default_factory=list)
    first: Rejected | None = None
    read: int = 0

    def _reject(self, line: int, reason: str) -> None:
        self.rejected += 1
        if len(self.kept) < REJECTS_KEPT:
            self.kept.append(Rejected(line, reason))

    def __iter__(self) -> Iterator[tuple[object, ...]]:
        try:  # utf-8-sig: a spreadsheet's byte-order mark is not part of the first column's name
            fh = self.path.open(newline="", encoding="utf-8-sig", errors="replace")
        except OSError as e:
            raise RollError(f"{self.path}: {e.strerror}") from None
        with fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            missing = [c for c in ROLL_COLUMNS if c not in header]
            if missing:
                raise RollError(f"{self.path}: faltan columnas: {', '.join(missing)}")
            pick = operator.itemgetter(*(header.index(c) for c in ROLL_COLUMNS))
            width = len(header)
            try:
                for cells in reader:
                    self.read += 1
                    if len(cells) != width:
                        self._reject(reader.line_num, f"tiene {len(cells)} columnas; el encabezado "
                                                      f"tiene {width}")
                        continue
                    cic, ident, ent, dfed, dloc, mun, sec, est, vig, mod = pick(cells)
                    # The common case in one regex; a row it refuses gets its reason from row_problem.
                    if (_DIGITS9.fullmatch(cic) and _DIGITS9.fullmatch(ident)
                            and _UINTS6.fullmatch(f"{ent},{dfed},{dloc},{mun},{sec},{vig}")
                            and 1 <= int(ent) <= 32 and (est in _ESTATUS or est.startswith("baja_"))
                            and mod.strip()):
                        yield cic, ident, int(ent), int(dfed), int(dloc), int(mun), int(sec), est, int(vig), \
                            mod.strip()
                        continue
                    problem = row_problem(dict(zip(ROLL_COLUMNS, (cic, ident, ent, dfed, dloc, mun, sec, est,
                                                                  vig, mod), strict=True)))
                    self._reject(reader.line_num, problem or "fila no válida")
            except csv.Error as e:
                raise RollError(f"{self.path}:{reader.line_num}: CSV ilegible: {e}") from None


def import_roll(store: Store, path: Path, *, progress: Progress | None = None,
                source: str | None = None) -> ImportResult:
    """Replace the roll with the CSV's good rows; bad rows are reported in the result.
    `source`: what roll_meta records as the file (the upload's name; default the path)."""
    ensure_schema(store)
    t0 = time.perf_counter()
    total = max(0, _count_lines(path) - 1) if progress is not None and path.is_file() else 0
    rows = _Rows(path)

    def batches() -> Iterator[list[tuple[object, ...]]]:
        batch: list[tuple[object, ...]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= BATCH:
                yield batch
                batch = []
                if progress is not None:
                    progress(rows.read, max(total, rows.read))
        yield batch
        if progress is not None:
            progress(rows.read, max(total, rows.read))

    load = _load_postgresql if store.kind == "postgresql" else _load_sqlite
    count, secciones = load(store, batches(), rows, str(source or path))
    return ImportResult(count, secciones, time.perf_counter() - t0, rows.rejected, tuple(rows.kept))


def _no_good_row(path: Path, rows: _Rows) -> RollError:
    if not rows.kept:
        return RollError(f"{path}: el archivo no tiene filas; el padrón no cambió")
    r = rows.kept[0]
    return RollError(f"{path}:{r.line}: {r.reason} (ninguna fila válida: {rows.rejected} rechazadas; "
                     "el padrón no cambió)")


def _load_sqlite(store: Store, batches: Iterator[list[tuple[object, ...]]], rows: _Rows,
                 source: str) -> tuple[int, int]:
    # Its own staging table: an import from the CLI while the dashboard runs one must not load
    # into the other's (each swaps in its own whole file; the last one to finish stays).
    staging = f"{STAGING}_{secrets.token_hex(6)}"
    ins = f"INSERT INTO {staging} ({', '.join(ROLL_COLUMNS)}) VALUES ({', '.join('?' * len(ROLL_COLUMNS))})"
    with store.tx() as conn:
        conn.execute(_ROLL_TABLE.format(name=staging, int="INTEGER"))
    count = 0
    try:
        for batch in batches:
            with store.tx() as conn:  # short transactions: other writers get their turn between
                conn.executemany(ins, batch)
            count += len(batch)
        if count == 0:
            raise _no_good_row(rows.path, rows)
        with store.tx() as conn:
            conn.execute("DROP TABLE roll")
            conn.execute(f"ALTER TABLE {staging} RENAME TO roll")
            try:
                conn.execute(_INDEX)
            except sqlite3.IntegrityError as e:  # rolled back: the old roll is back
                raise RollError(f"{rows.path}: la clave CIC + identificador se repite: {e}") from None
            return count, _units_and_meta(store, conn, count, source)
    finally:
        with store.tx() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {staging}")


def _load_postgresql(store: Store, batches: Iterator[list[tuple[object, ...]]], rows: _Rows,
                     source: str) -> tuple[int, int]:
    cols = ", ".join(ROLL_COLUMNS)
    count = 0
    with store.tx() as conn:
        conn.execute("DROP INDEX IF EXISTS roll_key")
        conn.execute("TRUNCATE roll")
        with conn.cursor() as cur, cur.copy(f"COPY roll ({cols}) FROM STDIN") as cp:
            for batch in batches:
                for row in batch:
                    cp.write_row(row)
                count += len(batch)
        if count == 0:
            raise _no_good_row(rows.path, rows)
        try:
            conn.execute(_INDEX)
        except Exception as e:  # unique violation: the same citizen twice
            raise RollError(f"{rows.path}: la clave CIC + identificador se repite: {e}") from None
        secciones = _units_and_meta(store, conn, count, source)
    store.raw_connection().execute("ANALYZE roll")
    return count, secciones


def _units_and_meta(store: Store, conn: Any, count: int, source: str) -> int:
    conn.execute("DELETE FROM roll_units")
    conn.execute(
        "INSERT INTO roll_units (entidad, distrito_federal, municipio, seccion, lista_nominal, padron) "
        "SELECT entidad, MIN(distrito_federal), MIN(municipio), seccion, "
        f"SUM(CASE WHEN estatus = '{ESTATUS_VIGENTE}' THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN estatus = '{ESTATUS_VIGENTE}' OR estatus = '{ESTATUS_SIN_LISTA}' "
        "THEN 1 ELSE 0 END) FROM roll GROUP BY entidad, seccion")
    conn.execute("DELETE FROM roll_meta")
    conn.execute(store.sql("INSERT INTO roll_meta (id, imported_ms, rows, source) VALUES (1, ?, ?, ?)"),
                 (int(time.time() * 1000), count, source))
    return int(conn.execute("SELECT COUNT(*) FROM roll_units").fetchone()[0])
def lookup(store: Store, cic: str, identificador: str) -> RollEntry | None:
    rows = store.query(f"SELECT {', '.join(ROLL_COLUMNS)} FROM roll WHERE cic = ? AND identificador = ?",
                       (cic, identificador))
    return RollEntry(*rows[0]) if rows else None


def lookup_many(store: Store, keys: list[tuple[str, str]]) -> dict[tuple[str, str], RollEntry]:
    """Batch look-up (one round trip per key, one transaction)."""
    out: dict[tuple[str, str], RollEntry] = {}
    q = store.sql(f"SELECT {', '.join(ROLL_COLUMNS)} FROM roll WHERE cic = ? AND identificador = ?")
    with store.tx() as conn:
        for k in dict.fromkeys(keys):
            r = conn.execute(q, k).fetchone()
            if r is not None:
                out[k] = RollEntry(*r)
    return out


def roll_info(store: Store) -> tuple[int, int] | None:
    """(rows, imported_ms) of the loaded roll, or None."""
    rows = store.query("SELECT rows, imported_ms FROM roll_meta WHERE id = 1")
    return (int(rows[0][0]), int(rows[0][1])) if rows else None
