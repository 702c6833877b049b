"""The coordinator's administration pages: auxiliaries (`auxiliaries`), processes and the audit log.

Paths registered on the app (`server_stub.admin.site`):

- `GET /auxiliares`, `POST /auxiliares/alta`, `/auxiliares/editar`, `/auxiliares/pin` (auxiliaries)
- `GET /procesos`, `POST /procesos/definir`, `POST /procesos/aspirante`
- `GET /auditoria[?accion=CODE]`

Processes are defined as `fieldkit-server process define|add-aspirant` does: dates are
calendar days in the process's own zone (`periods.start_ms`/`end_ms`), and a change drops
the process's verdicts for recomputation (`verify.invalidate`). Every action that succeeds
writes one audit row (`audit.record`, actor = the logged-in account). A refused form answers
with the page, its error in Spanish and what was typed.
"""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

from server_stub.admin import auxiliaries
from server_stub.admin.auxiliaries import FormError, Response, clean_id, clean_name
from server_stub.core.store import Store
from server_stub.dashboard import audit
from server_stub.dashboard.accounts import Session
from server_stub.dashboard.forms import Form
from server_stub.deploy import keys
from server_stub.fleet import command_issue
from server_stub.fleet import tables as fleet
from server_stub.verify import processes as procmod
from server_stub.verify import verify
from server_stub.verify.process_kinds import KINDS, kind_label
from sync.common import periods

log = logging.getLogger("fieldkit.server.dashboard")

# Mexico's zones (all in the IANA database); the deployment's default first.
ZONES = ("America/Mexico_City", "America/Cancun", "America/Merida", "America/Monterrey",
         "America/Chihuahua", "America/Ciudad_Juarez", "America/Mazatlan", "America/Hermosillo",
         "America/Tijuana", "America/Bahia_Banderas", "America/Matamoros", "America/Ojinaga")
SCOPE_NEEDS = {"entidad": ("entidad",), "distrito": ("entidad", "distrito")}
SCOPE_WORDS = {"entidad": "la entidad", "distrito": "el distrito federal"}
AUDIT_LIMIT = 200


def _show(ms: int, tz: ZoneInfo) -> str:
    return periods.show(ms, tz)


def _number(text: str, what: str, top: int | None = None) -> int | None:
    """An optional positive whole number from a form field."""
    t = text.strip()
    if not t:
        return None
    if not t.isdigit() or int(t) < 1 or (top is not None and int(t) > top):
        limit = f"de 1 a {top}" if top else "entero positivo"
        raise FormError(f"{what} debe ser un número {limit}.")
    return int(t)


