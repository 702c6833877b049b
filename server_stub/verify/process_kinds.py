"""Server-side process kinds: the one place that says what each kind is called, which threshold
rule (if any) the server applies to it, and which kind the device config names
(`sync.device.config.ProcessKind`, sent in the enrollment bundle and config commands).

Candidacies are told apart by office on the server because each office has its own
threshold rule (thresholds.RULES); on the device they are all `candidatura_independiente`.
Consulta popular and iniciativa ciudadana have a total-only rule (no dispersion). The
other kinds have no threshold rule here (the dashboard says "sin umbral definido") and
keep their own name on the device. Partido político covers afiliación and refrendo: two
server kinds, one device kind.
"""

from __future__ import annotations

from dataclasses import dataclass

from server_stub.verify.thresholds import RULES, Rule


@dataclass(frozen=True, slots=True)
class ProcessKind:
    kind: str  # server-side name (processes.kind)
    label: str
    device_kind: str  # sync.device.config.ProcessKind
    # The aspirant's scope `process add-aspirant` requires: "pais" (none), "entidad", "distrito".
    scope: str = "pais"

    @property
    def rule(self) -> Rule | None:
        return RULES.get(self.kind)


_CI = "candidatura_independiente"
KINDS: dict[str, ProcessKind] = {k.kind: k for k in (
    ProcessKind("presidencia", RULES["presidencia"].label, _CI, RULES["presidencia"].scope),
    ProcessKind("senaduria", RULES["senaduria"].label, _CI, RULES["senaduria"].scope),
    ProcessKind("diputacion_federal", RULES["diputacion_federal"].label, _CI,
                RULES["diputacion_federal"].scope),
    ProcessKind("revocacion", RULES["revocacion"].label, "revocacion_mandato", RULES["revocacion"].scope),
    ProcessKind("consulta_popular", RULES["consulta_popular"].label, "consulta_popular"),
    ProcessKind("iniciativa_ciudadana", RULES["iniciativa_ciudadana"].label, "iniciativa_ciudadana"),
    ProcessKind("organizacion_politica", "Organización política", "organizacion_politica"),
    ProcessKind("agrupacion_politica", "Agrupación política", "agrupacion_politica"),
    ProcessKind("partido_politico_afiliacion", "Partido político (afiliación)", "partido_politico"),
    ProcessKind("partido_politico_refrendo", "Partido político (refrendo)", "partido_politico"),
)}
NO_RULE_LABEL = "sin umbral definido"


def get_kind(kind: str) -> ProcessKind:
    """Raises KeyError for a kind the server does not know."""
    return KINDS[kind]


def device_kind(kind: str) -> str:
    return KINDS[kind].device_kind


def rule_for(kind: str) -> Rule | None:
    """The threshold rule of a kind, None when the server applies none."""
    return RULES.get(kind)


def kind_label(kind: str) -> str:
    k = KINDS.get(kind)
    return k.label if k else kind
