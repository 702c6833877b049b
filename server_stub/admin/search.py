"""Find and follow: a record by folio, CIC or e-mail, and the per-day / per-auxiliary trend.

GET /buscar         the search form.
POST /buscar q=...  coordinator only, with the CSRF token: the key stays out of URLs, browser
                    history and proxy logs, and a GET writes nothing. Every search is written
                    to the audit log (who, what kind of key, how many found; a CIC or e-mail
                    is logged masked, a folio whole: a folio alone names no citizen).
GET /tendencia?p=&a= supports received per day (calendar days in the process's zone) and
                    per auxiliary, by verdict: a table and an SVG chart each.

E-mail addresses are looked up in the acuse queue (``mail_queue.to_addr``), the only place
the server keeps them outside the record itself; with `[acuse] mode = "off"` there is none,
and the page says so instead of finding nothing silently.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from server_stub.core.store import Store
from server_stub.core.store_schema import AUX_REGISTERED
from server_stub.dashboard import audit
from server_stub.dashboard import svg as dashboard_svg
from server_stub.dashboard.accounts import Session
from server_stub.dashboard.data import auxiliary_label
from server_stub.dashboard.forms import Form, Response
from server_stub.fleet import tables as fleet
from server_stub.verify import processes, verify
from sync.common import periods

MAX_RESULTS = 100
_CIC = re.compile(r"^\d{9,10}$")
_FOLIO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{2,40}$")
_INDEXES = ("CREATE INDEX IF NOT EXISTS records_folio ON records (folio)",
            "CREATE INDEX IF NOT EXISTS records_cic ON records (key_cic)")


@dataclass(frozen=True)
class Found:
    record_id: uuid.UUID
    folio: str
    process_id: str
    aspirant_id: str
    device_id: str
    auxiliary: str
    received_ms: int
    verdict: str | None
    reason: str


def classify_query(q: str) -> str | None:
    """"email", "cic", "folio", or None for something that is none of them."""
    q = q.strip()
    if "@" in q and len(q) <= 254:
        return "email"
    if _CIC.match(q.replace(" ", "")):
        return "cic"
    if _FOLIO.match(q):
        return "folio"
    return None


def masked(kind: str, q: str) -> str:
    """What the audit log keeps of a search key: a folio whole, a CIC or e-mail masked."""
    q = q.strip()
    if kind == "folio":
        return q
    if kind == "cic":
        digits = q.replace(" ", "")
        return "•" * (len(digits) - 3) + digits[-3:]
    user, _, domain = q.partition("@")
    return f"{user[:1]}•••@{domain}"


def ensure_indexes(store: Store) -> None:
    with store.tx() as conn:
        for stmt in _INDEXES:
            conn.execute(stmt)


def search(store: Store, q: str) -> tuple[str | None, list[Found], bool]:
    """(kind, results, email_searchable). Exact matches only: a search is for one citizen's
    record, not for browsing the roll."""
    kind = classify_query(q)
    q = q.strip()
    email_ok = store.has_table("mail_queue")
    if kind is None or (kind == "email" and not email_ok):
        return kind, [], email_ok
    base = ("SELECT r.record_id, r.folio, r.process_id, r.aspirant_id, r.device_id, r.auxiliary_id, "
            "r.auxiliary_status, r.received_ms, v.verdict, v.reason FROM records r "
            "LEFT JOIN verdicts v ON v.record_id = r.record_id ")
    if kind == "folio":
        rows = store.query(base + "WHERE r.folio = ? ORDER BY r.received_ms LIMIT ?", (q, MAX_RESULTS))
    elif kind == "cic":
        rows = store.query(base + "WHERE r.key_cic = ? ORDER BY r.received_ms LIMIT ?",
                           (q.replace(" ", ""), MAX_RESULTS))
    else:
        rows = store.query(base + "JOIN mail_queue m ON m.record_id = r.record_id "
                           "WHERE LOWER(m.to_addr) = ? ORDER BY r.received_ms LIMIT ?",
                           (q.lower(), MAX_RESULTS))
    return kind, [Found(uuid.UUID(bytes=bytes(r[0])), r[1], r[2], r[3], r[4], auxiliary_label(r[5], r[6]),
                        int(r[7]), r[8], r[9] or "") for r in rows], email_ok


@dataclass(frozen=True)
class Trend:
    rows: list[tuple[str, dict[str, int]]]  # (day or auxiliary, {verdict: n})

    @property
    def totals(self) -> list[tuple[str, int, int]]:
        """(label, records, valid) per row."""
        return [(k, sum(c.values()), c.get(verify.VALIDO, 0)) for k, c in self.rows]


def trends(store: Store, process: processes.Process, aspirant_id: str | None,
           default_tz: str) -> tuple[Trend, Trend]:
    """Per calendar day where the process runs, and per auxiliary, by verdict."""
    tz = process.zone(default_tz)
    sql = ("SELECT v.received_ms, v.auxiliary_id, r.auxiliary_status, v.verdict FROM verdicts v "
           "LEFT JOIN records r ON r.record_id = v.record_id WHERE v.process_id = ?")
    params: tuple[Any, ...] = (process.process_id,)
    if aspirant_id:
        sql, params = sql + " AND v.aspirant_id = ?", (*params, aspirant_id)
    names = {a.aux_id: a.name for a in fleet.list_auxiliaries(store)}
    days: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    auxes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for received, aux, status, verdict in store.query(sql, params):
        days[periods.local_date(int(received), tz).isoformat()][verdict] += 1
        label = auxiliary_label(aux, status)
        if status == AUX_REGISTERED and names.get(aux):
            label = names[aux]  # a name the coordinator gave, not device text
        auxes[label][verdict] += 1
    return (Trend([(d, dict(c)) for d, c in sorted(days.items())]),
            Trend([(a, dict(c)) for a, c in sorted(auxes.items())]))


def register(app: Any) -> None:
    ensure_indexes(app.store)
    audit.ensure_schema(app.store)

    def search_form(sess: Session, _query: dict[str, str]) -> Response:
        return app._html("search.html", session=sess, q="", kind=None, found=[], error=None,
                         labels=verify.LABELS, limit=MAX_RESULTS)

    def search_page(sess: Session, form: Form) -> Response:
        q = form.fields.get("q", "")
        kind, found, email_ok = search(app.store, q) if q.strip() else (None, [], True)
        if q.strip():
            audit.record(app.store, sess.user.username, "buscar",
                         f"{kind or 'desconocido'} {masked(kind, q) if kind else ''}".strip(),
                         f"{len(found)} encontrados")
        error = None
        if q.strip() and kind is None:
            error = "Escriba un folio, una CIC (9 o 10 dígitos) o un correo electrónico."
        elif kind == "email" and not email_ok:
            error = "Este servidor no guarda correos (acuses desactivados): busque por folio o CIC."
        return app._html("search.html", session=sess, q=q, kind=kind, found=found, error=error,
                         labels=verify.LABELS, limit=MAX_RESULTS)

    def trend_page(sess: Session, query: dict[str, str]) -> Response:
        procs = processes.list_processes(app.store)
        pid = query.get("p") or (procs[0].process_id if procs else "")
        proc = next((p for p in procs if p.process_id == pid), None)
        if proc is None:
            return app._html("trend.html", session=sess, procs=procs, proc=None, aspirant="",
                             aspirants=[], by_day=None, by_aux=None)
        aspirant = query.get("a", "")
        by_day, by_aux = trends(app.store, proc, aspirant or None, app.tz_name)
        return app._html(
            "trend.html", session=sess, procs=procs, proc=proc, aspirant=aspirant,
            aspirants=processes.list_aspirants(app.store, proc.process_id), by_day=by_day, by_aux=by_aux,
            zone=proc.zone(app.tz_name).key, labels=verify.LABELS,
            day_svg=Markup(dashboard_svg.stacked_chart(by_day.rows, aria="Apoyos por día y dictamen")),
            aux_svg=Markup(dashboard_svg.stacked_chart(by_aux.rows, aria="Apoyos por auxiliar y dictamen")),
            legend=Markup(dashboard_svg.legend()))

    app.pages["/buscar"] = search_form
    app.actions["/buscar"] = search_page
    app.pages["/tendencia"] = trend_page
