"""The coordinator's roll, enrollment codes and devices in the browser (coordinators only).

Paths (GET pages, POST actions; the app checked the session, its role, the CSRF token and
the origin before any of these runs; a GET never acts):

    GET  /padron                  the loaded roll, the upload form; ?job=<id> one import's
                                  progress (the page reloads itself every 2 s while it runs,
                                  no JavaScript) and then its summary and rejected rows
    POST /padron/importar         multipart, field `archivo` (up to UPLOAD_MAX): saved to a
                                  private temp file, imported on a background thread,
                                  303 to /padron?job=<id>
    GET  /codigos                 every enrollment code: state, auxiliaries, times, who issued
    POST /codigos/cancelar        `code` = the id prefix shown (never the code itself)
    GET  /dispositivo?d=<id>      one device: state, last heartbeat, queue, queued commands
    GET  /dispositivo/confirmar?d=<id>&accion=revocar|borrar   what will happen, and the form
    POST /dispositivo/revocar     `device_id`: registry + broker ACL (fleet.revocation)
    POST /dispositivo/borrar      `device_id`: queues the signed wipe command (as the CLI's
                                  `admin device-wipe`), delivered when the device connects

Import jobs live in memory on the app object (`app.roll_jobs`): one server process serves
the dashboard, and a restart forgets them (the roll itself is then the old one or the new
one, never half: `verify.roll`). One import at a time. Every action is written to the audit
log (`audit.record`) after it succeeded. Messages after a redirect are codes whose text is
shown only when the store agrees, as in `app`.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from server_stub.dashboard import audit
from server_stub.dashboard import data as dashboard_data
from server_stub.dashboard.forms import Form, Response
from server_stub.deploy import keys
from server_stub.fleet import command_issue, enrollment_codes, revocation
from server_stub.fleet import tables as fleet
from server_stub.fleet.registry import RegistryError, revoke_device
from server_stub.verify import roll, verify

log = logging.getLogger("fieldkit.server.dashboard")

# The whole body is held in memory and parsed (about 10x its size at the peak: 50 MB took
# ~520 MB here). A roll past this goes through `fieldkit-server roll import` instead.
UPLOAD_MAX = 64 * 1024 * 1024
JOBS_KEPT = 20
# Audit action codes of this module.

CONFIRM = {
    "revocar": ("Revocar el dispositivo",
                ["El servidor y el broker rechazarán al dispositivo desde este momento: dejará de "
                 "poder enviar apoyos y de recibir órdenes.",
                 "Los apoyos aún no enviados en él se quedan en el dispositivo y ya no llegarán.",
                 "Si además quiere borrarlo, ordene el borrado antes: revocado ya no recibe la orden.",
                 "No se puede deshacer: para volver a usarlo hay que darlo de alta con un código nuevo."],
                "/dispositivo/revocar", "Sí, revocar"),
    "borrar": ("Borrar el dispositivo",
               ["Se pone en cola una orden firmada: cuando el dispositivo se conecte borrará sus "
                "registros, sus claves y su configuración (la orden vale 7 días).",
                "El dispositivo dejará de poder enviar; los apoyos aún no enviados en él se perderán.",
                "Después quedará como nuevo: para volver a usarlo hay que darlo de alta "
                "con un código nuevo."],
               "/dispositivo/borrar", "Sí, borrar"),
}
DEVICE_FLASH = {
    "revocado": "Dispositivo revocado; el broker ya lo rechaza.",
    "revocado-acl": "Dispositivo revocado; ACL del broker escrita; falta recargarlo.",
    "revocado-sin-broker": "Dispositivo revocado; broker sin configurar ([fleet].broker_acl).",
    "revocado-sin-config": "Dispositivo revocado (sin configuración del broker).",
}
_REVOKED_CODE = {"reloaded": "revocado", "acl-written": "revocado-acl",
                 "not-configured": "revocado-sin-broker"}


@dataclass
class RollJob:
    """One roll import; written by its thread, read by the page (plain attribute writes)."""

    id: str
    filename: str
    actor: str
    started_ms: int
    state: str = "leyendo"  # leyendo, indexando, terminado, error
    read: int = 0
    total: int = 0
    result: roll.ImportResult | None = None
    recompute: int = 0
    error: str = ""

    @property
    def running(self) -> bool:
        return self.state in ("leyendo", "indexando")

    @property
    def percent(self) -> int:
        return min(100, self.read * 100 // self.total) if self.total else 0


def register(app: Any) -> None:
    from server_stub.dashboard import audit

    audit.ensure_schema(app.store)
    enrollment_codes.ensure_schema(app.store)
    app.roll_jobs = {}
    app.roll_jobs_lock = threading.Lock()
    _sweep_uploads(app.store)
    app.pages.update({"/padron": lambda s, q: _roll_page(app, s, q),
                      "/codigos": lambda s, q: _codes_page(app, s, q),
                      "/dispositivo": lambda s, q: _device_page(app, s, q.get("d", ""), q.get("msg")),
                      "/dispositivo/confirmar": lambda s, q: _confirm_page(app, s, q)})
    app.actions.update({"/padron/importar": lambda s, f: _roll_import(app, s, f),
                        "/codigos/cancelar": lambda s, f: _code_cancel(app, s, f),
                        "/dispositivo/revocar": lambda s, f: _device_revoke(app, s, f),
                        "/dispositivo/borrar": lambda s, f: _device_wipe(app, s, f)})
    app.uploads["/padron/importar"] = UPLOAD_MAX


def _upload_dir(store: Any) -> Path | None:
    return store.path.parent if store.kind == "sqlite" else None  # the store's private dir


def _sweep_uploads(store: Any) -> None:
    """Uploads a crash left behind (citizens' CICs): no import of this process is running yet."""
    folder = _upload_dir(store) or Path(tempfile.gettempdir())
    for p in folder.glob("fk-roll-*.csv"):
        p.unlink(missing_ok=True)


def _audit(app: Any, actor: str, action: str, target: str, detail: str) -> None:
    audit.record(app.store, actor, action, target, detail)


def _not_found(text: str) -> Response:
    return 404, text.encode(), "text/plain; charset=utf-8", []


# --- the roll ---------------------------------------------------------------------------------


def _roll_page(app: Any, sess: Any, query: dict[str, str], error: str | None = None) -> Response:
    job = app.roll_jobs.get(query.get("job", "")) if query.get("job") else None
    if query.get("job") and job is None:
        error = error or "Esa importación no existe (el servidor se reinició o es de hace tiempo)."
    info = roll.roll_info(app.store) if app.store.has_table("roll_meta") else None
    with app.roll_jobs_lock:  # an import may drop old jobs meanwhile
        jobs = list(app.roll_jobs.values())
    busy = next((j for j in jobs if j.running), None)
    return app._html("roll.html", session=sess, flash=error, job=job, info=info, busy=busy,
                     columns=roll.ROLL_COLUMNS, kept=roll.REJECTS_KEPT, max_mb=UPLOAD_MAX // 2**20)


def _roll_import(app: Any, sess: Any, form: Form) -> Response:
    up = form.files.get("archivo")
    if up is None or not up.data:
        return _roll_page(app, sess, {}, "Elija el archivo CSV del padrón.")
    name = Path(up.filename.replace("\\", "/")).name[:100] or "padron.csv"
    with app.roll_jobs_lock:
        if any(j.running for j in app.roll_jobs.values()):
            return _roll_page(app, sess, {}, "Ya hay una importación en curso; espere a que termine.")
        job = RollJob(secrets.token_urlsafe(9), name, sess.user.username, int(time.time() * 1000))
        for old in sorted(app.roll_jobs.values(), key=lambda j: j.started_ms)[:-JOBS_KEPT + 1]:
            del app.roll_jobs[old.id]
        app.roll_jobs[job.id] = job
    store = app.store
    fd, tmp = tempfile.mkstemp(prefix="fk-roll-", suffix=".csv", dir=_upload_dir(store))  # mode 0600
    with os.fdopen(fd, "wb") as fh:
        fh.write(up.data)
    log.warning("roll import %s (%s, %d bytes) started from the dashboard by %s", job.id, name,
                len(up.data), job.actor)
    threading.Thread(target=_run_import, args=(app, job, Path(tmp)), name=f"roll-{job.id}",
                     daemon=True).start()
    return app._redirect(f"/padron?job={job.id}")


def _run_import(app: Any, job: RollJob, path: Path) -> None:
    def progress(read: int, total: int) -> None:
        job.read, job.total = read, total
        if read >= total:
            job.state = "indexando"

    try:
        res = roll.import_roll(app.store, path, progress=progress, source=job.filename)
    except roll.RollError as e:
        job.error, job.state = str(e).replace(str(path), job.filename), "error"
        return
    except Exception as e:  # the page must say the job ended, whatever went wrong
        log.exception("roll import %s failed", job.id)
        job.error, job.state = f"error interno: {type(e).__name__}", "error"
        return
    finally:
        path.unlink(missing_ok=True)
    # The new roll is in place from here on: what fails now must not say the old one is.
    job.read, job.result = max(job.read, res.rows + res.rejected), res
    try:
        _audit(app, job.actor, audit.ROLL_IMPORT, job.filename,
               f"{res.rows} filas, {res.secciones} secciones, {res.rejected} rechazadas")
        job.recompute = verify.invalidate(app.store)
    except Exception as e:
        log.exception("roll import %s: imported, but the verdicts were not recomputed", job.id)
        job.error = (f"el padrón nuevo ya está vigente, pero no se pudieron recalcular los dictámenes "
                     f"({type(e).__name__}); repita con «fieldkit-server verify --recompute»")
    job.state = "terminado"
    log.warning("roll import %s: %d rows, %d rejected", job.id, res.rows, res.rejected)


# --- enrollment codes -------------------------------------------------------------------------


def _codes_page(app: Any, sess: Any, query: dict[str, str], error: str | None = None) -> Response:
    codes = list(reversed(enrollment_codes.list_codes(app.store)))
    flash = error
    if query.get("msg") == "cancelado":
        flash = next((f"Código {c.code_id_prefix} cancelado: ya no sirve para dar de alta un dispositivo."
                      for c in codes if c.code_id_prefix == query.get("c") and c.state == "cancelled"), None)
    names = {a.aux_id: a.name for a in fleet.list_auxiliaries(app.store)}
    return app._html("codes.html", session=sess, flash=flash, codes=codes, names=names,
                     words=enrollment_codes.STATE_WORDS, devices=dashboard_data.device_names(app.store))


def _code_cancel(app: Any, sess: Any, form: Form) -> Response:
    prefix = form.fields.get("code", "")
    try:
        row = enrollment_codes.cancel_code(app.store, prefix, sess.user.username)
    except fleet.FleetError as e:
        return _codes_page(app, sess, {}, f"No se canceló: {e}")
    _audit(app, sess.user.username, audit.CODE_CANCEL, row.code_id_prefix,
           "autoservicio" if row.self_service else f"auxiliares: {', '.join(row.auxiliaries)}")
    log.warning("enrollment code %s cancelled from the dashboard by %s", row.code_id_prefix,
                sess.user.username)
    return app._redirect(f"/codigos?msg=cancelado&c={row.code_id_prefix}")


# --- devices ----------------------------------------------------------------------------------


def _device(app: Any, device_id: str) -> dashboard_data.DeviceRow | None:
    return next((d for d in dashboard_data.devices(app.store) if d.device_id == device_id), None)


def _wipes(app: Any, device_id: str) -> list[command_issue.QueuedCommand]:
    return [c for c in command_issue.pending_commands(app.store, device_id) if c.kind == "wipe"]


def _device_page(app: Any, sess: Any, device_id: str, msg: str | None, error: str | None = None) -> Response:
    d = _device(app, device_id)
    if d is None:
        return _not_found("dispositivo desconocido")
    wipes = _wipes(app, device_id)
    flash = error
    if msg in DEVICE_FLASH and d.state == "revoked":
        flash = DEVICE_FLASH[msg]
    elif msg == "borrado" and wipes:
        flash = "Borrado en cola: el dispositivo lo ejecutará al conectarse."
    return app._html("device.html", session=sess, flash=flash, d=d, wipes=wipes,
                     auxiliaries=_auxiliaries_of(app.store, device_id),
                     can_wipe=app.config is not None)


def _confirm_page(app: Any, sess: Any, query: dict[str, str]) -> Response:
    d, action = _device(app, query.get("d", "")), query.get("accion", "")
    if d is None or action not in CONFIRM:
        return _not_found("dispositivo o acción desconocidos")
    title, lines, post_to, button = CONFIRM[action]
    return app._html("confirm.html", session=sess, d=d, title=title, lines=lines, post_to=post_to,
                     button=button, blocked=_blocked(app, d, action))


def _blocked(app: Any, d: dashboard_data.DeviceRow, action: str) -> str | None:
    """Why the action cannot be done now (shown instead of the confirm button), or None."""
    if d.state == "revoked":
        return ("El dispositivo ya está revocado." if action == "revocar" else
                "El dispositivo está revocado: ya no recibe órdenes, así que no se le puede "
                "ordenar el borrado.")
    if action == "borrar" and app.config is None:
        return "Sin la configuración del servidor no se pueden firmar órdenes (fieldkit-server serve la da)."
    return None


def _device_revoke(app: Any, sess: Any, form: Form) -> Response:
    dev = form.fields.get("device_id", "")
    d = _device(app, dev)
    if d is None:
        return _not_found("dispositivo desconocido")
    if (why := _blocked(app, d, "revocar")) is not None:
        return _device_page(app, sess, dev, None, why)
    try:
        if app.config is None:
            revoke_device(app.store, dev)
            broker = ""
        else:
            broker = revocation.revoke(app.store, app.config, dev).broker
    except RegistryError as e:
        return _device_page(app, sess, dev, None, f"No se pudo revocar: {e}")
    _audit(app, sess.user.username, audit.DEVICE_REVOKE, dev,
           f"{d.name}; {d.queue_depth if d.queue_depth is not None else '¿?'} apoyos sin enviar en su "
           f"último latido; broker: {broker or 'sin configuración'}")
    log.warning("device %s revoked from the dashboard by %s", dev, sess.user.username)
    code = "revocado-sin-config" if app.config is None else _REVOKED_CODE.get(broker)
    if code is None:  # the broker failed: its error shown here, not carried in a URL
        return _device_page(app, sess, dev, None, f"Dispositivo revocado; {broker}.")
    return app._redirect(f"/dispositivo?d={quote(dev)}&msg={code}")


def _device_wipe(app: Any, sess: Any, form: Form) -> Response:
    dev = form.fields.get("device_id", "")
    d = _device(app, dev)
    if d is None:
        return _not_found("dispositivo desconocido")
    if (why := _blocked(app, d, "borrar")) is not None:
        return _device_page(app, sess, dev, None, why)
    try:
        sign = keys.load_sign_private(app.config.keys.sign_key)
        q = command_issue.queue_command(app.store, sign, dev, "wipe")
    except (fleet.FleetError, OSError, ValueError) as e:
        return _device_page(app, sess, dev, None, f"No se pudo ordenar el borrado: {e}")
    _audit(app, sess.user.username, audit.DEVICE_WIPE, dev,
           f"{d.name}; orden {q.seq}; {d.queue_depth if d.queue_depth is not None else '¿?'} apoyos "
           "sin enviar en su último latido")
    log.warning("wipe of %s queued from the dashboard by %s (seq %d)", dev, sess.user.username, q.seq)
    return app._redirect(f"/dispositivo?d={quote(dev)}&msg=borrado")


def _auxiliaries_of(store: Any, device_id: str) -> list[str]:
    """A device registered by hand (`admin add-device`) has no enrollment, so no auxiliaries."""
    try:
        return fleet.device_auxiliaries(store, device_id)
    except fleet.FleetError:
        return []
