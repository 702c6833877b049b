"""Acting on server commands, on the device (wipe, config update), and revocation state.

Checks before anything happens (sync/wire/command.py): server signature
with the provisioned key, target device, freshness (server-corrected clock)
and replay (seq strictly above the last applied one, persisted).

- wipe: overwrite then delete every key file, the config file and the data dir
  (outbox, its WAL, agent state), and the enrollment folder; the device is
  blank and must be enrolled again.
- config: JSON payload {processes, auxiliaries, freeze, secciones?, warnings?,
  self_service?, unlock?}; each table sent replaces the device's, except
  `self_service`, which is merged key by key; the config file is replaced
  atomically after validation; `unlock` clears the PIN lockout of those auxiliaries
  (coordinator unlock).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from sync.device.config import ConfigError, DeviceConfig
from sync.device.config_write import write_config, write_private_file
from sync.wire.command import Command, CommandRejected, verify_command

log = logging.getLogger("fieldkit.sync.commands")
STATE_FILE = "commands-state.json"
LOCKOUT_FILE = "pin-lockout.json"
REVOKED_FILE = "revoked.json"
REVOKED_TEXT = "dispositivo revocado"


@dataclass(frozen=True)
class CommandResult:
    applied: bool
    kind: str = ""
    seq: int = 0
    reason: str = ""  # why it was refused (Spanish), when not applied


# What a config update may replace, with the shape the TOML writer needs; everything inside is
# checked by the config's own loader. Other top-level keys are ignored (``unlock`` is an action).
# The keys are those of sync/wire/config_schema.py (a test keeps them equal).
CONFIG_UPDATE_SHAPES: dict[str, type] = {
    "processes": list, "auxiliaries": list, "secciones": list, "freeze": dict, "warnings": dict,
    "self_service": dict}
# Tables merged key by key rather than replaced: the server sends only `enabled`, and the
# device's own timings (idle_seconds, warning_seconds) must survive it.
MERGED_TABLES = frozenset({"self_service"})


def last_applied_seq(cfg: DeviceConfig) -> int:
    try:
        return int(json.loads((cfg.device.data_dir / STATE_FILE).read_text())["last_seq"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _trusted(cfg: DeviceConfig) -> list[ed25519.Ed25519PublicKey]:
    key = serialization.load_pem_public_key(cfg.keys.server_sign_public.read_bytes())
    return [key] if isinstance(key, ed25519.Ed25519PublicKey) else []


def verify(cfg: DeviceConfig, data: bytes, clock_offset_ms: int | None = None) -> Command:
    """Signature, device, freshness, replay; raises CommandRejected (Spanish reason)."""
    now_server = int(time.time() * 1000) + (clock_offset_ms or 0)
    try:
        return verify_command(data, cfg.device.id, _trusted(cfg), now_server, last_applied_seq(cfg))
    except (OSError, ValueError) as e:
        if isinstance(e, CommandRejected):
            raise
        raise CommandRejected(f"no se pudo verificar la orden: {e}") from None


def apply_command(cfg: DeviceConfig, data: bytes, clock_offset_ms: int | None = None) -> CommandResult:
    """Verify and act. Never raises for a bad command: it is refused and logged."""
    try:
        cmd = verify(cfg, data, clock_offset_ms)
    except CommandRejected as e:
        log.warning("orden rechazada: %s", e)
        return CommandResult(False, reason=str(e))
    return execute(cfg, cmd)


def execute(cfg: DeviceConfig, cmd: Command) -> CommandResult:
    """Act on a command that `verify` accepted (a wipe needs the outbox closed first)."""
    if cmd.kind == "wipe":
        log.warning("orden de borrado %d verificada: borrando claves, configuración y registros", cmd.seq)
        wipe(cfg)
        return CommandResult(True, "wipe", cmd.seq)
    try:
        _apply_config(cfg, cmd)
    except (ConfigError, ValueError, OSError) as e:
        log.error("actualización de configuración %d no aplicada: %s", cmd.seq, e)
        _save_seq(cfg, cmd.seq)  # a bad payload must not be retried forever
        return CommandResult(False, cmd.kind, cmd.seq, f"configuración no válida: {e}")
    _save_seq(cfg, cmd.seq)
    log.info("configuración actualizada (orden %d)", cmd.seq)
    return CommandResult(True, cmd.kind, cmd.seq)


def _save_seq(cfg: DeviceConfig, seq: int) -> None:
    write_private_file(cfg.device.data_dir / STATE_FILE, json.dumps({"last_seq": seq}).encode())


def _apply_config(cfg: DeviceConfig, cmd: Command) -> None:
    payload: Any = json.loads(cmd.payload)
    if not isinstance(payload, dict):
        raise ValueError("se esperaba un objeto JSON")
    data = tomllib.loads(cfg.source.read_text())
    for k, shape in CONFIG_UPDATE_SHAPES.items():
        if k not in payload:
            continue
        v = payload[k]
        if not isinstance(v, shape) or (isinstance(v, list) and not all(isinstance(x, dict) for x in v)):
            raise ValueError(f"{k}: se esperaba {'una lista de tablas' if shape is list else 'una tabla'}")
        mine = data.get(k)
        if k in MERGED_TABLES and isinstance(mine, dict) and isinstance(v, dict):
            data[k] = {**mine, **v}
        else:
            data[k] = v
    write_config(cfg.source, data)
    for aux in payload.get("unlock") or []:
        clear_lockout(cfg, str(aux))


def _shred(p: Path) -> None:
    # Best effort on flash (wear levelling): overwrite, then unlink.
    try:
        size = p.stat().st_size
        with open(p, "r+b") as f:
            f.write(b"\0" * size)
            f.flush()
            os.fsync(f.fileno())
    except OSError:
        pass
    p.unlink(missing_ok=True)


def wipe(cfg: DeviceConfig) -> None:
    """Keys, config and outbox gone. The caller must have closed the outbox."""
    for f in fields(cfg.keys):
        _shred(getattr(cfg.keys, f.name))
    data = cfg.device.data_dir
    if data.exists():
        for p in sorted(data.rglob("*"), reverse=True):
            if p.is_file():
                _shred(p)
        shutil.rmtree(data, ignore_errors=True)
    _shred(cfg.source)
    state_dir = cfg.source.parent / "device.d"  # sync.device.enroll's layout
    shutil.rmtree(state_dir, ignore_errors=True)
    for d in {cfg.keys.client_key.parent, cfg.keys.outbox_key.parent}:
        if d.exists() and not any(d.iterdir()):
            d.rmdir()


# --- PIN lockout (the kiosk records failures; a coordinator unlock clears them) --------------


def _lockouts(cfg: DeviceConfig) -> dict[str, Any]:
    try:
        d = json.loads((cfg.device.data_dir / LOCKOUT_FILE).read_text())
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


def record_pin_failure(cfg: DeviceConfig, aux_id: str, *, max_failures: int = 5,
                       lock_s: float = 15 * 60) -> bool:
    """Count a wrong PIN; True when the auxiliary is now locked out."""
    d = _lockouts(cfg)
    e = d.get(aux_id) or {"failures": 0, "locked_until_ms": 0}
    e["failures"] = int(e.get("failures", 0)) + 1
    if e["failures"] >= max_failures:
        e["locked_until_ms"] = int((time.time() + lock_s) * 1000)
    d[aux_id] = e
    write_private_file(cfg.device.data_dir / LOCKOUT_FILE, json.dumps(d).encode())
    return e["failures"] >= max_failures


def is_locked_out(cfg: DeviceConfig, aux_id: str) -> bool:
    e = _lockouts(cfg).get(aux_id) or {}
    return int(e.get("locked_until_ms", 0)) > time.time() * 1000


def clear_lockout(cfg: DeviceConfig, aux_id: str) -> None:
    d = _lockouts(cfg)
    if d.pop(aux_id, None) is not None:
        write_private_file(cfg.device.data_dir / LOCKOUT_FILE, json.dumps(d).encode())


# --- revocation ------------------------------------------------------------------------------


def mark_revoked(data_dir: Path, why: str) -> None:
    if data_dir.is_dir():
        rec = {"revoked": True, "why": why, "at_ms": int(time.time() * 1000)}
        write_private_file(data_dir / REVOKED_FILE, json.dumps(rec).encode())


def is_revoked(cfg: DeviceConfig) -> bool:
    """True once the server said this device is revoked (kiosk: show REVOKED_TEXT, capture nothing)."""
    return (cfg.device.data_dir / REVOKED_FILE).exists()
