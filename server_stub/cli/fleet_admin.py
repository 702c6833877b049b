"""`fieldkit-server admin` fleet commands. JSON outputs: docs/cli.md.

    admin auxiliary-add   --id --name --process P [--process ...] [--coordinator] [--pin-stdin]
    admin auxiliary-pin   --id [--pin-stdin]   (new PIN; pushed to its devices as a config update)
    admin auxiliary-list
    admin enroll-code     --auxiliary A [--auxiliary ...] [--qr FILE.png] [--server-url URL] [--json]
    admin enroll-code     --self-service --aspirant ASP [--process P ...] [--auxiliary COORDINATOR ...]
    admin enroll-codes    (no secrets: state of each code)
    admin device-config   --id DEV [--auxiliary ...] [--unlock AUX ...]
    admin device-wipe     --id DEV [--ttl-hours H]
    admin fleet           (last heartbeat of every device)
    admin revoke-device   (server_stub/cli/main.py; now also denies on the broker: revocation.py)

A PIN never comes from argv (`ps` shows argv to every local user): $FIELDKIT_AUX_PIN, else one
line of stdin with --pin-stdin, else asked twice at a terminal (empty: one is generated). With
none of these a new auxiliary gets a random 6-digit PIN, printed once in the JSON
("generated_pin"); a reset, or a replaced auxiliary, is refused instead (its PIN would change
behind the operator's back).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server_stub.cli.common import ConfigArg, SecretError, config_from_args, read_secret
from server_stub.core.config import ServerConfig
from server_stub.core.store import Store, open_store
from server_stub.deploy import keys
from server_stub.fleet import command_issue as commands
from server_stub.fleet import tables as fleet
from server_stub.fleet.enrollment_codes import issue_enrollment_code, list_codes
from sync.common.pin import hash_pin

PIN_ENV = "FIELDKIT_AUX_PIN"
GENERATED_PIN_DIGITS = 6


def _with_store(fn: Callable[[argparse.Namespace, ServerConfig, Store], Any]) -> Callable[..., int]:
    def run(args: argparse.Namespace) -> int:
        cfg = config_from_args(args)
        store = open_store(cfg.store_url())
        try:
            out = fn(args, cfg, store)
        except fleet.FleetError as e:
            print(f"fieldkit-server: {e}", file=sys.stderr)
            return 1
        except SecretError as e:
            print(f"fieldkit-server: {e}", file=sys.stderr)
            return 2
        finally:
            store.close()
        if out is not None:
            print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    return run


def _aux_json(a: fleet.AuxiliaryRow) -> dict[str, Any]:
    return {"id": a.aux_id, "name": a.name, "role": a.role, "aspirant_id": a.aspirant_id,
            "processes": a.processes}


def check_pin(pin: str) -> None:
    """SecretError unless the device would take it. `hash_pin` owns the rule (4 to 12 digits):
    asked through a throwaway, nearly free hash rather than a second copy of the rule."""
    try:
        hash_pin(pin, n=2, r=1)
    except ValueError as e:
        raise SecretError(str(e)) from None


def read_pin(args: argparse.Namespace, *, may_generate: bool) -> tuple[str, bool]:
    """(PIN, generated): see the module docstring for where it comes from."""
    pin = read_secret(env=PIN_ENV, from_stdin=args.pin_stdin, stdin_flag="--pin-stdin",
                      prompt=f"PIN nuevo de {args.id} (Intro sin nada: se genera uno)",
                      again="repita el PIN")
    if pin is None and not may_generate:
        raise SecretError(f"falta el PIN de {args.id}: dalo en ${PIN_ENV}, con --pin-stdin "
                          "o en una terminal")
    if not pin:
        return f"{secrets.randbelow(10 ** GENERATED_PIN_DIGITS):0{GENERATED_PIN_DIGITS}d}", True
    check_pin(pin)
    return pin, False


def _exists(store: Store, aux_id: str) -> bool:
    return any(a.aux_id == aux_id for a in fleet.list_auxiliaries(store))


def _with_pin(out: dict[str, Any], aux_id: str, pin: str, generated: bool) -> dict[str, Any]:
    if generated:
        print(f"fieldkit-server: PIN generado para {aux_id} en «generated_pin»; se muestra solo esta "
              "vez (el servidor guarda solo su hash): entrégalo al auxiliar", file=sys.stderr)
        out["generated_pin"] = pin
    return out


def cmd_aux_add(args: argparse.Namespace, _cfg: ServerConfig, store: Store) -> Any:
    role = "coordinador" if args.coordinator else "auxiliar"
    pin, generated = read_pin(args, may_generate=not _exists(store, args.id))
    row = fleet.put_auxiliary(store, args.id, args.name, pin, args.process, role=role)
    return _with_pin(_aux_json(row), args.id, pin, generated)


def cmd_aux_pin(args: argparse.Namespace, cfg: ServerConfig, store: Store) -> Any:
    if not _exists(store, args.id):  # before asking for a PIN in vain
        raise fleet.FleetError(f"no existe el auxiliar {args.id!r}")
    pin, generated = read_pin(args, may_generate=False)
    fleet.set_pin(store, args.id, pin)
    sign = keys.load_sign_private(cfg.keys.sign_key)
    queued = [commands.queue_config_update(store, sign, d, unlock=[args.id]).__dict__
              for d in fleet.active_devices_with(store, {args.id})]
    out = {"id": args.id, "config_updates": [{"device_id": q["device_id"], "seq": q["seq"]} for q in queued]}
    return _with_pin(out, args.id, pin, generated)


def cmd_aux_list(_args: argparse.Namespace, _cfg: ServerConfig, store: Store) -> Any:
    return [_aux_json(a) for a in fleet.list_auxiliaries(store)]


def cmd_enroll_code(args: argparse.Namespace, cfg: ServerConfig, store: Store) -> Any:
    if args.self_service:
        if not args.aspirant:
            raise fleet.FleetError("indique con --aspirant para qué aspirante capta el dispositivo "
                                   "de autoservicio")
    elif not args.auxiliary:
        raise fleet.FleetError("indique los auxiliares del dispositivo (--auxiliary) o --self-service")
    code = issue_enrollment_code(store, cfg, args.auxiliary or [], server_url=args.server_url,
                                 self_service=args.self_service, aspirant=args.aspirant,
                                 processes=args.process)
    qr = code.qr_png(args.qr) if args.qr else None
    out = {"code": code.code, "uri": code.uri, "expires_ms": code.expires_ms,
           "auxiliaries": code.auxiliaries, "self_service": code.self_service, "aspirant": code.aspirant,
           "processes": code.processes, "qr_png": str(qr) if qr else None}
    if args.json:
        return out
    print(code.qr_text())
    print(f"Código de inscripción: {code.code}")
    print(f"Servidor: {code.uri.split('server=')[-1] if 'server=' in code.uri else '-'}")
    who = code.for_text if code.self_service else f"Auxiliares: {code.for_text}"
    print(f"Vale hasta (Unix ms): {code.expires_ms}; un solo uso. {who[:1].upper()}{who[1:]}")
    if qr:
        print(f"QR: {qr}")
    return None


def cmd_codes(_args: argparse.Namespace, _cfg: ServerConfig, store: Store) -> Any:
    return [c.__dict__ for c in list_codes(store)]


def cmd_device_config(args: argparse.Namespace, cfg: ServerConfig, store: Store) -> Any:
    sign = keys.load_sign_private(cfg.keys.sign_key)
    q = commands.queue_config_update(store, sign, args.id, aux_ids=args.auxiliary or None,
                                     unlock=args.unlock or [])
    return {"device_id": q.device_id, "seq": q.seq, "kind": q.kind, "expires_ms": q.expires_ms}


def cmd_device_wipe(args: argparse.Namespace, cfg: ServerConfig, store: Store) -> Any:
    sign = keys.load_sign_private(cfg.keys.sign_key)
    q = commands.queue_command(store, sign, args.id, "wipe", ttl_ms=int(args.ttl_hours * 3600 * 1000))
    return {"device_id": q.device_id, "seq": q.seq, "kind": q.kind, "expires_ms": q.expires_ms}


def cmd_fleet(_args: argparse.Namespace, _cfg: ServerConfig, store: Store) -> Any:
    states = {d.device_id: d.state for d in store.list_devices()}
    hbs = {h.device_id: h for h in fleet.list_heartbeats(store)}
    out = []
    for dev in sorted(set(states) | set(hbs)):
        h = hbs.get(dev)
        out.append({"device_id": dev, "state": states.get(dev, "unknown"),
                    "online": h.online if h else None, "last_seen_ms": h.received_ms if h else None,
                    "via": h.via if h else None, "pending": h.pending if h else None,
                    "oldest_pending_age_s": h.oldest_pending_age_s if h else None,
                    "battery_percent": h.battery_percent if h else None,
                    "free_disk_bytes": h.free_disk_bytes if h else None,
                    "app_version": h.app_version if h else None,
                    "last_sync_ms": h.last_sync_ms if h else None})
    return out


class _RefusePin(argparse.Action):
    """The old `--pin N`: refused by name, the value never echoed back."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        parser.error(f"--pin ya no existe: un PIN en la línea de órdenes lo ve cualquiera con «ps»; "
                     f"dalo en ${PIN_ENV}, con --pin-stdin o en la terminal")


