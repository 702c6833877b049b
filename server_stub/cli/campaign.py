"""`fieldkit-server roll|process|verify|dashboard-user|acuse`, added to the main parser."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server_stub.cli.common import ConfigArg, SecretError, config_from_args, read_secret
from server_stub.core.store import Store, open_store
from server_stub.dashboard import accounts
from server_stub.deploy import keys
from server_stub.fleet import command_issue
from server_stub.fleet import tables as fleet_tables
from server_stub.ingest import acuse
from server_stub.verify import processes, roll, verify
from sync.common import periods

PASSWORD_ENV = "FIELDKIT_DASHBOARD_PASSWORD"


def _store(args: argparse.Namespace) -> Store:
    cfg = config_from_args(args)
    return open_store(cfg.store_url())


def _zone_name(args: argparse.Namespace) -> str:
    """The process's own zone if given, else the deployment's."""
    return getattr(args, "timezone", None) or config_from_args(args).deployment.timezone


def _run(fn: Callable[[Store, argparse.Namespace], Any]) -> Callable[[argparse.Namespace], int]:
    def wrapped(args: argparse.Namespace) -> int:
        store = _store(args)
        try:
            fn(store, args)
            return 0
        except (roll.RollError, processes.ProcessError, accounts.AccountError, keys.KeyFileError,
                fleet_tables.FleetError) as e:
            print(f"fieldkit-server: {e}", file=sys.stderr)
            return 1
        except SecretError as e:
            print(f"fieldkit-server: {e}", file=sys.stderr)
            return 2
        finally:
            store.close()
    return wrapped


def cmd_roll_import(store: Store, args: argparse.Namespace) -> None:
    res = roll.import_roll(store, Path(args.file))
    dropped = verify.invalidate(store)
    if res.rejected:  # imported without them; the JSON lists the first ones with their lines
        print(f"fieldkit-server: filas rechazadas: {res.rejected} (rejected_rows)", file=sys.stderr)
    print(json.dumps({**res.to_json(), "verdicts_to_recompute": dropped}))


def cmd_process_define(store: Store, args: argparse.Namespace) -> None:
    try:
        tz = periods.zone(_zone_name(args))
        start, end = periods.start_ms(args.start, tz), periods.end_ms(args.end, tz)
    except periods.PeriodError as e:
        raise processes.ProcessError(str(e)) from None
    # The signing key before anything changes: a replaced period must reach the devices.
    sign = keys.load_sign_private(config_from_args(args).keys.sign_key) if args.replace else None
    p = processes.define_process(store, args.id, args.kind, args.name or args.id, start, end,
                                 replace=args.replace, timezone=tz.key)
    verify.invalidate(store, p.process_id)
    print(f"proceso {p.process_id} ({p.kind}) definido: del {periods.show(start, tz)} "
          f"al {periods.show(end, tz, seconds=True)}")
    if sign is not None:  # devices already carrying it must learn the new period
        sent = command_issue.push_process_change(store, sign, p.process_id)
        print(f"configuración nueva enviada a {len(sent)} dispositivo(s)")


def cmd_process_add_aspirant(store: Store, args: argparse.Namespace) -> None:
    a = processes.add_aspirant(store, args.process, args.id, args.name or args.id, entidad=args.entidad,
                               distrito_federal=args.distrito, municipio=args.municipio)
    verify.invalidate(store, a.process_id)
    print(f"aspirante {a.aspirant_id} en {a.process_id}: {a.scope_label}")


def cmd_process_notify(store: Store, args: argparse.Namespace) -> None:
    processes.notify_aspirant(store, args.process, args.aspirant)
    print(f"{args.aspirant}: garantía de audiencia abierta 5 días")


def cmd_process_list(store: Store, args: argparse.Namespace) -> None:
    processes.ensure_schema(store)
    default = config_from_args(args).deployment.timezone
    out = [{"id": p.process_id, "kind": p.kind, "name": p.name, "starts_ms": p.starts_ms,
            "ends_ms": p.ends_ms, "timezone": p.timezone or default,
            "starts": periods.show_iso(p.starts_ms, p.zone(default)),
            "ends": periods.show_iso(p.ends_ms, p.zone(default)),
            "aspirants": [{"id": a.aspirant_id, "name": a.name, "scope": a.scope_label}
                          for a in processes.list_aspirants(store, p.process_id)]}
           for p in processes.list_processes(store)]
    print(json.dumps(out, indent=2, ensure_ascii=False))


def cmd_verify(store: Store, args: argparse.Namespace) -> None:
    if args.recompute:
        verify.invalidate(store, args.process)
    n = verify.Verifier(store, batch=500,
                        default_tz=config_from_args(args).deployment.timezone).run_until_idle()
    print(json.dumps({"verified": n, "counts": verify.counts(store)}, ensure_ascii=False))


def cmd_add_user(store: Store, args: argparse.Namespace) -> None:
    pw = read_secret(env=PASSWORD_ENV, from_stdin=args.password_stdin, stdin_flag="--password-stdin",
                     prompt=f"contraseña de {args.username}", again="repita la contraseña")
    if not pw:
        raise SecretError(f"falta la contraseña de {args.username}: dala en ${PASSWORD_ENV}, "
                          "con --password-stdin o en una terminal")
    u = accounts.add_user(store, args.username, pw, args.role, process_id=args.process,
                          aspirant_id=args.aspirant, display_name=args.name)
    print(f"usuario {u.username} ({u.shown}, {u.role}) guardado")


def cmd_acuse_status(store: Store, args: argparse.Namespace) -> None:
    print(json.dumps(acuse.queue_counts(store)))


def add_commands(sub: Any, with_config: ConfigArg) -> None:
    r = sub.add_parser("roll", help="la lista nominal")
    rs = r.add_subparsers(dest="roll_command", required=True, title="subcomandos", metavar="SUBCOMANDO")
    ri = with_config(rs.add_parser("import", help="reemplazar la lista nominal con un CSV "
                                                  "(formato de `fieldkit-testdata roll`)"))
    ri.add_argument("file", metavar="ARCHIVO.csv", help="la lista nominal en CSV")
    ri.set_defaults(fn=_run(cmd_roll_import))

    p = sub.add_parser("process", help="procesos y aspirantes (umbrales, ámbito, periodo)")
    ps = p.add_subparsers(dest="process_command", required=True, title="subcomandos", metavar="SUBCOMANDO")
    pd = with_config(ps.add_parser("define", help="definir (o reemplazar) un proceso"))
    pd.add_argument("--id", required=True, help="id del proceso")
    pd.add_argument("--kind", required=True, choices=sorted(verify_kinds()), help="tipo de proceso")
    pd.add_argument("--name", help="nombre del proceso (por omisión, su id)")
    pd.add_argument("--start", required=True,
                    help="fecha AAAA-MM-DD (00:00 de ese día en la zona) o fecha y hora ISO")
    pd.add_argument("--end", required=True,
                    help="fecha AAAA-MM-DD (incluye todo ese día en la zona) o fecha y hora ISO")
    pd.add_argument("--timezone", help="zona del proceso si no es la del despliegue "
                                       "([deployment] timezone), p. ej. America/Tijuana")
    pd.add_argument("--replace", action="store_true", help="reemplazar un proceso existente")
    pd.set_defaults(fn=_run(cmd_process_define))
    pa = with_config(ps.add_parser("add-aspirant",
                                   help="dar de alta (o actualizar) un aspirante y su ámbito"))
    pa.add_argument("--process", required=True, help="id del proceso")
    pa.add_argument("--id", required=True, help="id del aspirante")
    pa.add_argument("--name", help="nombre del aspirante (por omisión, su id)")
    pa.add_argument("--entidad", type=int, help="clave de la entidad federativa")
    pa.add_argument("--distrito", type=int, help="distrito federal")
    pa.add_argument("--municipio", type=int, help="clave del municipio")
    pa.set_defaults(fn=_run(cmd_process_add_aspirant))
    pn = with_config(ps.add_parser("notify",
                                   help="registrar la notificación (abre la garantía de audiencia)"))
    pn.add_argument("--process", required=True, help="id del proceso")
    pn.add_argument("--aspirant", required=True, help="id del aspirante")
    pn.set_defaults(fn=_run(cmd_process_notify))
    pl = with_config(ps.add_parser("list", help="procesos y aspirantes (JSON)"))
    pl.set_defaults(fn=_run(cmd_process_list))

    v = with_config(sub.add_parser("verify", help="verificar ya los registros pendientes "
                                                  "(serve lo hace de continuo)"))
    v.add_argument("--recompute", action="store_true", help="descartar antes los dictámenes y recalcularlos")
    v.add_argument("--process", help="con --recompute: solo este proceso")
    v.set_defaults(fn=_run(cmd_verify))

    u = with_config(sub.add_parser("dashboard-user", help="dar de alta una cuenta del tablero "
                                                          "o cambiar su contraseña"))
    u.add_argument("username", metavar="USUARIO", help="nombre de la cuenta")
    u.add_argument("--role", default="coordinador", choices=accounts.ROLES,
                   help="rol (por omisión coordinador)")
    u.add_argument("--process", help="cuentas de aspirante: el proceso")
    u.add_argument("--aspirant", help="cuentas de aspirante: el aspirante")
    u.add_argument("--name", default="", help="nombre para mostrar en el tablero (p. ej. «Ana López»)")
    u.add_argument("--password-stdin", action="store_true",
                   help=f"leer la contraseña de una línea de la entrada estándar; si no, ${PASSWORD_ENV} "
                        "o se pregunta dos veces en la terminal")
    u.set_defaults(fn=_run(cmd_add_user))

    a = with_config(sub.add_parser("acuse-status", help="correos de acuse en cola, por estado (JSON)"))
    a.set_defaults(fn=_run(cmd_acuse_status))


def verify_kinds() -> list[str]:
    from server_stub.verify.process_kinds import KINDS

    return list(KINDS)
