"""`fieldkit-kiosk`: the touchscreen app's entry point.

Config rule (docs/cli.md): an explicit `--config` or `FIELDKIT_CONFIG` that
cannot be loaded is an error (one line, exit 2). Only when no config exists
at the default path is the device taken as not enrolled, and the kiosk opens
its first-run enrollment screen instead of failing.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from sync.cli_common import EXIT_CONFIG, add_config_argument
from sync.config import ConfigError, DeviceConfig, load_config, resolve_config_path

PROG = "fieldkit-kiosk"
EXIT_NOT_ENROLLED = 3


@dataclass(frozen=True)
class KioskStart:
    """What the kiosk opens with: a loaded config, or the first-run screen."""

    config: DeviceConfig | None
    first_run: bool
    config_path: str


def resolve_start(cli_value: str | None) -> KioskStart:
    """Raises ConfigError for a config that exists (or was asked for) but is bad."""
    path, explicit = resolve_config_path(cli_value)
    if not explicit and not path.exists():
        return KioskStart(None, True, str(path))
    return KioskStart(load_config(path), False, str(path))


def cmd_check(ns: argparse.Namespace) -> int:
    try:
        start = resolve_start(ns.config)
    except ConfigError as e:
        print(f"{PROG}: error de configuración: {e}", file=sys.stderr)
        return EXIT_CONFIG
    if start.first_run:
        print(f"Este dispositivo no está inscrito (no existe {start.config_path}). "
              "Pida a su coordinador un código de inscripción.")
        return EXIT_NOT_ENROLLED
    cfg = start.config
    assert cfg is not None
    print(f"Dispositivo {cfg.device.id}: {len(cfg.processes)} proceso(s), "
          f"{len(cfg.auxiliaries)} auxiliar(es). Configuración válida: {start.config_path}")
    return 0


def cmd_scan(ns: argparse.Namespace) -> int:
    from kiosk.scan import run

    return run(ns.images, ns.json, ns.year)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Kiosco de captura de apoyos.")
    add_config_argument(p)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="¿está inscrito el dispositivo y es válida su configuración?")
    add_config_argument(c, sub=True)
    c.set_defaults(func=cmd_check)
    s = sub.add_parser("scan", help="lee el reverso de credenciales en archivos de imagen (diagnóstico)")
    s.add_argument("images", nargs="+", metavar="IMAGE")
    s.add_argument("--json", action="store_true", help="un objeto JSON por imagen, uno por línea")
    s.add_argument("--year", type=int, default=None, help="año actual para la vigencia (por omisión, hoy)")
    s.set_defaults(func=cmd_scan)
    return p


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    return ns.func(ns)


if __name__ == "__main__":
    sys.exit(main())