def _pin_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pin-stdin", action="store_true",
                   help=f"leer el PIN (4 a 12 dígitos) de una línea de la entrada estándar; si no, "
                        f"${PIN_ENV}, o se pregunta dos veces en la terminal (vacío: se genera uno)")
    p.add_argument("--pin", nargs="?", action=_RefusePin, help=argparse.SUPPRESS)


def add_admin_commands(asub: Any, with_config: ConfigArg) -> None:
    a = with_config(asub.add_parser("auxiliary-add",
                                    help="dar de alta o reemplazar un auxiliar (o coordinador)"))
    a.add_argument("--id", required=True, help="id del auxiliar")
    a.add_argument("--name", required=True, help="nombre que verá en el kiosco")
    _pin_options(a)
    a.add_argument("--process", action="append", required=True,
                   help="id de proceso (se repite; todos de un mismo aspirante)")
    a.add_argument("--coordinator", action="store_true", help="es coordinador (puede desbloquear a otros)")
    a.set_defaults(fn=_with_store(cmd_aux_add))
    p = with_config(asub.add_parser("auxiliary-pin", help="cambiar un PIN y enviarlo a sus dispositivos"))
    p.add_argument("--id", required=True, help="id del auxiliar")
    _pin_options(p)
    p.set_defaults(fn=_with_store(cmd_aux_pin))
    with_config(asub.add_parser("auxiliary-list", help="auxiliares (JSON)")).set_defaults(
        fn=_with_store(cmd_aux_list))
    e = with_config(asub.add_parser("enroll-code",
                                    help="un código de inscripción de un solo uso (24 h) y su QR"))
    e.add_argument("--auxiliary", action="append",
                   help="id de un auxiliar (se repite; con --self-service, sólo coordinadores)")
    e.add_argument("--self-service", action="store_true",
                   help="código para un dispositivo de autoservicio: el ciudadano captura solo, sin "
                        "auxiliar (requiere --aspirant y la dirección HTTPS de los dispositivos)")
    e.add_argument("--aspirant", help="con --self-service: id del aspirante para el que capta")
    e.add_argument("--process", action="append",
                   help="con --self-service: id de proceso (se repite; por omisión, todos los del aspirante)")
    e.add_argument("--qr", type=Path, metavar="ARCHIVO.png", help="guardar el QR como PNG aquí")
    e.add_argument("--server-url", help="URL de inscripción del QR (por omisión, la de [fleet])")
    e.add_argument("--json", action="store_true", help="salida en JSON")
    e.set_defaults(fn=_with_store(cmd_enroll_code))
    with_config(asub.add_parser("enroll-codes", help="códigos emitidos y su estado (JSON)")).set_defaults(
        fn=_with_store(cmd_codes))
    c = with_config(asub.add_parser("device-config",
                                    help="poner en cola una actualización firmada de la configuración "
                                         "de un dispositivo"))
    c.add_argument("--id", required=True, help="id del dispositivo")
    c.add_argument("--auxiliary", action="append",
                   help="reemplazar los auxiliares del dispositivo (se repite)")
    c.add_argument("--unlock", action="append", help="quitar el bloqueo por PIN de este auxiliar (se repite)")
    c.set_defaults(fn=_with_store(cmd_device_config))
    w = with_config(asub.add_parser("device-wipe", help="poner en cola un borrado firmado de un dispositivo"))
    w.add_argument("--id", required=True, help="id del dispositivo")
    w.add_argument("--ttl-hours", type=float, default=168.0,
                   help="horas de validez de la orden (por omisión 168)")
    w.set_defaults(fn=_with_store(cmd_device_wipe))
    with_config(asub.add_parser("fleet", help="último latido de cada dispositivo (JSON)")).set_defaults(
        fn=_with_store(cmd_fleet))
