"""`fieldkit-server`: init, serve, check-config, admin (devices, stats).

Exit status: 0 ok, 1 the operation was refused (e.g. device exists), 2 bad
config or usage (one line naming file and field on stderr).
The config comes from --config (before or after the sub-command), else
$FIELDKIT_SERVER_CONFIG, else /etc/fieldkit/server.toml. Help and messages are Spanish;
secrets (PINs, passwords) never come from argv (server_stub/cli/common.py: read_secret).
$FIELDKIT_SERVER_FAULT=crash-after-store is a test hook for `serve` (exit right after
storing the first record, before acking).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from cryptography import x509

from server_stub.cli.campaign import add_commands
from server_stub.cli.common import Parser, SecretError, add_config_argument, config_from_args, with_config
from server_stub.cli.fleet_admin import add_admin_commands
from server_stub.cli.serve import PortBusyError, ServeError, build_server, serve_forever
from server_stub.core.config import ServerConfig, ServerConfigError
from server_stub.core.store import StoreError, open_store
from server_stub.deploy import file_modes, keys, pki
from server_stub.deploy.init_dir import BROKER_DIR, InitError, InitOptions, init_deployment
from server_stub.fleet.registry import RegistryError, add_device
from server_stub.ingest.ingest import FAULT_CRASH_AFTER_STORE
from sync.common.logs import setup_logging

FAULT_ENV = "FIELDKIT_SERVER_FAULT"


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise RegistryError(f"{what} {path}: {e.strerror}") from None


def cmd_init(args: argparse.Namespace) -> int:
    o = InitOptions(hostnames=args.hostname or ["localhost"], ips=args.ip or ["127.0.0.1", "::1"],
                    suite=args.suite, workers=args.workers, https_host=args.https_host,
                    https_port=args.https_port, mqtt_host=args.mqtt_host, mqtt_port=args.mqtt_port,
                    mqtt_server_port=args.mqtt_server_port,
                    store_url=args.store_url, enroll_host=args.enroll_host,
                    enroll_port=None if args.no_enroll else args.enroll_port, broker_user=args.broker_user)
    try:
        path = init_deployment(Path(args.dir), o)
    except InitError as e:
        print(f"fieldkit-server init: {e}", file=sys.stderr)
        return 1
    print(f"despliegue creado; configuración: {path}")
    print(f"los dispositivos necesitan: {Path(args.dir) / 'pki/ca.crt'}, "
          f"{Path(args.dir) / 'keys/server-seal.pub'}, {Path(args.dir) / 'keys/server-sign.pub'}")
    return 0


def broker_conf(cfg: ServerConfig) -> Path:
    """The deployment's Mosquitto config: beside `[fleet].broker_acl` (init writes both into
    mosquitto/), else where init puts it."""
    acl = cfg.fleet.broker_acl
    folder = acl.parent if acl is not None else cfg.source.parent / BROKER_DIR
    return folder / "mosquitto.conf"


def exposed_files(cfg: ServerConfig) -> list[str]:
    """The config, store, key and acuse files another local user could read (one line each,
    with the fix)."""
    private_keys = [*cfg.keys.seal_keys, cfg.keys.sign_key, *(i.key for i in cfg.mqtt.identities),
                    *([cfg.tls.ca_key] if cfg.tls.ca_key is not None else [])]
    # The TLS key is also the broker's: init shares it 0640 with the group of the user the
    # broker drops to (its config's `user` line: `init --broker-user`, default mosquitto).
    return file_modes.exposed_files(cfg.source, cfg.store_url(), private_keys, [cfg.tls.server_key],
                                    broker=file_modes.deployment_broker(broker_conf(cfg)),
                                    receipts=cfg.acuse.outbox_dir)


def refuse_exposed(cfg: ServerConfig) -> bool:
    """Print one line per file others can read (with the command that fixes it); True if any."""
    problems = exposed_files(cfg)
    for line in problems:
        print(f"fieldkit-server: {line}", file=sys.stderr)
    return bool(problems)


def cmd_check(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if refuse_exposed(cfg):
        return 2
    for p in [*cfg.keys.seal_keys]:
        keys.load_seal_private(p)
    keys.load_sign_private(cfg.keys.sign_key)
    print(f"{cfg.source}: ok")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    fault = os.environ.get(FAULT_ENV) or None
    if fault not in (None, FAULT_CRASH_AFTER_STORE):
        print(f"fieldkit-server: valor desconocido {FAULT_ENV}={fault!r}", file=sys.stderr)
        return 2
    if refuse_exposed(cfg):
        return 2
    server = build_server(cfg, fault=fault, identities=args.mqtt_identity, https=not args.no_https,
                          mqtt=not args.no_mqtt)
    serve_forever(server)
    return 0


def cmd_add_device(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    sign_pub = keys.parse_ed25519_public(_read(args.sign_pub, "--sign-pub"), args.sign_pub)
    ca_key = cfg.tls.ca_key if cfg.tls.ca_key and cfg.tls.ca_key.exists() else None
    ca = pki.Issued(pki.load_cert(cfg.tls.ca_cert), pki.load_key(ca_key) if ca_key else None)
    csr = _read(args.csr, "--csr") if args.csr else None
    cert = None
    if args.cert:
        try:
            cert = x509.load_pem_x509_certificate(_read(args.cert, "--cert"))
        except ValueError as e:
            raise RegistryError(f"--cert {args.cert}: no es un certificado PEM: {e}") from None
    store = open_store(cfg.store_url())
    try:
        reg = add_device(store, args.id, sign_pub, ca=ca, csr_pem=csr, cert=cert, replace=args.replace)
    finally:
        store.close()
    if csr is not None and reg.cert is not None:
        out = Path(args.cert_out or f"{args.id}.crt")
        pki.write_cert(out, reg.cert)
        print(f"dispositivo {args.id} registrado; certificado de cliente guardado en {out}")
    else:
        print(f"dispositivo {args.id} registrado")
    return 0


def cmd_revoke_device(args: argparse.Namespace) -> int:
    # Registry + broker ACL deny and reload (no restart) + pending report.
    from server_stub.fleet.revocation import revoke

    cfg = config_from_args(args)
    store = open_store(cfg.store_url())
    try:
        report = revoke(store, cfg, args.id)
    finally:
        store.close()
    if getattr(args, "json", False):
        print(json.dumps(report.to_json()))
    else:
        pending = "se desconoce (sin latido)" if report.pending is None else str(report.pending)
        print(f"dispositivo {args.id} revocado; broker: {report.broker}; "
              f"registros pendientes en su último latido: {pending}")
    return 0


def cmd_list_devices(args: argparse.Namespace) -> int:
    store = open_store(config_from_args(args).store_url())
    try:
        devices = store.list_devices()
    finally:
        store.close()
    rows: list[dict[str, Any]] = [{"id": d.device_id, "state": d.state, "sign_pub": d.sign_pub.hex(),
             "has_cert": d.cert_pem is not None, "added_ms": d.added_ms} for d in devices]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['id']}\t{r['state']}\t{r['sign_pub'][:16]}…\t{'cert' if r['has_cert'] else '-'}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    store = open_store(config_from_args(args).store_url())
    try:
        out = {"records": store.count_records(), "refusals": store.count_refusals(),
               "devices": len(store.list_devices())}
    finally:
        store.close()
    print(json.dumps(out))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="fieldkit-server",
               description="Servidor central de Apoyo field kit: recibe los registros, administra la "
                           "flota y verifica los apoyos.")
    add_config_argument(p)
    p.add_argument("--log-level", default="INFO", metavar="NIVEL",
                   help="DEBUG, INFO, WARNING o ERROR (por omisión INFO)")
    sub = p.add_subparsers(dest="command", required=True, title="subcomandos", metavar="SUBCOMANDO")

    i = sub.add_parser("init",
                       help="crear la carpeta de un despliegue (CA, certificados, claves, configuración)")
    i.add_argument("dir", metavar="CARPETA", help="carpeta nueva del despliegue")
    i.add_argument("--hostname", action="append",
                   help="nombre DNS del servidor (se repite); por omisión localhost")
    i.add_argument("--ip", action="append",
                   help="dirección IP del servidor (se repite); por omisión loopback")
    i.add_argument("--suite", default="mlkem768-x25519", choices=["mlkem768-x25519", "x25519"],
                   help="suite del sellado HPKE (por omisión mlkem768-x25519)")
    i.add_argument("--workers", type=int, default=1, help="identidades MQTT de recepción que emitir")
    i.add_argument("--https-host", default="127.0.0.1", help="dirección de la API HTTPS")
    i.add_argument("--https-port", type=int, default=8443, help="puerto de la API HTTPS")
    i.add_argument("--mqtt-host", default="127.0.0.1", help="dirección del broker MQTT")
    i.add_argument("--mqtt-port", type=int, default=8883, help="puerto MQTT de los dispositivos")
    i.add_argument("--mqtt-server-port", type=int, default=8884,
                   help="puerto MQTT propio de los trabajadores de recepción "
                        "(loopback, sin tope de conexiones)")
    i.add_argument("--store-url", default="sqlite:data/fieldkit.db",
                   help="almacén (sqlite:RUTA o postgresql://…)")
    i.add_argument("--enroll-host", default="127.0.0.1", help="dirección del servicio de inscripción")
    i.add_argument("--enroll-port", type=int, default=8445, help="puerto del servicio de inscripción")
    i.add_argument("--no-enroll", action="store_true", help="sin servicio de inscripción (enroll_port vacío)")
    i.add_argument("--broker-user",
                   help="`user` de Mosquitto (por omisión 'mosquitto' si se ejecuta como root)")
    i.set_defaults(fn=cmd_init)

    c = with_config(sub.add_parser("check-config",
                                   help="cargar la configuración y las claves; informar de problemas"))
    c.set_defaults(fn=cmd_check)

    s = with_config(sub.add_parser("serve", help="ejecutar la API HTTPS y los trabajadores MQTT"))
    s.add_argument("--mqtt-identity", action="append", metavar="NOMBRE",
                   help="ejecutar solo esta entrada de [mqtt].identities (se repite); por omisión todas")
    s.add_argument("--no-https", action="store_true", help="solo los trabajadores MQTT")
    s.add_argument("--no-mqtt", action="store_true", help="solo HTTPS")
    s.set_defaults(fn=cmd_serve)

    a = sub.add_parser("admin", help="registro de dispositivos, flota y almacén")
    asub = a.add_subparsers(dest="admin_command", required=True, title="subcomandos", metavar="SUBCOMANDO")
    ad = with_config(asub.add_parser("add-device", help="registrar un dispositivo"))
    ad.add_argument("--id", required=True, help="id del dispositivo")
    ad.add_argument("--sign-pub", required=True, metavar="ARCHIVO",
                    help="clave pública Ed25519 del dispositivo (PEM, o 32 bytes crudos o en hex)")
    g = ad.add_mutually_exclusive_group()
    g.add_argument("--csr", metavar="ARCHIVO",
                   help="emitir el certificado de cliente a partir de esta CSR (PEM)")
    g.add_argument("--cert", metavar="ARCHIVO", help="registrar este certificado de cliente ya emitido (PEM)")
    ad.add_argument("--cert-out", metavar="ARCHIVO",
                    help="dónde guardar el certificado emitido (por omisión ID.crt)")
    ad.add_argument("--replace", action="store_true",
                    help="reemplazar un dispositivo existente (reinscripción)")
    ad.set_defaults(fn=cmd_add_device)
    rv = with_config(asub.add_parser("revoke-device",
                                     help="rechazar desde ahora los registros de un dispositivo"))
    rv.add_argument("--id", required=True, help="id del dispositivo")
    rv.add_argument("--json", action="store_true", help="el informe de la revocación en JSON")
    rv.set_defaults(fn=cmd_revoke_device)
    ls = with_config(asub.add_parser("list-devices", help="listar el registro de dispositivos"))
    ls.add_argument("--json", action="store_true", help="salida en JSON")
    ls.set_defaults(fn=cmd_list_devices)
    st = with_config(asub.add_parser("stats", help="número de registros y de rechazos (JSON)"))
    st.set_defaults(fn=cmd_stats)
    add_admin_commands(asub, with_config)
    add_commands(sub, with_config)
    return p


def main(argv: list[str] | None = None) -> int:
    # umask 077 for every sub-command: what the server writes holds personal data or secrets
    # (the SQLite store and the -wal/-shm SQLite makes next to it, keys, the config, acuse
    # e-mails, roll imports and exports), so nothing it creates may be readable by another local
    # user, whatever umask the shell, cron or unit handed us. What Mosquitto must read is
    # shared on purpose by `init` (server_stub/deploy/file_modes.py), never through the umask.
    # Restored on return, for callers that run main() in their own process (tests).
    old_umask = os.umask(0o077)
    try:
        return _main(argv)
    finally:
        os.umask(old_umask)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(level=args.log_level)
    try:
        return int(args.fn(args))
    except ServerConfigError as e:
        print(e, file=sys.stderr)
        return 2
    except PortBusyError as e:  # another process's doing, not this config's: exit 1
        print(f"fieldkit-server: {e}", file=sys.stderr)
        return 1
    except (keys.KeyFileError, ServeError, SecretError) as e:
        print(f"fieldkit-server: {e}", file=sys.stderr)
        return 2
    except (RegistryError, StoreError, pki.PKIError) as e:
        print(f"fieldkit-server: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
