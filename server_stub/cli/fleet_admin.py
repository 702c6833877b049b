"""`fieldkit-server admin` fleet commands. JSON outputs: docs/cli.md.

    admin auxiliary-add   --id --name --pin --process P [--process ...] [--coordinator]
    admin auxiliary-pin   --id --pin           (new PIN; pushed to its devices as a config update)
    admin auxiliary-list
    admin enroll-code     --auxiliary A [--auxiliary ...] [--qr FILE.png] [--server-url URL] [--json]
    admin enroll-codes    (no secrets: state of each code)
    admin device-config   --id DEV [--auxiliary ...] [--unlock AUX ...]
    admin device-wipe     --id DEV [--ttl-hours H]
    admin fleet           (last heartbeat of every device)
    admin revoke-device   (server_stub/cli/main.py; now also denies on the broker: revocation.py)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server_stub.cli.common import ConfigArg, config_from_args
from server_stub.core.config import ServerConfig
from server_stub.core.store import Store, open_store
from server_stub.deploy import keys
from server_stub.fleet import command_issue as commands
from server_stub.fleet import tables as fleet
from server_stub.fleet.enrollment_codes import issue_enrollment_code, list_codes


def _with_store(fn: Callable[[argparse.Namespace, ServerConfig, Store], Any]) -> Callable[..., int]:
    def run(args: argparse.Namespace) -> int:
        cfg = config_from_args(args)
        store = open_store(cfg.store_url())
        try:
            out = fn(args, cfg, store)
        except fleet.FleetError as e:
            print(f"fieldkit-server: {e}", file=sys.stderr)
            return 1
        finally:
            store.close()
        if out is not None:
            print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    return run


def _aux_json(a: fleet.AuxiliaryRow) -> dict[str, Any]:
    return {"id": a.aux_id, "name": a.name, "role": a.role, "aspirant_id": a.aspirant_id,
            "processes": a.processes}


def cmd_aux_add(args: argparse.Namespace, _cfg: ServerConfig, store: Store) -> Any:
    role = "coordinador" if args.coordinator else "auxiliar"
    return _aux_json(fleet.put_auxiliary(store, args.id, args.name, args.pin, args.process, role=role))


def _devices_with(store: Store, aux_id: str) -> list[str]:
    fleet.ensure_schema(store)
    rows = store.query("SELECT device_id, auxiliaries FROM fleet_devices ORDER BY device_id")
    active = {d.device_id for d in store.list_devices() if d.state == "active"}
    return [r[0] for r in rows if aux_id in json.loads(r[1]) and r[0] in active]


def cmd_aux_pin(args: argparse.Namespace, cfg: ServerConfig, store: Store) -> Any:
    fleet.set_pin(store, args.id, args.pin)
    sign = keys.load_sign_private(cfg.keys.sign_key)
    queued = [commands.queue_config_update(store, sign, d, unlock=[args.id]).__dict__
              for d in _devices_with(store, args.id)]
    return {"id": args.id, "config_updates": [{"device_id": q["device_id"], "seq": q["seq"]} for q in queued]}


def cmd_aux_list(_args: argparse.Namespace, _cfg: ServerConfig, store: Store) -> Any:
    return [_aux_json(a) for a in fleet.list_auxiliaries(store)]


def cmd_enroll_code(args: argparse.Namespace, cfg: ServerConfig, store: Store) -> Any:
    code = issue_enrollment_code(store, cfg, args.auxiliary, server_url=args.server_url)
    qr = code.qr_png(args.qr) if args.qr else None
    out = {"code": code.code, "uri": code.uri, "expires_ms": code.expires_ms,
           "auxiliaries": code.auxiliaries, "qr_png": str(qr) if qr else None}
    if args.json:
        return out
    print(code.qr_text())
    print(f"Código de inscripción: {code.code}")
    print(f"Servidor: {code.uri.split('server=')[-1] if 'server=' in code.uri else '-'}")
    print(f"Vale hasta (Unix ms): {code.expires_ms}; un solo uso. Auxiliares: {', '.join(code.auxiliaries)}")
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


def add_admin_commands(asub: Any, with_config: ConfigArg) -> None:
    a = with_config(asub.add_parser("auxiliary-add", help="add or replace an auxiliary (or coordinator)"))
    a.add_argument("--id", required=True)
    a.add_argument("--name", required=True)
    a.add_argument("--pin", required=True, help="4-12 digits; stored only as an scrypt hash")
    a.add_argument("--process", action="append", required=True, help="process id (repeat; one aspirant)")
    a.add_argument("--coordinator", action="store_true", help="a coordinator (may unlock others)")
    a.set_defaults(fn=_with_store(cmd_aux_add))
    p = with_config(asub.add_parser("auxiliary-pin", help="reset a PIN and push it to its devices"))
    p.add_argument("--id", required=True)
    p.add_argument("--pin", required=True)
    p.set_defaults(fn=_with_store(cmd_aux_pin))
    with_config(asub.add_parser("auxiliary-list", help="auxiliaries (JSON)")).set_defaults(
        fn=_with_store(cmd_aux_list))
    e = with_config(asub.add_parser("enroll-code", help="a single-use 24 h enrollment code and its QR"))
    e.add_argument("--auxiliary", action="append", required=True, help="auxiliary id on the device (repeat)")
    e.add_argument("--qr", type=Path, help="write the QR as PNG here")
    e.add_argument("--server-url", help="enrollment URL for the QR (default from [fleet])")
    e.add_argument("--json", action="store_true")
    e.set_defaults(fn=_with_store(cmd_enroll_code))
    with_config(asub.add_parser("enroll-codes", help="issued codes and their state (JSON)")).set_defaults(
        fn=_with_store(cmd_codes))
    c = with_config(asub.add_parser("device-config", help="queue a signed config update for a device"))
    c.add_argument("--id", required=True)
    c.add_argument("--auxiliary", action="append", help="replace the device's auxiliaries (repeat)")
    c.add_argument("--unlock", action="append", help="clear this auxiliary's PIN lockout (repeat)")
    c.set_defaults(fn=_with_store(cmd_device_config))
    w = with_config(asub.add_parser("device-wipe", help="queue a signed wipe for a device"))
    w.add_argument("--id", required=True)
    w.add_argument("--ttl-hours", type=float, default=168.0)
    w.set_defaults(fn=_with_store(cmd_device_wipe))
    with_config(asub.add_parser("fleet", help="last heartbeat of every device (JSON)")).set_defaults(
        fn=_with_store(cmd_fleet))
