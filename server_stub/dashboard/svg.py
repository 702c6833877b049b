"""Server-rendered SVG charts for the dashboard (no JavaScript, nothing from a CDN)."""

from __future__ import annotations

import math
from html import escape
from zoneinfo import ZoneInfo

from server_stub.verify import verify
from server_stub.verify.thresholds import Progress
from sync.common import periods

COLORS = {
    verify.VALIDO: "#2e7d32", verify.DUPLICADO: "#f9a825", verify.OTRO_ASPIRANTE: "#ef6c00",
    verify.PADRON_SIN_LISTA: "#6d4c41", verify.BAJA: "#5d4037", verify.FUERA_DE_AMBITO: "#7b1fa2",
    verify.NO_ENCONTRADO: "#c62828", verify.NO_VIGENTE: "#ad1457", verify.FOTOCOPIA: "#455a64",
    verify.SIMULACION: "#263238", verify.DOCUMENTO_NO_VALIDO: "#37474f",
    verify.INCONSISTENCIA: "#1565c0", verify.PENDIENTE: "#9e9e9e",
}


def units_chart(p: Progress, *, max_units: int = 60) -> str:
    """Horizontal bars: valid supports per unit against the unit's own required share.

    Green bar = unit already meets its share, orange = short; the black tick is
    the requirement. A total-only rule (consulta popular, iniciativa ciudadana)
    asks nothing of a unit: blue bars with the counts, no tick. Units are
    ordered by key; beyond `max_units` the cheapest missing ones are shown
    first (where effort pays soonest)."""
    units = list(p.units)
    if len(units) > max_units:
        units = sorted(units, key=lambda u: (u.met, u.missing))[:max_units]
    row, left, width = 16, 90, 420
    top = max((max(u.valid, u.required) for u in units), default=1) or 1
    h = row * len(units) + 24
    w = left + width + 120
    # Scales down to a phone's width (its labels with it) instead of widening the page.
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{w}" height="{h}" '
             f'viewBox="0 0 {w} {h}" style="max-width:100%;height:auto" role="img" '
             f'aria-label="Apoyos válidos por {escape(p.rule.unit)}">']
    for i, u in enumerate(units):
        y = 4 + i * row
        bw = width * u.valid / top
        req = left + width * u.required / top
        if p.rule.dispersion:
            color, label = ("#2e7d32", f"{u.valid}/{u.required}") if u.met else \
                ("#ef6c00", f"{u.valid}/{u.required} (faltan {u.missing})")
        else:  # a total-only rule asks nothing of a unit: plain counts, no tick
            color, label = "#1565c0", str(u.valid)
        parts.append(f'<text x="{left - 6}" y="{y + 11}" text-anchor="end" font-size="11">'
                     f'{escape(u.key)}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{bw:.1f}" height="{row - 4}" fill="{color}">'
                     f'<title>{escape(u.key)}: {escape(label)}</title></rect>')
        if p.rule.dispersion:
            parts.append(f'<line x1="{req:.1f}" x2="{req:.1f}" y1="{y - 1}" y2="{y + row - 3}" '
                         'stroke="#000" stroke-width="2"/>')
        parts.append(f'<text x="{left + width + 6}" y="{y + 11}" font-size="11" class="unit-count" '
                     f'data-unit="{escape(u.key)}">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def timeline_chart(series: list[tuple[int, dict[str, int]]], *, bucket_label: str = "hora",
                   tz: ZoneInfo | None = None) -> str:
    """Stacked bars of records by verdict per time bucket (server receive time), labelled in
    local time (`tz`, default America/Mexico_City)."""
    zone = tz or periods.zone(None)
    return stacked_chart([(periods.local(t, zone).strftime("%d %H:%M"), c) for t, c in series],
                         aria=f"Registros por dictamen y {bucket_label}")


LABEL_PX = 5.6  # a 9 px DejaVu Sans character, about: what a label needs beside its bar


def stacked_chart(series: list[tuple[str, dict[str, int]]], *, aria: str) -> str:
    """Stacked bars of counts by verdict, one per labelled bucket (an hour, a day, an
    auxiliary). Labels are spaced so they never overlap, and the drawing is as wide as its
    last label, so a chart of one bar does not cut its label; it scales down to fit a phone."""
    if not series:
        return '<p class="muted">Sin registros todavía.</p>'
    bw, gap, height, left, bottom = 18, 4, 160, 40, 30
    top = max(sum(c.values()) for _, c in series) or 1
    label_w = max(len(lb) for lb, _ in series) * LABEL_PX
    step = max(1, math.ceil((label_w + 6) / (bw + gap)), len(series) // 8)
    last = left + (len(series) - 1) * (bw + gap)
    w = math.ceil(max(last + bw, last - (len(series) - 1) % step * (bw + gap) + label_w) + 10)
    h = height + bottom + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{w}" height="{h}" '
             f'viewBox="0 0 {w} {h}" style="max-width:100%;height:auto" role="img" '
             f'aria-label="{escape(aria)}">',
             f'<text x="4" y="12" font-size="10">{top}</text>',
             f'<line x1="{left - 2}" x2="{left - 2}" y1="5" y2="{height + 5}" stroke="#999"/>']
    for i, (label, c) in enumerate(series):
        x = left + i * (bw + gap)
        y: float = height + 5
        for v in verify.VERDICTS:
            n = c.get(v, 0)
            if not n:
                continue
            bh = height * n / top
            y -= bh
            parts.append(f'<rect x="{x}" y="{y:.1f}" width="{bw}" height="{bh:.1f}" fill="{COLORS[v]}">'
                         f'<title>{escape(label)} · {escape(verify.LABELS[v])}: {n}</title></rect>')
        if i % step == 0:
            parts.append(f'<text x="{x}" y="{height + 20}" font-size="9">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def legend() -> str:
    return "".join(f'<span class="lg"><i style="background:{c}"></i>{escape(verify.LABELS[v])}</span>'
                   for v, c in COLORS.items())
