"""Device identity: the Raspberry Pi's serial number, else the machine id.

``device_identity(root)`` reads, under ``root`` (``/`` on a device, a
temporary tree in tests):

1. ``proc/cpuinfo``'s ``Serial`` line (Raspberry Pi OS, all models);
2. ``sys/firmware/devicetree/base/serial-number`` (newer kernels/Pi 5);
3. ``etc/machine-id`` (or ``var/lib/dbus/machine-id``) on other machines.

A machine id is private to the installation (systemd's docs ask that it not
be exposed), so it is never returned as is: the id is derived from it with
HMAC-SHA256 keyed by the machine id over an application id, the scheme of
``sd_id128_get_machine_app_specific``. The Pi serial is printed on nothing
secret and is what coordinators see in ``vcgencmd``/``cpuinfo``, so it is
used directly.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from hardware.errors import HardwareError

APP_ID = uuid.UUID("5f3c8a52-3f0e-4c8e-9a55-6b8d2e0f4a71")  # Apoyo field kit

_SERIAL_RE = re.compile(r"^Serial\s*:\s*([0-9a-fA-F]+)\s*$", re.MULTILINE)
_MACHINE_ID_RE = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class DeviceIdentity:
    device_id: str  # "pi-<serial>" or "mid-<32 hex>"
    source: str  # "cpuinfo", "devicetree" or "machine-id"
    model: str | None  # e.g. "Raspberry Pi 4 Model B Rev 1.5"


def _read(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("ascii", "replace")
    except OSError:
        return None


def _valid_serial(text: str | None) -> str | None:
    if not text:
        return None
    serial = text.strip("\x00 \n\t").lower()
    if not re.fullmatch(r"[0-9a-f]{8,32}", serial) or set(serial) == {"0"}:
        return None
    return serial[-16:].rjust(16, "0")


def pi_serial(root: Path | str = "/") -> tuple[str, str] | None:
    """(serial, source) of a Raspberry Pi, or None on other hardware."""
    root = Path(root)
    cpuinfo = _read(root / "proc/cpuinfo")
    if cpuinfo:
        m = _SERIAL_RE.search(cpuinfo)
        serial = _valid_serial(m.group(1) if m else None)
        if serial:
            return serial, "cpuinfo"
    serial = _valid_serial(_read(root / "sys/firmware/devicetree/base/serial-number"))
    if serial:
        return serial, "devicetree"
    return None


def app_specific_id(machine_id: str, app_id: uuid.UUID = APP_ID) -> str:
    """32 hex digits derived from the machine id, as sd_id128_get_machine_app_specific does."""
    digest = hmac.new(bytes.fromhex(machine_id), app_id.bytes, hashlib.sha256).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4)).replace("-", "")


def machine_id(root: Path | str = "/") -> str | None:
    root = Path(root)
    for rel in ("etc/machine-id", "var/lib/dbus/machine-id"):
        text = (_read(root / rel) or "").strip().lower()
        if _MACHINE_ID_RE.fullmatch(text) and set(text) != {"0"}:
            return text
    return None


def device_model(root: Path | str = "/") -> str | None:
    root = Path(root)
    for rel in ("sys/firmware/devicetree/base/model", "proc/device-tree/model"):
        text = (_read(root / rel) or "").strip("\x00 \n")
        if text:
            return text
    return None


def device_identity(root: Path | str = "/") -> DeviceIdentity:
    """This device's stable id; raises HardwareError(code="no_identity") if none can be read."""
    model = device_model(root)
    found = pi_serial(root)
    if found:
        serial, source = found
        return DeviceIdentity(f"pi-{serial}", source, model)
    mid = machine_id(root)
    if mid:
        return DeviceIdentity(f"mid-{app_specific_id(mid)}", "machine-id", model)
    raise HardwareError(
        "no_identity",
        "No se pudo leer la identidad de este equipo (número de serie o machine-id).",
        f"no serial or machine-id under {root}",
    )
