"""`fieldkit-kiosk`: the touchscreen app's entry point.

Config rule (docs/cli.md): an explicit `--config` or `FIELDKIT_CONFIG` that
cannot be loaded is an error. Only when no config exists at the default path
is the device taken as not enrolled, and the kiosk opens its first-run
enrollment screen instead of failing. The commands print that error as one
line and exit 2; the app (`run`, or no subcommand) shows it on its failure
screen instead, as every other start-up failure (kiosk/app/start.py), and
exits 4 once stopped.

Usage errors are one line on stderr and exit 2; `--camera` is checked while
the arguments are read, before Qt starts. `failure-screen` is the minimal
program systemd starts when the kiosk unit gives up (systemd/fieldkit-kiosk-failure.service).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from sync.common.logs import setup_logging
from sync.device.config import ConfigError, DeviceConfig, load_config, resolve_config_path
from sync.device.config_cli import EXIT_CONFIG, add_config_argument

PROG = "fieldkit-kiosk"
EXIT_USAGE = 2
EXIT_NOT_ENROLLED = 3
CAMERA_SPECS = "auto, picamera[:N], webcam[:N | RUTA] o replay:RUTA[@FPS]"


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line and exit 2 (docs/cli.md), not argparse's usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: {message} (vea «{PROG} --help»)\n")


class _CameraArgument(argparse.Action):
    """`--camera SPEC`, checked as it is read: a spec that does not parse is one Spanish line
    and exit 2, before Qt starts. The line quotes the spec as typed: the kiosk's `picamera:N`
    reaches hardware.camera as `pi:N`, whose own message would name a spec nobody typed."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        spec = str(values)
        try:
            from hardware.camera import CameraError, parse_spec
            from kiosk.app.services import camera_spec
        except Exception:  # a broken install: the app's guarded start shows it on its screen
            setattr(namespace, self.dest, spec)
            return
        try:
            parse_spec(camera_spec(spec))
        except CameraError:
            parser.exit(EXIT_USAGE, f"{PROG}: --camera: la configuración de la cámara «{spec}» no es "
                                    f"válida. Use {CAMERA_SPECS}.\n")
        setattr(namespace, self.dest, spec)


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
    from kiosk.cli.scan import run
    from kiosk.cli.scan_frames import run_frames

    if not ns.images and not ns.frames:
        print(f"{PROG}: scan: indique imágenes o --frames CARPETA (vea «{PROG} --help»)", file=sys.stderr)
        return EXIT_USAGE
    rc = run(ns.images, ns.json, ns.year) if ns.images else 0
    return max(rc, run_frames(ns.frames, ns.json))


def _add_run_arguments(p: argparse.ArgumentParser, sub: bool = False) -> None:
    def d(value: object) -> object:
        return argparse.SUPPRESS if sub else value

    p.add_argument("--camera", default=d("auto"), metavar="SPEC", action=_CameraArgument,
                   help="picamera[:N] | webcam[:INDEX|PATH] | replay:PATH[@FPS] (por omisión: auto)")
    _add_screen_arguments(p, sub)
    p.add_argument("-v", "--verbose", action="store_true", default=d(False),
                   help="registro detallado (depuración)")


def _add_screen_arguments(p: argparse.ArgumentParser, sub: bool = False) -> None:
    def d(value: object) -> object:
        return argparse.SUPPRESS if sub else value

    p.add_argument("--lang", choices=("es", "en"), default=d(None),
                   help="idioma (por omisión, el de la configuración)")
    p.add_argument("--size", default=d("800x480"), choices=("800x480", "1280x800"),
                   help="tamaño de la pantalla")
    p.add_argument("--windowed", action="store_true", default=d(False),
                   help="en una ventana, no a pantalla completa")


def cmd_enroll(ns: argparse.Namespace) -> int:
    """Enroll this device with a coordinator's code (logic in sync/device/enroll.py, shared with the UI)."""
    import json

    from sync.common.msg import Msg
    from sync.device.config import resolve_config_path
    from sync.device.enroll import EnrollError, enroll, step_text

    path, _explicit = resolve_config_path(getattr(ns, "config", None))

    def progress(step: Msg, frac: float) -> None:
        if not ns.json:
            print(f"[{frac * 100:3.0f} %] {step_text(step)}", file=sys.stderr)

    try:
        r = enroll(ns.code, ns.server, path, progress=progress, data_dir=ns.data_dir)
    except EnrollError as e:
        if ns.json:
            print(json.dumps({"ok": False, "reason": e.reason, "message": e.message}, ensure_ascii=False))
        else:
            print(f"{PROG}: {e.message}", file=sys.stderr)
        return 1
    out = {"ok": True, "device_id": r.device_id, "folio_prefix": r.folio_prefix,
           "config": str(r.config_path), "processes": r.processes, "auxiliaries": r.auxiliaries}
    text = (f"Dispositivo inscrito como {r.device_id} (folios {r.folio_prefix}-…); "
            f"configuración: {r.config_path}")
    print(json.dumps(out, ensure_ascii=False) if ns.json else text)
    return 0


