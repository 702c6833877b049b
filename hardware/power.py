"""Battery and mains state from ``/sys/class/power_supply``.

Each entry there is a directory with a ``type`` (Battery, Mains, USB, UPS,
...) and attributes such as ``online``, ``present``, ``capacity`` (0-100),
``status`` (Charging, Discharging, Full, Not charging, Unknown) or, on some
UPS/battery HATs, ``energy_now``/``energy_full`` or ``charge_now``/
``charge_full`` instead of ``capacity``. Batteries of peripherals (a
wireless stylus or mouse: ``scope`` = Device) are ignored. Anything the
kernel does not report is ``None``: a Pi on a wall supply with no battery
HAT has no entries at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SYSFS = "sys/class/power_supply"
_EXTERNAL = {"Mains", "USB", "USB_C", "USB_PD", "USB_DCP", "USB_CDP", "USB_ACA", "Wireless"}


@dataclass(frozen=True)
class BatteryStatus:
    name: str
    percent: float | None
    status: str | None  # the kernel's word: Charging, Discharging, Full, ...


@dataclass(frozen=True)
class PowerStatus:
    battery_percent: float | None  # mean over system batteries, None if there are none
    charging: bool | None  # a battery is charging (None: no battery)
    on_ac: bool | None  # external power present (None: cannot tell)
    batteries: tuple[BatteryStatus, ...] = ()

    @property
    def has_battery(self) -> bool:
        return bool(self.batteries)


def _attr(d: Path, name: str) -> str | None:
    try:
        return (d / name).read_text().strip() or None
    except OSError:
        return None


def _num(d: Path, name: str) -> float | None:
    text = _attr(d, name)
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _percent(d: Path) -> float | None:
    cap = _num(d, "capacity")
    if cap is None:
        for now, full in (("energy_now", "energy_full"), ("charge_now", "charge_full")):
            n, f = _num(d, now), _num(d, full)
            if n is not None and f:
                cap = 100.0 * n / f
                break
    return None if cap is None else max(0.0, min(100.0, cap))


def read_power(root: Path | str = "/") -> PowerStatus:
    base = Path(root) / SYSFS
    try:
        entries = sorted(p for p in base.iterdir() if p.is_dir())
    except OSError:
        entries = []
    batteries: list[BatteryStatus] = []
    external: list[bool] = []
    for d in entries:
        kind = _attr(d, "type")
        if _attr(d, "scope") == "Device":
            continue
        if kind in ("Battery", "UPS"):
            if _attr(d, "present") == "0":
                continue
            batteries.append(BatteryStatus(d.name, _percent(d), _attr(d, "status")))
        elif kind in _EXTERNAL:
            online = _attr(d, "online")
            if online is not None:
                external.append(online == "1")
    percents = [b.percent for b in batteries if b.percent is not None]
    statuses = {b.status for b in batteries}
    charging = None if not batteries else "Charging" in statuses
    if external:
        on_ac: bool | None = any(external)
    elif statuses & {"Charging", "Full", "Not charging"}:
        on_ac = True
    elif "Discharging" in statuses:
        on_ac = False
    else:
        on_ac = None
    return PowerStatus(
        battery_percent=round(sum(percents) / len(percents), 1) if percents else None,
        charging=charging,
        on_ac=on_ac,
        batteries=tuple(batteries),
    )
