"""What every `fieldkit-server` sub-command module shares: where the config is, `--config`, and
how a secret (PIN, password) is read: never from argv, where `ps` shows it to every local user."""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn

from server_stub.core.config import ServerConfig, load_config

DEFAULT_CONFIG = Path("/etc/fieldkit/server.toml")
CONFIG_ENV = "FIELDKIT_SERVER_CONFIG"

ConfigArg = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]


# argparse's own error sentences (Python 3.11), said in Spanish; anything else passes as is.
_ARGPARSE_ERRORS = [
    (r"^the following arguments are required: ", "faltan los argumentos: "),
    (r"^unrecognized arguments: ", "argumentos desconocidos: "),
    (r"^one of the arguments (.*) is required$", r"hace falta uno de los argumentos \1"),
    (r"^argument ", "argumento "),
    (r"invalid choice: (.*) \(choose from (.*)\)$", r"valor no válido: \1 (se admite: \2)"),
    (r"expected one argument$", "le falta su valor"),
    (r"invalid (\w+) value: (.*)$", r"valor no válido (\1): \2"),
    (r"not allowed with argument ", "no se admite junto con "),
    (r"ignored explicit argument ", "no admite valor: "),
]


class _Formatter(argparse.HelpFormatter):
    def add_usage(self, usage: str | None, actions: Iterable[argparse.Action],
                  groups: Iterable[argparse._MutuallyExclusiveGroup], prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, "uso: " if prefix is None else prefix)


class Parser(argparse.ArgumentParser):
    """The help frame in Spanish and a usage error as one Spanish line (exit 2), for the parser
    and every sub-parser (`add_subparsers` makes them of the parent's class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No abbreviations: `--pin` must not quietly mean `--pin-stdin`.
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", _Formatter)
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)
        self._positionals.title = "argumentos"
        self._optionals.title = "opciones"
        self.add_argument("-h", "--help", action="help", help="muestra esta ayuda y termina")

    def error(self, message: str) -> NoReturn:
        for pattern, spanish in _ARGPARSE_ERRORS:
            message = re.sub(pattern, spanish, message)
        self.exit(2, f"{self.prog}: {message} (véase «{self.prog} --help»)\n")


class SecretError(Exception):
    """A secret could not be read (no terminal to ask, the two answers differ, empty stdin):
    a usage error, one line, exit 2."""


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """`--config`, else $FIELDKIT_SERVER_CONFIG, else /etc/fieldkit/server.toml."""
    return load_config(getattr(args, "config", None) or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def add_config_argument(parser: argparse.ArgumentParser, *, sub: bool = False) -> None:
    """`--config` before or after the subcommand (as `fieldkit-sync` and `fieldkit-kiosk`):
    the subcommand's copy defaults to SUPPRESS so it never resets a value given before it."""
    parser.add_argument("--config", metavar="ARCHIVO", default=argparse.SUPPRESS if sub else None,
                        help=f"configuración del servidor, TOML (por omisión ${CONFIG_ENV} "
                             f"o {DEFAULT_CONFIG})")


def with_config(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give a sub-command the `--config` option (also accepted before the sub-command)."""
    add_config_argument(sp, sub=True)
    return sp


def read_secret(*, env: str, from_stdin: bool, stdin_flag: str, prompt: str, again: str) -> str | None:
    """$`env`, else one line of stdin (`stdin_flag` given), else asked twice at a terminal.

    None when nothing was given and there is no terminal to ask (the caller decides: generate
    one, or refuse). An empty answer at the terminal is returned as "" (the caller's choice too).
    """
    value = os.environ.get(env)
    if value:
        return value
    if from_stdin:
        line = sys.stdin.readline()
        if not line.strip():
            raise SecretError(f"{stdin_flag}: la entrada estándar no trae ninguna línea")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        return None
    first = getpass.getpass(f"{prompt}: ")
    if first and getpass.getpass(f"{again}: ") != first:
        raise SecretError("las dos respuestas no coinciden; no se guardó nada")
    return first
