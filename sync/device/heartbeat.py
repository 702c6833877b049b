"""What a heartbeat says about the device besides the outbox: battery and free disk.

The agent merges these into its retained status (MQTT) or `POST /v1/status`
(HTTPS). Reading sysfs/statvfs is cheap, but a heartbeat may go out on every
change of the queue, so the readings are cached for a few seconds.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from hardware.errors import HardwareError
from hardware.power import read_power
from hardware.storage import free_bytes

CHANGE_MIN_INTERVAL_S = 2.0  # a status "on change" goes out at most this often
_CACHE_S = 10.0
_cache: dict[str, tuple[float, dict[str, object]]] = {}


def vitals(data_dir: Path) -> dict[str, object]:
    key = str(data_dir)
    hit = _cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < _CACHE_S:
        return hit[1]
    out: dict[str, object] = {"battery_percent": None, "charging": None, "free_disk_bytes": None}
    with contextlib.suppress(OSError):
        p = read_power()
        out["battery_percent"], out["charging"] = p.battery_percent, p.charging
    with contextlib.suppress(OSError, HardwareError):  # statvfs failures arrive as HardwareError
        out["free_disk_bytes"] = free_bytes(data_dir)
    _cache[key] = (time.monotonic(), out)
    return out
