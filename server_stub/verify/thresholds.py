"""Legal support thresholds (LGIPE art. 371 and the revocation law), as pure integer math.

Each kind of process has a rule: a share of the lista nominal of its scope,
plus a dispersion rule — a minimum number of units (entidades, distritos or
secciones) that must each reach their own share:

| kind | scope | total | units | each unit | units needed |
| --- | --- | --- | --- | --- | --- |
| presidencia | país | 1 % | entidades | 1 % | 17 |
| senaduria | entidad | 2 % | distritos federales | 1 % | half (rounded up) |
| diputacion_federal | distrito federal | 2 % | secciones | 1 % | half (rounded up) |
| revocacion | país | 3 % | entidades | 3 % | 17 |
| consulta_popular | país | 2 % | (entidades, shown only) | — | none |
| iniciativa_ciudadana | país | 0.13 % | (entidades, shown only) | — | none |

Consulta popular (CPEUM art. 35 fr. VIII) and iniciativa ciudadana (art. 71
fr. IV) ask only for a share of the national lista nominal, with no dispersion
rule: their unit share is 0 and no unit count is needed; the units are kept so
the dashboard can still show where the supports come from.

Percentages are kept in basis points and every "at least x %" is a ceiling,
so 2 % of 1,001 citizens is 21, never 20.02 rounded down. Units with an empty
lista nominal are not counted (they can never reach a share).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str
    label: str
    scope: str  # "pais", "entidad", "distrito"
    unit: str  # "entidad", "distrito", "seccion"
    total_bp: int  # basis points of the scope's lista nominal
    unit_bp: int  # basis points of each unit's own lista nominal
    min_units: int | None = None  # a fixed number of units...
    min_units_half: bool = False  # ...or at least half of them

    @property
    def dispersion(self) -> bool:
        """Whether the rule asks anything of each unit (else only the total counts)."""
        return self.unit_bp > 0 and (self.min_units is not None or self.min_units_half)


RULES: dict[str, Rule] = {
    "presidencia": Rule("presidencia", "Presidencia de la República", "pais", "entidad", 100, 100, 17),
    "senaduria": Rule("senaduria", "Senaduría", "entidad", "distrito", 200, 100, min_units_half=True),
    "diputacion_federal": Rule("diputacion_federal", "Diputación federal", "distrito", "seccion", 200, 100,
                               min_units_half=True),
    "revocacion": Rule("revocacion", "Revocación de mandato", "pais", "entidad", 300, 300, 17),
    "consulta_popular": Rule("consulta_popular", "Consulta popular", "pais", "entidad", 200, 0),
    "iniciativa_ciudadana": Rule("iniciativa_ciudadana", "Iniciativa ciudadana", "pais", "entidad", 13, 0),
}


def ceil_share(count: int, bp: int) -> int:
    """The smallest integer ≥ count × bp / 10,000."""
    return -(-count * bp // 10_000)


def units_needed(rule: Rule, units_total: int) -> int:
    if rule.min_units is not None:
        return rule.min_units
    return -(-units_total // 2) if rule.min_units_half else 0


@dataclass(frozen=True, slots=True)
class Unit:
    key: str  # "14" (entidad), "14-03" (distrito), "14-0457" (sección)
    lista_nominal: int
    valid: int


@dataclass(frozen=True, slots=True)
class UnitProgress:
    key: str
    lista_nominal: int
    valid: int
    required: int
    met: bool

    @property
    def missing(self) -> int:
        return max(0, self.required - self.valid)


@dataclass(frozen=True, slots=True)
class Progress:
    rule: Rule
    lista_nominal: int
    valid: int
    required: int
    units_total: int
    units_needed: int
    units_met: int
    units: tuple[UnitProgress, ...]

    @property
    def missing(self) -> int:
        return max(0, self.required - self.valid)

    @property
    def units_missing(self) -> int:
        return max(0, self.units_needed - self.units_met)

    @property
    def met(self) -> bool:
        # No lista nominal (roll not imported for this scope): nothing can be met, not "0 of 0".
        return self.lista_nominal > 0 and self.valid >= self.required and self.units_met >= self.units_needed

    def cheapest_missing_units(self) -> list[UnitProgress]:
        """Units still short, the closest to their share first: where effort pays soonest."""
        short = [u for u in self.units if not u.met]
        return sorted(short, key=lambda u: (u.missing, u.key))

    def supports_to_disperse(self) -> int:
        """Supports still needed to reach the dispersion rule by the cheapest units."""
        return sum(u.missing for u in self.cheapest_missing_units()[: self.units_missing])


def evaluate(rule: Rule, units: Iterable[Unit]) -> Progress:
    """Progress of one aspirant: `units` are every unit of the scope with its counts."""
    rows = [u for u in units if u.lista_nominal > 0]
    ln = sum(u.lista_nominal for u in rows)
    valid = sum(u.valid for u in rows)
    ups = tuple(
        UnitProgress(u.key, u.lista_nominal, u.valid, r := ceil_share(u.lista_nominal, rule.unit_bp),
                     u.valid >= r)
        for u in sorted(rows, key=lambda u: u.key))
    return Progress(rule, ln, valid, ceil_share(ln, rule.total_bp), len(ups),
                    units_needed(rule, len(ups)), sum(u.met for u in ups), ups)
