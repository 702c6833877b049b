"""The auxiliaries page: `GET /auxiliares`, and its forms `POST /auxiliares/alta`,
`/auxiliares/editar` and `/auxiliares/pin` (coordinators; the app checked session, CSRF and
origin before these run).

A PIN is made here (6 random digits from `secrets`), stored only as its hash
(`fleet.put_auxiliary`, `fleet.set_pin`) and shown once: the action answers with the page
itself, never a redirect, so the PIN is in no URL, no log, no audit row and no later page.
After a change the devices that carry the auxiliary get a signed config update, as
`fieldkit-server admin auxiliary-pin` does (`command_issue.queue_config_update`; after a new
PIN the device also clears that auxiliary's PIN lockout), and the page says to how many.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from typing import Any

from server_stub.core.store import Store
from server_stub.dashboard import audit
from server_stub.dashboard.accounts import Session
from server_stub.dashboard.forms import Form, Response
from server_stub.deploy import keys
from server_stub.fleet import command_issue as commands
from server_stub.fleet import tables as fleet
from server_stub.verify import processes as procmod

log = logging.getLogger("fieldkit.server.dashboard")

PIN_DIGITS = 6
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
NAME_MAX = 80


class FormError(ValueError):
    """A form the page refuses; the message is one Spanish sentence shown on the page."""


def new_pin() -> str:
    return f"{secrets.randbelow(10 ** PIN_DIGITS):0{PIN_DIGITS}d}"


def clean_id(text: str, what: str) -> str:
    value = text.strip()
    if not ID_RE.fullmatch(value):
        raise FormError(f"El id de {what} debe tener de 1 a 40 letras sin acento, dígitos, '.', '_' o '-'.")
    return value


def clean_name(text: str, what: str) -> str:
    value = " ".join(text.split())
    if not 1 <= len(value) <= NAME_MAX or not value.isprintable():
        raise FormError(f"El nombre de {what} debe tener de 1 a {NAME_MAX} caracteres.")
    return value


def _chosen(form: Form) -> list[str]:
    procs = [p for p in form.fields.get("process", "").split(",") if p]
    if not procs:
        raise FormError("Marque al menos un proceso.")
    return procs


def _aspirant_of(store: Store, procs: list[str]) -> str:
    """The one aspirant all `procs` belong to (the INE rule `put_auxiliary` applies too)."""
    found: set[str] = set()
    for pid in procs:
        asps = {a.aspirant_id for a in procmod.list_aspirants(store, pid)}
        if not asps:
            raise FormError(f"El proceso {pid} no existe o no tiene aspirante.")
        found |= asps
    if len(found) != 1:
        raise FormError("Un auxiliar sólo puede trabajar para un aspirante; estos procesos son de: "
                        f"{', '.join(sorted(found))}.")
    return found.pop()


def _plural(n: int) -> str:
    return f"{n} dispositivo" if n == 1 else f"{n} dispositivos"


class AuxiliaryPages:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.store: Store = app.store

    def register(self) -> None:
        self.app.pages["/auxiliares"] = self.page
        self.app.actions["/auxiliares/alta"] = self.add
        self.app.actions["/auxiliares/editar"] = self.edit
        self.app.actions["/auxiliares/pin"] = self.reset_pin

    # --- the page -------------------------------------------------------------------------

    def page(self, sess: Session, _query: dict[str, str]) -> Response:
        return self._render(sess)

    def _render(self, sess: Session, *, flash: str | None = None, error: str | None = None,
                shown_pin: dict[str, str] | None = None, entered: dict[str, str] | None = None,
                status: int = 200) -> Response:
        s = self.store
        pin_set = audit.last_at(s, (audit.AUX_ADD, audit.AUX_PIN))
        asp_names: dict[str, str] = {}
        choices = []
        for p in procmod.list_processes(s):
            asps = procmod.list_aspirants(s, p.process_id)
            asp_names.update({a.aspirant_id: a.name for a in asps})
            choices.append({"id": p.process_id, "name": p.name,
                            "aspirants": ", ".join(a.name for a in asps) or "sin aspirante"})
        rows = [{"aux": a, "pin_ms": pin_set.get(a.aux_id),
                 "aspirant": asp_names.get(a.aspirant_id, a.aspirant_id)} for a in fleet.list_auxiliaries(s)]
        entered = entered or {}
        _, body, media, headers = self.app._html(
            "auxiliaries.html", session=sess, flash=flash, error=error, rows=rows, choices=choices,
            roles=fleet.ROLES, shown_pin=shown_pin, entered=entered,
            entered_procs=entered.get("process", "").split(","))
        return status, body, media, headers

    # --- actions --------------------------------------------------------------------------

    def add(self, sess: Session, form: Form) -> Response:
        f = form.fields
        try:
            aux_id = clean_id(f.get("aux_id", ""), "auxiliar")
            name = clean_name(f.get("name", ""), "auxiliar")
            role = f.get("role", "")
            if role not in fleet.ROLES:
                raise FormError("Elija el rol: auxiliar o coordinador.")
            procs = _chosen(form)
            if any(a.aux_id == aux_id for a in fleet.list_auxiliaries(self.store)):
                raise FormError(f"Ya existe el auxiliar {aux_id}: cámbielo con «Editar» o «PIN nuevo».")
            pin = new_pin()  # put_auxiliary applies the one-aspirant rule
            fleet.put_auxiliary(self.store, aux_id, name, pin, procs, role=role)
        except (FormError, fleet.FleetError) as e:
            return self._render(sess, error=f"No se dio de alta: {e}", entered=f, status=400)
        pushed = self._push(aux_id, [])
        audit.record(self.store, sess.user.username, audit.AUX_ADD, aux_id,
                     f"nombre «{name}», rol {role}, procesos {', '.join(procs)}; {pushed}")
        log.info("auxiliary %s added from the dashboard by %s", aux_id, sess.user.username)
        return self._render(sess, flash=f"Auxiliar {aux_id} dado de alta. {pushed}",
                            shown_pin={"aux_id": aux_id, "name": name, "pin": pin})

    def edit(self, sess: Session, form: Form) -> Response:
        f = form.fields
        aux_id = f.get("aux_id", "")
        try:
            old = self._existing(aux_id)
            name = clean_name(f.get("name", ""), "auxiliar")
            procs = _chosen(form)
            aspirant = _aspirant_of(self.store, procs)
            devices = fleet.active_devices_with(self.store, {aux_id})
            if aspirant != old.aspirant_id and devices:
                raise FormError(f"Va en {_plural(len(devices))} con auxiliares de otro aspirante: "
                                "no puede cambiar de aspirante (dé de alta otro auxiliar).")
            with self.store.tx() as conn:
                conn.execute(self.store.sql(
                    "UPDATE fleet_auxiliaries SET name = ?, aspirant_id = ?, processes = ?, updated_ms = ? "
                    "WHERE aux_id = ?"), (name, aspirant, json.dumps(procs), fleet.now_ms(), aux_id))
        except FormError as e:
            return self._render(sess, error=f"No se guardó {aux_id}: {e}", status=400)
        pushed = self._push(aux_id, [])
        audit.record(self.store, sess.user.username, audit.AUX_EDIT, aux_id,
                     f"nombre «{name}», procesos {', '.join(procs)}; {pushed}")
        log.info("auxiliary %s edited from the dashboard by %s", aux_id, sess.user.username)
        return self._render(sess, flash=f"Auxiliar {aux_id} guardado. {pushed}")

    def reset_pin(self, sess: Session, form: Form) -> Response:
        aux_id = form.fields.get("aux_id", "")
        try:
            old = self._existing(aux_id)
            pin = new_pin()
            fleet.set_pin(self.store, aux_id, pin)
        except (FormError, fleet.FleetError) as e:
            return self._render(sess, error=f"No se cambió el PIN: {e}", status=400)
        pushed = self._push(aux_id, [aux_id])
        audit.record(self.store, sess.user.username, audit.AUX_PIN, aux_id, f"PIN nuevo generado; {pushed}")
        log.info("new PIN for auxiliary %s from the dashboard by %s", aux_id, sess.user.username)
        return self._render(sess, flash=f"PIN nuevo para {aux_id}. {pushed}",
                            shown_pin={"aux_id": aux_id, "name": old.name, "pin": pin})

    # --- helpers --------------------------------------------------------------------------

    def _existing(self, aux_id: str) -> fleet.AuxiliaryRow:
        for a in fleet.list_auxiliaries(self.store):
            if a.aux_id == aux_id:
                return a
        raise FormError(f"no existe el auxiliar {aux_id!r}.")

    def _push(self, aux_id: str, unlock: list[str]) -> str:
        """Queue a config update for every device carrying `aux_id`; the sentence for the page."""
        devices = fleet.active_devices_with(self.store, {aux_id})
        if not devices:
            return "Ningún dispositivo lo lleva: no hubo configuración que enviar."
        cfg = self.app.config
        if cfg is None:
            return (f"Lo llevan {_plural(len(devices))}, pero el tablero corre sin la configuración del "
                    "servidor: envíela con «fieldkit-server admin device-config».")
        try:
            sign = keys.load_sign_private(cfg.keys.sign_key)
        except (OSError, keys.KeyFileError) as e:
            log.error("dashboard: cannot load the signing key: %s", e)
            return f"Lo llevan {_plural(len(devices))}, pero no se pudo firmar la configuración: {e}"
        sent, failed = 0, []
        for dev in devices:
            try:
                commands.queue_config_update(self.store, sign, dev, unlock=unlock)
                sent += 1
            except fleet.FleetError as e:
                failed.append(f"{dev} ({e})")
        text = f"Configuración nueva enviada a {_plural(sent)} (la aplica al conectarse)."
        return text + (f" Sin enviar: {', '.join(failed)}." if failed else "")


def register(app: Any) -> None:
    AuxiliaryPages(app).register()
