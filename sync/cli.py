"""`fieldkit-sync`: the sync agent (`run`) and its report (`status [--json]`)."""

from __future__ import annotations

import argparse
import json
import sys

from sync.cli_common import add_config_argument, load_config_or_exit

PROG = "fieldkit-sync"


def cmd_status(ns: argparse.Namespace) -> int:
    cfg = load_config_or_exit(PROG, ns.config)
    report = {
        "device_id": cfg.device.id,
        "transport": cfg.server.transport,
        "config": str(cfg.source),
    }
    if ns.json:
        print(json.dumps(report))
    else:
        for k, v in report.items():
            print(f"{k}: {v}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Agente de sincronización del kit de campo.")
    add_config_argument(p)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("status", help="registros pendientes, última sincronización, conexión")
    add_config_argument(s, sub=True)
    s.add_argument("--json", action="store_true", help="salida JSON (docs/cli.md)")
    s.set_defaults(func=cmd_status)
    return p


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    return ns.func(ns)


if __name__ == "__main__":
    sys.exit(main())
