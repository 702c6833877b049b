"""The coordinators' dashboard: a small ASGI app (Jinja2 templates, SVG charts, no JavaScript).

Served by `fieldkit-server serve` on its own HTTPS listener *without* client
certificates ([dashboard] in server.toml): browsers log in with a password.
Session cookie HttpOnly + Secure + SameSite=Strict; every POST carries the
session's CSRF token and, when the browser sends one, an Origin equal to the
Host (`_same_origin`). POST /login has no token but the same origin rule, checked
before the try is counted: another site cannot spend a coordinator's tries from his
address. Coordinators see everything and open the garantía de audiencia; the other
coordinator pages (revoking and wiping a device among them) register their paths here from
`server_stub.admin`; an `aspirante` account sees only its own page.
The overview opens with the alerts banner (`alerts`: devices silent or holding old
records); a coordinator names a device there (`fleet_forms`).

"Issue an enrollment code" belongs to the fleet (``server_stub.fleet``): the form (a
multi-select of auxiliaries) posts to `server_stub.fleet.enrollment_codes`'s
`dashboard_issue_code(store, form)`, and the dashboard answers with
the page itself (never a redirect: the code must not land in a URL), showing the
code and its QR as an inline PNG (data: URL).

Messages after an action come from fixed tables, never from the URL: a redirect carries
`?msg=<code>` (and, after naming a device, `device=<id>`), and the page shows the code's text
only when the store agrees (the device has that name, the aspirant notified); an unknown code
shows nothing. A failed action answers with the page itself and its error (no redirect).
Login tries are limited per client address and per (account, address): `login_limits`.
Every response carries the security headers of `SECURITY_HEADERS`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from collections.abc import Callable
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup

from server_stub.core.asgi import Receive, Scope, Send, header, not_http, read_body, respond
from server_stub.core.config import ServerConfig
from server_stub.core.store import Store, StoreError
from server_stub.dashboard import accounts, audit, fleet_forms, forms
from server_stub.dashboard import alerts as dashboard_alerts
from server_stub.dashboard import data as dashboard_data
from server_stub.dashboard import svg as dashboard_svg
from server_stub.dashboard.forms import Action, Page
from server_stub.dashboard.login_limits import LoginLimits, wait_text
from server_stub.fleet import enrollment_codes
from server_stub.fleet import tables as fleet
from server_stub.verify import processes, verify
from server_stub.verify.process_kinds import NO_RULE_LABEL, kind_label, rule_for
from sync.common import periods

log = logging.getLogger("fieldkit.server.dashboard")

COOKIE = "fk_session"
MAX_FORM = 64 * 1024
UNIT_LABELS = {"entidad": "entidades", "distrito": "distritos", "seccion": "secciones"}
# No script at all; styles inline (the page's <style> and the chart legend's style attributes);
# images only from here or data: URLs (the enrollment QR PNG); never framed.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [
    (b"strict-transport-security", b"max-age=31536000"), (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),  # on all: every logged-in page and the CSV hold personal data
]


def _when(ms: int | None, tz: ZoneInfo) -> str:
    """Local wall time with the zone's abbreviation ("2027-02-28 23:59 CST")."""
    return periods.show(ms, tz) if ms else "—"


