"""Battery and mains state from a fake /sys/class/power_supply tree."""

from __future__ import annotations

from pathlib import Path

from hardware.power import read_power


def supply(root: Path, name: str, **attrs: object) -> None:
    d = root / "sys/class/power_supply" / name
    d.mkdir(parents=True)
    for key, value in attrs.items():
        (d / key).write_text(f"{value}\n")


def test_no_power_supply_directory(tmp_path: Path) -> None:
    st = read_power(tmp_path)
    assert (st.battery_percent, st.charging, st.on_ac, st.has_battery) == (None, None, None, False)


def test_laptop_charging_on_ac(tmp_path: Path) -> None:
    supply(tmp_path, "AC", type="Mains", online=1)
    supply(tmp_path, "BAT0", type="Battery", present=1, capacity=57, status="Charging")
    st = read_power(tmp_path)
    assert st.battery_percent == 57 and st.charging is True and st.on_ac is True
    assert st.batteries[0].name == "BAT0" and st.batteries[0].status == "Charging"


def test_on_battery(tmp_path: Path) -> None:
    supply(tmp_path, "AC", type="Mains", online=0)
    supply(tmp_path, "BAT0", type="Battery", capacity=12, status="Discharging")
    st = read_power(tmp_path)
    assert st.battery_percent == 12 and st.charging is False and st.on_ac is False


def test_ups_hat_with_energy_counters_and_no_mains_entry(tmp_path: Path) -> None:
    supply(tmp_path, "ups-hat", type="Battery", energy_now=30000000, energy_full=40000000, status="Full")
    st = read_power(tmp_path)
    assert st.battery_percent == 75.0 and st.charging is False and st.on_ac is True


def test_charge_counters_and_two_batteries(tmp_path: Path) -> None:
    supply(tmp_path, "BAT0", type="Battery", charge_now=1000, charge_full=4000, status="Discharging")
    supply(tmp_path, "BAT1", type="Battery", capacity=75, status="Discharging")
    st = read_power(tmp_path)
    assert st.battery_percent == 50.0 and st.on_ac is False and len(st.batteries) == 2


def test_peripheral_and_absent_batteries_are_ignored(tmp_path: Path) -> None:
    supply(tmp_path, "hid-stylus-battery", type="Battery", scope="Device", capacity=5, status="Discharging")
    supply(tmp_path, "BAT1", type="Battery", present=0)
    supply(tmp_path, "usb", type="USB", online=1)
    st = read_power(tmp_path)
    assert st.batteries == () and st.battery_percent is None and st.charging is None and st.on_ac is True


def test_garbage_values_do_not_crash(tmp_path: Path) -> None:
    supply(tmp_path, "BAT0", type="Battery", capacity="n/a", status="Unknown")
    st = read_power(tmp_path)
    assert st.battery_percent is None and st.on_ac is None and st.has_battery


def test_this_machine() -> None:
    st = read_power()
    assert st.battery_percent is None or 0 <= st.battery_percent <= 100
