"""The electoral roll (padrón + lista nominal) on the server: import and look-up.

`fieldkit-server roll import FILE.csv` replaces the whole roll in one
transaction (readers keep seeing the old one until it commits): rows go in
batches (`executemany` on SQLite, `COPY` on PostgreSQL) into an unindexed
table, then the unique look-up index on (CIC, identificador del ciudadano) is
built once, and the per-sección counts (`roll_units`: lista nominal and
padrón) that the thresholds need are aggregated. Only the columns verification
and the dashboard need are kept (no names or addresses: the server never shows
a citizen's data that the record did not already carry).

Look-up key: CIC + identificador del ciudadano (models E–H; older models are
refused at capture).
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from server_stub.core.store import Store

ROLL_COLUMNS = ("cic", "identificador", "entidad", "distrito_federal", "distrito_local", "municipio",
                "seccion", "estatus", "vigencia", "modelo")
BATCH = 20_000
_DIGITS9 = re.compile(r"\d{9}")
ESTATUS_VIGENTE = "vigente"
ESTATUS_SIN_LISTA = "padron_sin_lista"

SCHEMA = """
CREATE TABLE IF NOT EXISTS roll (
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
);
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
    """The roll file cannot be imported (missing column, bad row)."""


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
class ImportResult:
    rows: int
    secciones: int
    seconds: float


def ensure_schema(store: Store) -> None:
    store.ensure_schema(SCHEMA + ";" + _INDEX, 7711101)


def _rows(path: Path) -> Iterator[tuple[object, ...]]:
    try:
        fh = path.open(newline="", encoding="utf-8")
    except OSError as e:
        raise RollError(f"{path}: {e.strerror}") from None
    with fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ROLL_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise RollError(f"{path}: faltan columnas: {', '.join(missing)}")
        for n, r in enumerate(reader, start=2):
            try:
                cic, ident, estatus = r["cic"], r["identificador"], r["estatus"]
                if not (_DIGITS9.fullmatch(cic) and _DIGITS9.fullmatch(ident)):
                    raise ValueError("cic e identificador deben tener 9 dígitos")
                if estatus not in (ESTATUS_VIGENTE, ESTATUS_SIN_LISTA) and not estatus.startswith("baja_"):
                    raise ValueError(f"estatus desconocido {estatus!r}")
                yield (cic, ident, int(r["entidad"]), int(r["distrito_federal"]), int(r["distrito_local"]),
                       int(r["municipio"]), int(r["seccion"]), estatus, int(r["vigencia"]), r["modelo"])
            except (ValueError, TypeError) as e:
                raise RollError(f"{path}:{n}: {e}") from None


def import_roll(store: Store, path: Path) -> ImportResult:
    """Replace the roll with the CSV's rows (all or nothing)."""
    ensure_schema(store)
    t0 = time.perf_counter()
    cols = ", ".join(ROLL_COLUMNS)
    count = 0
    with store.tx() as conn:
        conn.execute("DROP INDEX IF EXISTS roll_key")
        conn.execute("DELETE FROM roll" if store.kind == "sqlite" else "TRUNCATE roll")
        if store.kind == "postgresql":
            with conn.cursor() as cur, cur.copy(f"COPY roll ({cols}) FROM STDIN") as cp:
                for row in _rows(path):
                    cp.write_row(row)
                    count += 1
        else:
            ins = f"INSERT INTO roll ({cols}) VALUES ({', '.join('?' * len(ROLL_COLUMNS))})"
            batch: list[tuple[object, ...]] = []
            for row in _rows(path):
                batch.append(row)
                if len(batch) >= BATCH:
                    conn.executemany(ins, batch)
                    count += len(batch)
                    batch = []
            conn.executemany(ins, batch)
            count += len(batch)
        try:
            conn.execute(_INDEX)
        except Exception as e:  # unique violation: the same citizen twice
            raise RollError(f"{path}: la clave CIC + identificador se repite: {e}") from None
        conn.execute("DELETE FROM roll_units")
        conn.execute(
            "INSERT INTO roll_units (entidad, distrito_federal, municipio, seccion, lista_nominal, padron) "
            "SELECT entidad, MIN(distrito_federal), MIN(municipio), seccion, "
            f"SUM(CASE WHEN estatus = '{ESTATUS_VIGENTE}' THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN estatus = '{ESTATUS_VIGENTE}' OR estatus = '{ESTATUS_SIN_LISTA}' "
            "THEN 1 ELSE 0 END) FROM roll GROUP BY entidad, seccion")
        conn.execute("DELETE FROM roll_meta")
        conn.execute(store.sql("INSERT INTO roll_meta (id, imported_ms, rows, source) VALUES (1, ?, ?, ?)"),
                     (int(time.time() * 1000), count, str(path)))
        secciones = int(conn.execute("SELECT COUNT(*) FROM roll_units").fetchone()[0])
    if store.kind == "postgresql":
        store.raw_connection().execute("ANALYZE roll")
    return ImportResult(count, secciones, time.perf_counter() - t0)


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
