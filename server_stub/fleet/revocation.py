"""Revoking a device: registry, broker ACL (no restart), and what it still had pending.

1. Registry state -> revoked. HTTPS refuses it at once: every fleet endpoint and
   `/v1/health` answer 403 `device_revoked`; records get the signed refusal ack.
2. Broker: the ACL file (`[fleet].broker_acl`) is rewritten with a `deny #` rule
   for every revoked device and Mosquitto is told to reload (SIGHUP to the pid in
   `[fleet].broker_pid_file`, or `[fleet].broker_reload_command`). Mosquitto
   checks ACLs on every publish and delivery, so the device can no longer
   publish records or status nor receive anything, without a restart and
   without the CRL (which Mosquitto reads only at start).
3. Report: the pending-record count and age from its last heartbeat, if any.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from dataclasses import asdict, dataclass
from typing import Any

from server_stub.core.config import ServerConfig
from server_stub.core.store import Store
from server_stub.deploy.broker import render_acl
from server_stub.deploy.file_modes import replace_keeping_access
from server_stub.fleet import tables as fleet
from server_stub.fleet.registry import revoke_device


@dataclass(frozen=True)
class RevokeReport:
    device_id: str
    broker: str  # "reloaded", "acl-written" (no reload configured), "not-configured", "error: ..."
    pending: int | None  # from the last heartbeat; None = never reported
    oldest_pending_age_s: float | None
    last_seen_ms: int | None
    online: bool | None
    denied_devices: list[str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def revoked_ids(store: Store) -> list[str]:
    return [d.device_id for d in store.list_devices() if d.state == "revoked"]


def apply_broker_acl(cfg: ServerConfig, store: Store) -> str:
    """Write the ACL with every revoked device denied, then ask the broker to reload."""
    acl = cfg.fleet.broker_acl
    if acl is None:
        return "not-configured"
    text = render_acl([i.name for i in cfg.mqtt.identities] or ["server:ingest"], revoked_ids(store))
    try:
        # The broker may re-read it at any moment: never half a file. Keep the group and mode
        # init gave it (Mosquitto re-reads it on SIGHUP as its own user, through its group).
        replace_keeping_access(acl, text.encode())
    except OSError as e:  # e.g. its folder is not writable by the server's user
        return (f"error: cannot write the broker ACL {acl}: {e.strerror or e} "
                "(the broker does not deny the device yet)")
    try:
        if cfg.fleet.broker_pid_file is not None:
            pid = cfg.fleet.broker_pid_file.read_text().split()
            if not pid:  # init creates it empty for a broker that cannot create it itself
                return f"error: {cfg.fleet.broker_pid_file} is empty (the broker is not running)"
            os.kill(int(pid[0]), signal.SIGHUP)
            return "reloaded"
        if cfg.fleet.broker_reload_command:
            subprocess.run(shlex.split(cfg.fleet.broker_reload_command), check=True, timeout=30,
                           capture_output=True)
            return "reloaded"
    except (OSError, ValueError, IndexError, subprocess.SubprocessError) as e:
        return f"error: {e}"
    return "acl-written"


def revoke(store: Store, cfg: ServerConfig, device_id: str) -> RevokeReport:
    """Raises registry.RegistryError for an unknown device. Revoking twice is harmless."""
    revoke_device(store, device_id)
    broker = apply_broker_acl(cfg, store)
    hb = fleet.get_heartbeat(store, device_id)
    return RevokeReport(device_id, broker, hb.pending if hb else None,
                        hb.oldest_pending_age_s if hb else None, hb.received_ms if hb else None,
                        hb.online if hb else None, revoked_ids(store))