def cmd_run(ns: argparse.Namespace) -> int:
    """The touchscreen app (no subcommand, or `run`); a start-up failure shows its screen."""
    setup_logging(ns.verbose)
    try:
        start = resolve_start(ns.config)
    except Exception as e:  # ConfigError, or anything reading it: the failure screen says so
        from kiosk.app.failure import StartupFailure
        from kiosk.app.start import show_failure

        path, _explicit = resolve_config_path(ns.config)
        failure = StartupFailure.of(e, config_path=str(path), camera=ns.camera)
        return show_failure(failure, lang=ns.lang or "es", size=ns.size, windowed=ns.windowed)
    from kiosk.app.start import run

    return run(camera=ns.camera, config=start.config, config_path=start.config_path, lang=ns.lang,
               size=ns.size, windowed=ns.windowed)


def cmd_failure_screen(ns: argparse.Namespace) -> int:
    """The failure screen alone, with no outbox and no camera (systemd's OnFailure= unit)."""
    setup_logging()
    from kiosk.app.start import run_failure_screen

    return run_failure_screen(config_path=ns.config, lang=ns.lang, size=ns.size, windowed=ns.windowed)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Kiosco de captura de apoyos.")
    add_config_argument(p)
    _add_run_arguments(p)
    p.set_defaults(func=cmd_run)
    sub = p.add_subparsers(dest="cmd")
    r = sub.add_parser("run", help="abre la aplicación del kiosco (lo mismo que sin subcomando)")
    add_config_argument(r, sub=True)
    _add_run_arguments(r, sub=True)
    r.set_defaults(func=cmd_run)
    c = sub.add_parser("check", help="¿está inscrito el dispositivo y es válida su configuración?")
    add_config_argument(c, sub=True)
    c.set_defaults(func=cmd_check)
    s = sub.add_parser("scan", help="lee credenciales en archivos de imagen, o juzga una secuencia "
                                    "inclinada (--frames) (diagnóstico)")
    s.add_argument("images", nargs="*", metavar="IMAGE")
    s.add_argument("--frames", action="append", default=[], metavar="CARPETA",
                   help="una secuencia de la credencial inclinada (CARPETA/sequence.json): integridad "
                        "con la prueba de inclinación; se puede repetir")
    s.add_argument("--json", action="store_true", help="un objeto JSON por imagen o carpeta, uno por línea")
    s.add_argument("--year", type=int, default=None, help="año actual para la vigencia (por omisión, hoy)")
    s.set_defaults(func=cmd_scan)
    e = sub.add_parser("enroll", help="inscribe este dispositivo con el código (o el QR) del coordinador")
    add_config_argument(e, sub=True)
    e.add_argument("code", metavar="CÓDIGO", help="el código de 20 caracteres, o el contenido del QR")
    e.add_argument("--server", default=None, help="URL https:// del servidor (el QR ya la trae)")
    e.add_argument("--json", action="store_true", help="resultado como un objeto JSON")
    e.add_argument("--data-dir", default=None, metavar="DIR",
                   help="carpeta de la bandeja de salida (por omisión /var/lib/fieldkit con la "
                        "configuración por omisión; si no, junto a la configuración)")
    e.set_defaults(func=cmd_enroll)
    f = sub.add_parser("failure-screen", help="sólo la pantalla de falla, sin bandeja ni cámara "
                                              "(la unidad fieldkit-kiosk-failure de systemd)")
    add_config_argument(f, sub=True)
    _add_screen_arguments(f, sub=True)
    f.set_defaults(func=cmd_failure_screen)
    from kiosk.cli.capture import add_parser as add_capture_parser

    add_capture_parser(sub, add_config_argument)
    return p


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    return ns.func(ns)


if __name__ == "__main__":
    sys.exit(main())
