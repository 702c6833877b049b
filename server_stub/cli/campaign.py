"""`fieldkit-server roll|process|verify|dashboard-user|acuse`, added to the main parser."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server_stub.cli.common import ConfigArg, config_from_args
from server_stub.core.store import Store, open_store
from server_stub.dashboard import accounts
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
        except (roll.RollError, processes.ProcessError, accounts.AccountError) as e:
            print(f"fieldkit-server: {e}", file=sys.stderr)
            return 1
        finally:
            store.close()
    return wrapped


def cmd_roll_import(store: Store, args: argparse.Namespace) -> None:
    res = roll.import_roll(store, Path(args.file))
    dropped = verify.invalidate(store)
    print(json.dumps({"rows": res.rows, "secciones": res.secciones, "seconds": round(res.seconds, 2),
                      "verdicts_to_recompute": dropped}))


def cmd_process_define(store: Store, args: argparse.Namespace) -> None:
    try:
        tz = periods.zone(_zone_name(args))
        start, end = periods.start_ms(args.start, tz), periods.end_ms(args.end, tz)
    except periods.PeriodError as e:
        raise processes.ProcessError(str(e)) from None
    p = processes.define_process(store, args.id, args.kind, args.name or args.id, start, end,
                                 replace=args.replace, timezone=tz.key)
    verify.invalidate(store, p.process_id)
    print(f"proceso {p.process_id} ({p.kind}) definido: del {periods.show(start, tz)} "
          f"al {periods.show(end, tz, seconds=True)}")


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
    pw = os.environ.get(PASSWORD_ENV) or (sys.stdin.readline().rstrip("\n") if args.password_stdin
                                          else getpass.getpass("contraseña: "))
    u = accounts.add_user(store, args.username, pw, args.role, process_id=args.process,
                          aspirant_id=args.aspirant)
    print(f"usuario {u.username} ({u.role}) guardado")


def cmd_acuse_status(store: Store, args: argparse.Namespace) -> None:
    print(json.dumps(acuse.queue_counts(store)))


def add_commands(sub: Any, with_config: ConfigArg) -> None:
    r = sub.add_parser("roll", help="the electoral roll (lista nominal)")
    rs = r.add_subparsers(dest="roll_command", required=True)
    ri = with_config(rs.add_parser("import", help="replace the roll with a CSV (testdata roll layout)"))
    ri.add_argument("file")
    ri.set_defaults(fn=_run(cmd_roll_import))

    p = sub.add_parser("process", help="processes and aspirants (thresholds, scope, period)")
    ps = p.add_subparsers(dest="process_command", required=True)
    pd = with_config(ps.add_parser("define", help="define a process"))
    pd.add_argument("--id", required=True)
    pd.add_argument("--kind", required=True, choices=sorted(verify_kinds()))
    pd.add_argument("--name")
    pd.add_argument("--start", required=True,
                    help="fecha AAAA-MM-DD (00:00 de ese día en la zona) o fecha y hora ISO")
    pd.add_argument("--end", required=True,
                    help="fecha AAAA-MM-DD (incluye todo ese día en la zona) o fecha y hora ISO")
    pd.add_argument("--timezone", help="zona del proceso si no es la del despliegue "
                                       "([deployment] timezone), p. ej. America/Tijuana")
    pd.add_argument("--replace", action="store_true")
    pd.set_defaults(fn=_run(cmd_process_define))
    pa = with_config(ps.add_parser("add-aspirant", help="add (or update) an aspirant and its scope"))
    pa.add_argument("--process", required=True)
    pa.add_argument("--id", required=True)
    pa.add_argument("--name")
    pa.add_argument("--entidad", type=int)
    pa.add_argument("--distrito", type=int, help="distrito federal")
    pa.add_argument("--municipio", type=int)
    pa.set_defaults(fn=_run(cmd_process_add_aspirant))
    pn = with_config(ps.add_parser("notify", help="record the notification (opens the audiencia)"))
    pn.add_argument("--process", required=True)
    pn.add_argument("--aspirant", required=True)
    pn.set_defaults(fn=_run(cmd_process_notify))
    pl = with_config(ps.add_parser("list", help="processes and aspirants (JSON)"))
    pl.set_defaults(fn=_run(cmd_process_list))

    v = with_config(sub.add_parser("verify", help="verify pending records now (serve does it continuously)"))
    v.add_argument("--recompute", action="store_true", help="drop verdicts first and recompute them")
    v.add_argument("--process", help="with --recompute: only this process")
    v.set_defaults(fn=_run(cmd_verify))

    u = with_config(sub.add_parser("dashboard-user", help="add or reset a dashboard account"))
    u.add_argument("username")
    u.add_argument("--role", default="coordinador", choices=accounts.ROLES)
    u.add_argument("--process", help="aspirante accounts: the process")
    u.add_argument("--aspirant", help="aspirante accounts: the aspirant")
    u.add_argument("--password-stdin", action="store_true",
                   help=f"read the password from stdin (or ${PASSWORD_ENV})")
    u.set_defaults(fn=_run(cmd_add_user))

    a = with_config(sub.add_parser("acuse-status", help="mail queue counts by state (JSON)"))
    a.set_defaults(fn=_run(cmd_acuse_status))


def verify_kinds() -> list[str]:
    from server_stub.verify.process_kinds import KINDS

    return list(KINDS)
