"""The PIN lockout on disk, shared with the fleet: `sync.device.command_exec.record_pin_failure`,
`is_locked_out`, `clear_lockout` (`<data dir>/pin-lockout.json`). A lockout survives a kiosk
restart, and a coordinator unlock on the kiosk or a signed config update with `unlock`
clears it. No Qt. Each call reads the file again, so a clear by the sync agent is seen."""

from __future__ import annotations

import json
import time

from kiosk.capture.lockouts import LOCKOUT_MAX_SECONDS, LOCKOUT_SECONDS, MAX_PIN_FAILURES
from sync.device.command_exec import LOCKOUT_FILE, clear_lockout, is_locked_out, record_pin_failure
from sync.device.config import DeviceConfig


class FileLockouts:
    """`kiosk.capture.flow.LockoutStore` over sync.device.command_exec' lockout file (wall clock, not `now`).

    MAX_PIN_FAILURES wrong PINs lock for LOCKOUT_SECONDS; every further wrong PIN before a
    right one (or a coordinator unlock) locks again for twice as long, up to
    LOCKOUT_MAX_SECONDS. A right PIN clears the entry."""

    def __init__(self, cfg: DeviceConfig) -> None:
        self.cfg = cfg

    def _entry(self, aux_id: str) -> dict:
        try:
            d = json.loads((self.cfg.device.data_dir / LOCKOUT_FILE).read_text())
        except (OSError, ValueError):
            return {}
        e = d.get(aux_id) if isinstance(d, dict) else None
        return e if isinstance(e, dict) else {}

    def remaining(self, auxiliary_id: str, now: float) -> float:
        if not is_locked_out(self.cfg, auxiliary_id):
            return 0.0
        until_ms = int(self._entry(auxiliary_id).get("locked_until_ms", 0))
        return max(0.0, until_ms / 1000 - time.time())

    def failure(self, auxiliary_id: str, now: float) -> tuple[float, int]:
        n = int(self._entry(auxiliary_id).get("failures", 0)) + 1
        wait = min(LOCKOUT_SECONDS * 2 ** max(0, n - MAX_PIN_FAILURES), LOCKOUT_MAX_SECONDS)
        locked = record_pin_failure(self.cfg, auxiliary_id, max_failures=MAX_PIN_FAILURES, lock_s=wait)
        return (wait, 0) if locked else (0.0, MAX_PIN_FAILURES - n)

    def success(self, auxiliary_id: str) -> None:
        clear_lockout(self.cfg, auxiliary_id)

    def clear(self, auxiliary_id: str) -> None:
        clear_lockout(self.cfg, auxiliary_id)
