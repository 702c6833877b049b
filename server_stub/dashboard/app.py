"""The coordinators' dashboard: a small ASGI app (Jinja2 templates, SVG charts, no JavaScript).

Served by `fieldkit-server serve` on its own HTTPS listener *without* client
certificates ([dashboard] in server.toml): browsers log in with a password.
Session cookie HttpOnly + Secure + SameSite=Strict; every POST carries the
session's CSRF token and, when the browser sends one, an Origin equal to the
Host. Coordinators see everything and can revoke a device and open the
garantía de audiencia; an `aspirante` account sees only its own page.

"Issue an enrollment code" belongs to the fleet (``server_stub.fleet``): the form (a
multi-select of auxiliaries) posts to `server_stub.fleet.enrollment_codes`'s
`dashboard_issue_code(store, form)`, and the dashboard answers with
the page itself (never a redirect: the code must not land in a URL), showing the
code and its QR as an inline PNG (data: URL). Revoking calls the fleet's
`revocation.revoke` when the app has the server config (serve passes it), so the
broker's ACL denies the device and Mosquitto reloads.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import jinja2
from markupsafe import Markup

from server_stub.core.asgi import Receive, Scope, Send, header, not_http, read_body, respond
from server_stub.core.config import ServerConfig
from server_stub.core.store import Store, StoreError
from server_stub.dashboard import accounts
from server_stub.dashboard import data as dashboard_data
from server_stub.dashboard import svg as dashboard_svg
from server_stub.fleet import enrollment_codes, revocation
from server_stub.fleet import tables as fleet
from server_stub.fleet.registry import RegistryError, revoke_device
from server_stub.verify import processes, verify
from server_stub.verify.process_kinds import NO_RULE_LABEL, kind_label, rule_for

log = logging.getLogger("fieldkit.server.dashboard")

COOKIE = "fk_session"
MAX_FORM = 64 * 1024
UNIT_LABELS = {"entidad": "entidades", "distrito": "distritos", "seccion": "secciones"}
_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'")


def _when(ms: int | None) -> str:
    if not ms:
        return "—"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _duration(ms: int) -> str:
    if ms <= 0:
        return "0 h"
    d, rem = divmod(ms // 60000, 24 * 60)
    return f"{d} d {rem // 60} h {rem % 60} min" if d else f"{rem // 60} h {rem % 60} min"


_BROKER_TEXT = {"reloaded": "el broker ya lo rechaza",
                "acl-written": "ACL del broker escrita; falta recargarlo",
                "not-configured": "broker sin configurar ([fleet].broker_acl)"}


class DashboardApp:
    def __init__(self, store: Store, *, secure_cookie: bool = True,
                 config: ServerConfig | None = None) -> None:
        self.store = store
        self.secure_cookie = secure_cookie
        self.config = config  # with it, revoking also reaches the broker (revocation.revoke)
        verify.ensure_schema(store)
        accounts.ensure_schema(store)
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                                      autoescape=True)
        self.env.filters["when"] = _when

    # --- ASGI -----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if await not_http(scope, receive, send):
            return
        body = b""
        if scope["method"] == "POST":
            posted = await read_body(receive, MAX_FORM)
            if posted is None:
                await self._send(send, 413, b"demasiado grande", "text/plain")
                return
            body = posted
        try:
            status, payload, media, headers = await asyncio.to_thread(self.handle, scope, body)
        except StoreError as e:
            log.error("dashboard: store unavailable: %s", e)
            status, payload, media, headers = 503, b"base de datos no disponible", "text/plain", []
        await self._send(send, status, payload, media, headers)

    async def _send(self, send: Send, status: int, payload: bytes, media: str,
                    headers: list[tuple[bytes, bytes]] | None = None) -> None:
        sec = [(b"content-security-policy", _CSP.encode()), (b"x-frame-options", b"DENY"),
               (b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store"),
               (b"referrer-policy", b"same-origin")]
        await respond(send, status, payload, media, sec + (headers or []))

    # --- routing (runs in a worker thread: the store blocks) -------------------------------

    def handle(self, scope: Scope, body: bytes) -> tuple[int, bytes, str, list[tuple[bytes, bytes]]]:
        path, method = scope["path"], scope["method"]
        query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        # A multi-select sends one field per choice: auxiliaries are joined with commas.
        form = {k: ",".join(v) if k == "auxiliary" else v[0]
                for k, v in parse_qs(body.decode("utf-8", "replace")).items()} if body else {}
        token = self._cookie(scope)
        if path == "/login":
            return self._login(method, form)
        sess = accounts.session(self.store, token)
        if sess is None:
            return self._redirect("/login")
        if method == "POST":
            if not accounts.csrf_ok(sess, form.get("csrf")) or not self._same_origin(scope):
                return 403, b"solicitud rechazada (CSRF)", "text/plain", []
            return self._post(path, sess, form, token)
        if method != "GET":
            return 405, b"", "text/plain", []
        user = sess.user
        if path == "/":
            if user.role == "aspirante":
                return self._redirect(f"/aspirante?p={quote(user.process_id or '')}"
                                      f"&a={quote(user.aspirant_id or '')}")
            return self._html("overview.html", session=sess, **self._overview(query.get("msg")))
        if path == "/aspirante":
            p, a = query.get("p", ""), query.get("a", "")
            if user.role == "aspirante" and (p, a) != (user.process_id, user.aspirant_id):
                return 403, b"no autorizado", "text/plain", []
            return self._aspirant(sess, p, a, query.get("msg"))
        if path == "/export.csv":
            p, a = query.get("p"), query.get("a")
            if user.role == "aspirante":
                p, a = user.process_id, user.aspirant_id
            name = f"dictamenes-{p or 'todos'}{'-' + a if a else ''}.csv".replace("/", "_")
            return 200, dashboard_data.verdicts_csv(self.store, p, a).encode(), "text/csv; charset=utf-8", \
                [(b"content-disposition", f'attachment; filename="{name}"'.encode())]
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
        if path == "/devices/revoke":
            dev = form.get("device_id", "")
            try:
                if self.config is None:
                    revoke_device(self.store, dev)
                    msg = f"Dispositivo {dev} revocado (sin configuración del broker)."
                else:
                    rep = revocation.revoke(self.store, self.config, dev)
                    msg = f"Dispositivo {dev} revocado; {_BROKER_TEXT.get(rep.broker, rep.broker)}."
                    if rep.pending:
                        msg += f" Tenía {rep.pending} registros sin enviar en su último latido."
                log.warning("device %s revoked from the dashboard by %s", dev, sess.user.username)
            except RegistryError as e:
                msg = f"No se pudo revocar: {e}"
            return self._redirect("/?msg=" + quote(msg))
        if path == "/devices/enroll-code":
            text, issued = enrollment_codes.dashboard_issue_code(self.store, form)
            if issued is None:
                return self._redirect("/?msg=" + quote(text))
            log.warning("enrollment code issued from the dashboard by %s for %s", sess.user.username,
                        ", ".join(issued.auxiliaries))
            return self._html("overview.html", session=sess, **self._overview(text), issued=issued,
                              issued_qr=issued.qr_png_data_url())
        if path == "/aspirante/notificar":
            p, a = form.get("p", ""), form.get("a", "")
            try:
                processes.notify_aspirant(self.store, p, a)
                msg = "Notificación registrada: la garantía de audiencia queda abierta 5 días."
            except processes.ProcessError as e:
                msg = str(e)
            return self._redirect(f"/aspirante?p={quote(p)}&a={quote(a)}&msg={quote(msg)}")
        return 404, b"no encontrado", "text/plain", []

    # --- pages ----------------------------------------------------------------------------

    def _login(self, method: str, form: dict[str, str]) -> tuple[int, bytes, str, list[tuple[bytes, bytes]]]:
        if method == "GET":
            return self._html("login.html", session=None)
        got = accounts.login(self.store, form.get("username", ""), form.get("password", ""))
        if got is None:
            _, page, media, h = self._html("login.html", session=None,
                                           error="Usuario o contraseña incorrectos (o cuenta bloqueada).")
            return 401, page, media, h
        token, _ = got
        flags = "; Secure" if self.secure_cookie else ""
        cookie = (f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; "
                  f"Max-Age={accounts.SESSION_MS // 1000}{flags}")
        return 303, b"", "text/plain", [(b"location", b"/"), (b"set-cookie", cookie.encode())]

    def _overview(self, msg: str | None) -> dict[str, Any]:
        s = self.store
        now = int(time.time() * 1000)
        devs = dashboard_data.devices(s)
        procs = []
        for proc in processes.list_processes(s):
            rule = rule_for(proc.kind)
            left, send_left = dashboard_data.time_left(proc, now)
            procs.append({
                "proc": proc, "rule": rule, "unit_label": UNIT_LABELS[rule.unit] if rule else "",
                "kind_label": kind_label(proc.kind), "no_rule": NO_RULE_LABEL,
                "period": f"{_when(proc.starts_ms)} – {_when(proc.ends_ms)}",
                "left_ms": left, "left": _duration(left), "send_left_ms": send_left,
                "send_left": _duration(send_left),
                "aspirants": [{"asp": a, "pr": dashboard_data.progress(s, proc, a) if rule else None,
                               "valid": dashboard_data.verdict_counts(s, proc.process_id, a.aspirant_id)
                               .get(verify.VALIDO, 0)}
                              for a in processes.list_aspirants(s, proc.process_id)]})
        totals = verify.counts(s)
        return {"procs": procs, "devices": devs, "holding": dashboard_data.devices_holding(devs),
                "timeline_svg": Markup(dashboard_svg.timeline_chart(dashboard_data.timeline(s))),
                "legend": Markup(dashboard_svg.legend()), "labels": verify.LABELS,
                "totals": [(v, totals[v]) for v in verify.VERDICTS if v in totals],
                "flash": msg, "auxiliaries": fleet.list_auxiliaries(s)}

    def _aspirant(self, sess: accounts.Session, p: str, a: str,
                  msg: str | None) -> tuple[int, bytes, str, list[tuple[bytes, bytes]]]:
        s = self.store
        proc, asp = processes.get_process(s, p), processes.get_aspirant(s, p, a)
        if proc is None or asp is None:
            return 404, b"aspirante no encontrado", "text/plain", []
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
            flash=msg)

    # --- helpers --------------------------------------------------------------------------

    def _html(self, name: str, **ctx: Any) -> tuple[int, bytes, str, list[tuple[bytes, bytes]]]:
        ctx.setdefault("flash", None)
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
        origin = header(scope, b"origin")
        if origin is None or origin == "null":
            return origin is None
        return urlsplit(origin).netloc == (header(scope, b"host") or "")
