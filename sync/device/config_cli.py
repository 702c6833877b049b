"""What every fieldkit command does with its config: find it, load it, or exit 2 with one line."""

from __future__ import annotations

import argparse
import sys

from sync.device.config import ConfigError, DeviceConfig, load_config, resolve_config_path

EXIT_CONFIG = 2


def add_config_argument(parser: argparse.ArgumentParser, *, sub: bool = False) -> None:
    """`--config` before or after the subcommand; the subcommand's copy must not reset it."""
    parser.add_argument(
        "--config", metavar="RUTA", default=argparse.SUPPRESS if sub else None,
        help="archivo de configuración (por omisión $FIELDKIT_CONFIG o /etc/fieldkit/device.toml)",
    )


def load_config_or_exit(prog: str, cli_value: str | None) -> DeviceConfig:
    """Load the device config; on any problem print one line and exit with status 2."""
    path, _explicit = resolve_config_path(cli_value)
    try:
        return load_config(path)
    except ConfigError as e:
        print(f"{prog}: error de configuración: {e}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None