def _file_part(text: str) -> str:
    """A query value made safe inside a quoted Content-Disposition filename: only [A-Za-z0-9._-]
    (any other run of characters becomes one `_`), at most 64 characters."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:64]


def _duration(ms: int) -> str:
    if ms <= 0:
        return "0 h"
    d, rem = divmod(ms // 60000, 24 * 60)
    return f"{d} d {rem // 60} h {rem % 60} min" if d else f"{rem // 60} h {rem % 60} min"


ASPIRANT_FLASH = {"notificado": "Notificación registrada: la garantía de audiencia queda abierta 5 días."}


class DashboardApp:
    def __init__(self, store: Store, *, secure_cookie: bool = True,
                 config: ServerConfig | None = None, clock: Callable[[], int] | None = None) -> None:
        self.store = store
        self.secure_cookie = secure_cookie
        self.config = config  # with it, revoking also reaches the broker (revocation.revoke)
        self.limits = LoginLimits(config.dashboard.trusted_proxies if config else ())
        self.tz_name = config.deployment.timezone if config else periods.DEFAULT_TZ
        self.tz = periods.zone(self.tz_name)
        # The server's clock in ms; tests give another to raise and clear alerts at will.
        self.clock: Callable[[], int] = clock or (lambda: int(time.time() * 1000))
        self.thresholds = dashboard_alerts.Thresholds.of(config.alerts if config else None)
        verify.ensure_schema(store)
        accounts.ensure_schema(store)
        audit.ensure_schema(store)
        fleet.ensure_label_column(store)
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                                      autoescape=True)
        self.env.filters["when"] = lambda ms: _when(ms, self.tz)
        self.pages: dict[str, Page] = {}
        self.actions: dict[str, Action] = {}
        self.uploads: dict[str, int] = {}
        # The coordinator's other pages register here (server_stub.admin.site): a GET path ->
        # fn(session, query), a POST path -> fn(session, form), a POST with a file -> its limit.

    # --- ASGI -----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if await not_http(scope, receive, send):
            return
        body = b""
        if scope["method"] == "POST":
            limit = MAX_FORM
            if scope["path"] in self.uploads:  # a large body only from a coordinator's session
                sess = await asyncio.to_thread(accounts.session, self.store, self._cookie(scope))
                if sess is not None and sess.user.role == "coordinador":
                    limit = self.uploads[scope["path"]]
            posted = await read_body(receive, limit)
            if posted is None:
                text = (f"El archivo pasa de {limit // 2**20} MB: para uno mayor use "
                        "`fieldkit-server roll import`." if limit > MAX_FORM else "demasiado grande")
                await self._send(send, 413, text.encode(), "text/plain; charset=utf-8")
                return
            body = posted
        try:
            status, payload, media, headers = await asyncio.to_thread(self.handle, scope, body)
        except StoreError as e:
            log.error("dashboard: store unavailable: %s", e)
            status, payload, media, headers = 503, b"base de datos no disponible", "text/plain", []
        except Exception:  # a defect: logged with its traceback, the browser gets one line
            log.exception("dashboard: %s %s failed", scope["method"], scope["path"])
            status, payload, media, headers = (500, "Error interno del tablero; quedó registrado.".encode(),
                                               "text/plain; charset=utf-8", [])
        await self._send(send, status, payload, media, headers)

    async def _send(self, send: Send, status: int, payload: bytes, media: str,
                    headers: list[tuple[bytes, bytes]] | None = None) -> None:
        await respond(send, status, payload, media, SECURITY_HEADERS + (headers or []))

    # --- routing (runs in a worker thread: the store blocks) -------------------------------

    def handle(self, scope: Scope, body: bytes) -> tuple[int, bytes, str, list[tuple[bytes, bytes]]]:
        path, method = scope["path"], scope["method"]
        query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        parsed = forms.parse(header(scope, b"content-type"), body)
        form = parsed.fields  # a multi-select's choices joined with commas (forms.MULTI)
        token = self._cookie(scope)
        if path == "/login":
            return self._login(scope, method, form)
        sess = accounts.session(self.store, token)
        if sess is None:
            return self._redirect("/login")
        if method == "POST":
            if not accounts.csrf_ok(sess, form.get("csrf")) or not self._same_origin(scope):
                return 403, b"solicitud rechazada (CSRF)", "text/plain", []
            if (action := self.actions.get(path)) is not None:
                if sess.user.role != "coordinador":
                    return 403, b"no autorizado", "text/plain", []
                return action(sess, parsed)
            return self._post(path, sess, form, token)
        if method != "GET":
            return 405, b"", "text/plain", []
        user = sess.user
        if path == "/":
            if user.role == "aspirante":
                return self._redirect(f"/aspirante?p={quote(user.process_id or '')}"
                                      f"&a={quote(user.aspirant_id or '')}")
            return self._html("overview.html", session=sess, **self._overview(self._overview_flash(query)))
        if path == "/aspirante":
            p, a = query.get("p", ""), query.get("a", "")
            if user.role == "aspirante" and (p, a) != (user.process_id, user.aspirant_id):
                return 403, b"no autorizado", "text/plain", []
            return self._aspirant(sess, p, a, query.get("msg"))  # a code: see _aspirant
        if path == "/export.csv":
            p, a = query.get("p"), query.get("a")
            if user.role == "aspirante":
                p, a = user.process_id, user.aspirant_id
            name = f"dictamenes-{_file_part(p or 'todos')}{'-' + _file_part(a) if a else ''}.csv"
            body = dashboard_data.verdicts_csv(self.store, p, a, self.tz_name).encode()
            return 200, body, "text/csv; charset=utf-8", \
                [(b"content-disposition", f'attachment; filename="{name}"'.encode())]
        if (page := self.pages.get(path)) is not None:
            if user.role != "coordinador":
                return 403, b"no autorizado", "text/plain", []
            return page(sess, query)
        if path == "/api/summary.json" and user.role == "coordinador":
            return 200, json.dumps(verify.counts(self.store)).encode(), "application/json", []
        return 404, b"no encontrado", "text/plain", []

    def _post(self, path: str, sess: accounts.Session, form: dict[str, str],
              token: str | None) -> tuple[int, bytes, str, list[tuple[bytes, bytes]]]:
        if path == "/logout":
            accounts.logout(self.store, token)
            return self._redirect("/login", clear=True)
        if sess.user.role != "coordinador":
            return 403, b"no autorizado", "text/plain", []
        if path == "/devices/label":
            error, to = fleet_forms.post_label(self.store, form, sess.user.username)
            if not error:
                audit.record(self.store, sess.user.username, audit.DEVICE_LABEL, form.get("device_id", ""),
                             form.get("label", "").strip())
            return self._overview_page(sess, error) if error else self._redirect(to)
        if path == "/devices/enroll-code":
            text, issued = enrollment_codes.dashboard_issue_code(self.store, form, by=sess.user.username)
            if issued is None:
                return self._overview_page(sess, text)
            # The code itself is a secret shown once: the log keeps whom it is for, not it.
            audit.record(self.store, sess.user.username, audit.CODE_ISSUE, issued.for_text)
            log.warning("enrollment code issued from the dashboard by %s for %s", sess.user.username,
                        issued.for_text)
            return self._html("overview.html", session=sess, **self._overview(text), issued=issued,
                              issued_qr=issued.qr_png_data_url())
        if path == "/aspirante/notificar":
            p, a = form.get("p", ""), form.get("a", "")
            try:
                processes.notify_aspirant(self.store, p, a)
            except processes.ProcessError as e:
                return self._aspirant(sess, p, a, None, error=str(e))
            audit.record(self.store, sess.user.username, audit.NOTIFY, f"{p}/{a}")
            return self._redirect(f"/aspirante?p={quote(p)}&a={quote(a)}&msg=notificado")
        return 404, b"no encontrado", "text/plain", []

    # --- pages ----------------------------------------------------------------------------

    def _login(self, scope: Scope, method: str,
               form: dict[str, str]) -> tuple[int, bytes, str, list[tuple[bytes, bytes]]]:
        if method == "GET":
            return self._html("login.html", session=None)
        if method != "POST":
            return 405, b"", "text/plain", []
        if not self._same_origin(scope):  # another site's page posting here: not counted, no hash
            return 403, b"solicitud rechazada: otro origen", "text/plain", []
        username, address = form.get("username", ""), self.limits.client(scope)
        wait = self.limits.begin(address, username)
        if wait > 0:  # refused before any hash is computed
            _, page, media, h = self._html("login.html", session=None, error=wait_text(wait))
            return 429, page, media, [*h, (b"retry-after", str(math.ceil(wait)).encode())]
        got = accounts.login(self.store, username, form.get("password", ""))
        if got is None:
            wait = self.limits.failed(address, username)
            error = "Usuario o contraseña incorrectos." + (f" {wait_text(wait)}" if wait > 0 else "")
            _, page, media, h = self._html("login.html", session=None, error=error)
            return 401, page, media, h
        self.limits.succeeded(address, username)
        token, _ = got
        flags = "; Secure" if self.secure_cookie else ""
        cookie = (f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; "
                  f"Max-Age={accounts.SESSION_MS // 1000}{flags}")
        return 303, b"", "text/plain", [(b"location", b"/"), (b"set-cookie", cookie.encode())]

    def _overview_flash(self, query: dict[str, str]) -> str | None:
        """The saved device name after `?msg=nombrado`, only if the store holds it. (Revoking
        and wiping answer on the device's own page: server_stub.admin.fleet.)"""
        if query.get("msg") == fleet_forms.LABEL_SAVED:
            return fleet_forms.label_flash(self.store, query.get("device", ""))
        return None

    def _overview_page(self, sess: accounts.Session,
                       flash: str) -> tuple[int, bytes, str, list[tuple[bytes, bytes]]]:
        return self._html("overview.html", session=sess, **self._overview(flash))

    def _overview(self, msg: str | None) -> dict[str, Any]:
        s = self.store
        now = self.clock()
        devs = dashboard_data.devices(s)
        procs = []
        for proc in processes.list_processes(s):
            rule = rule_for(proc.kind)
            left, send_left = dashboard_data.time_left(proc, now)
            selfserv = dashboard_data.self_service_counts(s, proc.process_id)
            procs.append({
                "proc": proc, "rule": rule, "unit_label": UNIT_LABELS[rule.unit] if rule else "",
                "kind_label": kind_label(proc.kind), "no_rule": NO_RULE_LABEL,
                "period": self._period(proc),
                "left_ms": left, "left": _duration(left), "send_left_ms": send_left,
                "send_left": _duration(send_left),
                "aspirants": [{"asp": a, "pr": dashboard_data.progress(s, proc, a) if rule else None,
                               "valid": dashboard_data.verdict_counts(s, proc.process_id, a.aspirant_id)
                               .get(verify.VALIDO, 0),
                               "self_service": selfserv.get(a.aspirant_id, (0, 0))}
                              for a in processes.list_aspirants(s, proc.process_id)]})
        totals = verify.counts(s)
        auxs = fleet.list_auxiliaries(s)
        return {"procs": procs, "devices": devs, "holding": dashboard_data.devices_holding(devs),
                "alerts": dashboard_alerts.alerts(devs, now, self.thresholds,
                                                  dashboard_data.sending_windows(s),
                                                  dashboard_data.activation_counts(s, now)),
                "label_max": fleet.LABEL_MAX,
                "timeline_svg": Markup(dashboard_svg.timeline_chart(dashboard_data.timeline(s), tz=self.tz)),
                "legend": Markup(dashboard_svg.legend()), "labels": verify.LABELS,
                "totals": [(v, totals[v]) for v in verify.VERDICTS if v in totals],
                "flash": msg, "auxiliaries": auxs, "aux_names": {a.aux_id: a.name for a in auxs}}

    def _aspirant(self, sess: accounts.Session, p: str, a: str, msg: str | None, *,
                  error: str | None = None) -> tuple[int, bytes, str, list[tuple[bytes, bytes]]]:
        """`msg`: a code of ASPIRANT_FLASH, shown only if the store agrees; `error`: a failed action's."""
        s = self.store
        proc, asp = processes.get_process(s, p), processes.get_aspirant(s, p, a)
        if proc is None or asp is None:
            return 404, b"aspirante no encontrado", "text/plain", []
        flash = error or (ASPIRANT_FLASH.get(msg or "") if asp.notified_ms is not None else None)
        rule = rule_for(proc.kind)
        pr = dashboard_data.progress(s, proc, asp) if rule else None
        left, send_left = dashboard_data.time_left(proc)
        counts = dashboard_data.verdict_counts(s, p, a)
        return self._html(
            "aspirant.html", session=sess, proc=proc, asp=asp, pr=pr, rule=rule,
            unit_label=UNIT_LABELS[rule.unit] if rule else "", kind_label=kind_label(proc.kind),
            no_rule=NO_RULE_LABEL, valid=counts.get(verify.VALIDO, 0),
            cheapest=pr.cheapest_missing_units()[: min(5, pr.units_missing)] if pr else [],
            units_svg=Markup(dashboard_svg.units_chart(pr)) if pr else "", left=_duration(left),
            send_left=_duration(send_left),
            counts=[(v, counts[v]) for v in verify.VERDICTS if v in counts], labels=verify.LABELS,
            by_aux=dashboard_data.progress_by(s, "auxiliary_id", p, a),
            by_device=dashboard_data.progress_by(s, "device_id", p, a),
            non_valid=dashboard_data.non_valid(s, p, a), audiencia_closes=asp.audiencia_closes_ms(),
            flash=flash)

    # --- helpers --------------------------------------------------------------------------

    def _period(self, proc: processes.Process) -> str:
        """The period in the process's own zone (its dates are days there)."""
        tz = proc.zone(self.tz_name)
        return f"{_when(proc.starts_ms, tz)} – {_when(proc.ends_ms, tz)}"

    def _html(self, name: str, **ctx: Any) -> tuple[int, bytes, str, list[tuple[bytes, bytes]]]:
        ctx.setdefault("flash", None)
        names = accounts.display_names(self.store)  # `person`: an account by its display name
        ctx.setdefault("person", lambda username: Markup('<span title="{}">{}</span>').format(
            username, names.get(username, username)) if username else "—")
        page = self.env.get_template(name).render(**ctx)
        return 200, page.encode(), "text/html; charset=utf-8", []

    def _redirect(self, to: str, *, clear: bool = False) -> tuple[int, bytes, str, list[tuple[bytes, bytes]]]:
        h = [(b"location", to.encode())]
        if clear:
            h.append((b"set-cookie", f"{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0".encode()))
        return 303, b"", "text/plain", h

    @staticmethod
    def _cookie(scope: Scope) -> str | None:
        raw = header(scope, b"cookie")
        if not raw:
            return None
        c: SimpleCookie = SimpleCookie()
        try:
            c.load(raw)
        except Exception:
            return None
        return c[COOKIE].value if COOKIE in c else None

    @staticmethod
    def _same_origin(scope: Scope) -> bool:
        """The browser says the POST comes from this origin. Sec-Fetch-Site, when sent, must say
        so; with `Referrer-Policy: no-referrer` a browser sends `Origin: null` on its own forms,
        accepted only next to `Sec-Fetch-Site: same-origin` (a page cannot forge either header)."""
        site = header(scope, b"sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return False
        origin = header(scope, b"origin")
        if origin is None or origin == "null":
            return origin is None or site == "same-origin"
        return urlsplit(origin).netloc == (header(scope, b"host") or "")