class ProcessPages:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.store: Store = app.store

    def register(self) -> None:
        self.app.pages["/procesos"] = self.page
        self.app.actions["/procesos/definir"] = self.define
        self.app.actions["/procesos/aspirante"] = self.add_aspirant

    def page(self, sess: Session, _query: dict[str, str]) -> Response:
        return self._render(sess)

    def _render(self, sess: Session, *, flash: str | None = None, error: str | None = None,
                entered: dict[str, str] | None = None, status: int = 200) -> Response:
        s = self.store
        procs = []
        for p in procmod.list_processes(s):
            tz = p.zone(self.app.tz_name)
            procs.append({"proc": p, "kind_label": kind_label(p.kind), "zone": tz.key,
                          "starts": _show(p.starts_ms, tz), "ends": _show(p.ends_ms, tz),
                          "aspirants": procmod.list_aspirants(s, p.process_id)})
        default_zone = self.app.tz_name if self.app.tz_name in ZONES else ZONES[0]
        _, body, media, headers = self.app._html(
            "processes.html", session=sess, flash=flash, error=error, procs=procs,
            kinds=[(k, v.label) for k, v in KINDS.items()], zones=ZONES, default_zone=default_zone,
            entered=entered or {})
        return status, body, media, headers

    def define(self, sess: Session, form: Form) -> Response:
        f = form.fields
        try:
            pid = clean_id(f.get("process_id", ""), "proceso")
            kind = f.get("kind", "")
            if kind not in KINDS:
                raise FormError("Elija el tipo de proceso.")
            name = clean_name(f.get("name", "") or pid, "proceso")
            zone_name = f.get("timezone", "")
            if zone_name not in ZONES:
                raise FormError("Elija una zona horaria de la lista.")
            if not f.get("start") or not f.get("end"):
                raise FormError("Faltan la fecha de inicio o la de fin.")
            tz = periods.zone(zone_name)
            start, end = periods.start_ms(f["start"], tz), periods.end_ms(f["end"], tz)
            replace = f.get("replace") == "1"
            if not replace and procmod.get_process(self.store, pid) is not None:
                raise FormError(f"El proceso {pid} ya existe: marque «Reemplazar» para cambiarlo.")
            p = procmod.define_process(self.store, pid, kind, name, start, end, replace=replace,
                                       timezone=tz.key)
        except (FormError, periods.PeriodError, procmod.ProcessError) as e:
            return self._render(sess, error=f"No se definió el proceso: {e}", entered=f, status=400)
        verify.invalidate(self.store, p.process_id)
        period = f"del {_show(start, tz)} al {_show(end, tz)}"
        sent = ""
        if replace:  # devices already carrying it must learn the new period
            sent = " " + self._push_process(p.process_id)
        audit.record(self.store, sess.user.username, audit.PROCESS_DEFINE, pid,
                     f"{kind_label(kind)}, «{name}», {period}{' (reemplazado)' if replace else ''}")
        log.info("process %s defined from the dashboard by %s", pid, sess.user.username)
        return self._render(sess, flash=f"Proceso {pid} definido: {period}.{sent}")

    def _push_process(self, process_id: str) -> str:
        cfg = self.app.config
        if cfg is None:
            return "Sin la configuración del servidor no se envió a los dispositivos."
        try:
            sign = keys.load_sign_private(cfg.keys.sign_key)
        except (OSError, keys.KeyFileError) as e:
            return f"No se pudo firmar la configuración para los dispositivos: {e}"
        try:
            n = len(command_issue.push_process_change(self.store, sign, process_id))
        except fleet.FleetError as e:
            return f"No se pudo enviar a los dispositivos: {e}"
        return f"Configuración nueva enviada a {n} dispositivo{'s' if n != 1 else ''}."

    def add_aspirant(self, sess: Session, form: Form) -> Response:
        f = form.fields
        try:
            proc = procmod.get_process(self.store, f.get("process_id", ""))
            if proc is None:
                raise FormError("Elija un proceso de la lista.")
            aid = clean_id(f.get("aspirant_id", ""), "aspirante")
            name = clean_name(f.get("name", "") or aid, "aspirante")
            scope = {"entidad": _number(f.get("entidad", ""), "La entidad", 32),
                     "distrito": _number(f.get("distrito", ""), "El distrito federal"),
                     "municipio": _number(f.get("municipio", ""), "El municipio")}
            kind = KINDS.get(proc.kind)
            for need in SCOPE_NEEDS.get(kind.scope if kind else "pais", ()):
                if scope[need] is None:
                    raise FormError(f"Un proceso de tipo «{kind_label(proc.kind)}» necesita "
                                    f"{SCOPE_WORDS[need]}.")
            a = procmod.add_aspirant(self.store, proc.process_id, aid, name, entidad=scope["entidad"],
                                     distrito_federal=scope["distrito"], municipio=scope["municipio"])
        except (FormError, procmod.ProcessError) as e:
            return self._render(sess, error=f"No se dio de alta el aspirante: {e}", entered=f, status=400)
        verify.invalidate(self.store, a.process_id)
        audit.record(self.store, sess.user.username, audit.ASPIRANT_ADD, f"{a.process_id}/{a.aspirant_id}",
                     f"«{name}», {a.scope_label}")
        log.info("aspirant %s added to %s from the dashboard by %s", aid, a.process_id, sess.user.username)
        return self._render(sess, flash=f"Aspirante {aid} en {a.process_id}: {a.scope_label}.")


def audit_page(app: Any) -> Any:
    def page(sess: Session, query: dict[str, str]) -> Response:
        choices = audit.filter_choices(app.store)
        action = query.get("accion", "")
        chosen = action if action in choices else None  # anything else: all actions
        return app._html("audit.html", session=sess, entries=audit.recent(app.store, AUDIT_LIMIT, chosen),
                         actions=choices, chosen=chosen, limit=AUDIT_LIMIT)
    return page


def register(app: Any) -> None:
    audit.ensure_schema(app.store)
    auxiliaries.register(app)
    ProcessPages(app).register()
    app.pages["/auditoria"] = audit_page(app)
