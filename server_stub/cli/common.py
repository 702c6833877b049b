"""What every `fieldkit-server` sub-command module shares: where the config is, `--config`."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from server_stub.core.config import ServerConfig, load_config

DEFAULT_CONFIG = Path("/etc/fieldkit/server.toml")
CONFIG_ENV = "FIELDKIT_SERVER_CONFIG"

ConfigArg = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """`--config`, else $FIELDKIT_SERVER_CONFIG, else /etc/fieldkit/server.toml."""
    return load_config(args.config or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def with_config(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give a sub-command the `--config` option."""
    sp.add_argument("--config", help=f"server TOML (default ${CONFIG_ENV} or {DEFAULT_CONFIG})")
    return sp
