"""Device identity from a fake root tree (file I/O, no hardware)."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from hardware.errors import HardwareError
from hardware.identity import APP_ID, app_specific_id, device_identity, pi_serial

CPUINFO_PI4 = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41

Hardware\t: BCM2835
Revision\t: c03115
Serial\t\t: 10000000a1b2c3d4
Model\t\t: Raspberry Pi 4 Model B Rev 1.5
"""
MACHINE_ID = "0123456789abcdef0123456789abcdef"


def put(root: Path, rel: str, data: str | bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)


def test_pi_serial_from_cpuinfo(tmp_path: Path) -> None:
    put(tmp_path, "proc/cpuinfo", CPUINFO_PI4)
    put(tmp_path, "sys/firmware/devicetree/base/model", b"Raspberry Pi 4 Model B Rev 1.5\x00")
    put(tmp_path, "etc/machine-id", MACHINE_ID + "\n")
    ident = device_identity(tmp_path)
    assert ident.device_id == "pi-10000000a1b2c3d4"
    assert ident.source == "cpuinfo"
    assert ident.model == "Raspberry Pi 4 Model B Rev 1.5"


def test_pi_serial_from_devicetree_when_cpuinfo_has_none(tmp_path: Path) -> None:
    put(tmp_path, "proc/cpuinfo", "processor\t: 0\nSerial\t\t: 0000000000000000\n")
    put(tmp_path, "sys/firmware/devicetree/base/serial-number", b"00000000e5f6a7b8\x00")
    assert pi_serial(tmp_path) == ("00000000e5f6a7b8", "devicetree")
    assert device_identity(tmp_path).device_id == "pi-00000000e5f6a7b8"


def test_machine_id_is_never_exposed_raw(tmp_path: Path) -> None:
    put(tmp_path, "proc/cpuinfo", "processor\t: 0\nmodel name\t: Intel(R) Core(TM)\n")
    put(tmp_path, "etc/machine-id", MACHINE_ID + "\n")
    ident = device_identity(tmp_path)
    assert ident.source == "machine-id"
    assert ident.device_id.startswith("mid-") and len(ident.device_id) == 36
    assert MACHINE_ID not in ident.device_id
    # sd_id128_get_machine_app_specific: HMAC-SHA256(key=machine id, msg=app id), UUIDv4 bits set.
    digest = hmac.new(bytes.fromhex(MACHINE_ID), APP_ID.bytes, hashlib.sha256).digest()[:16]
    derived = bytes.fromhex(app_specific_id(MACHINE_ID))
    assert derived[6] == (digest[6] & 0x0F) | 0x40 and derived[8] == (digest[8] & 0x3F) | 0x80
    assert derived[:6] == digest[:6]
    assert device_identity(tmp_path) == ident  # stable


def test_dbus_machine_id_fallback(tmp_path: Path) -> None:
    put(tmp_path, "var/lib/dbus/machine-id", MACHINE_ID)
    assert device_identity(tmp_path).source == "machine-id"


def test_no_identity_is_a_spanish_error(tmp_path: Path) -> None:
    put(tmp_path, "etc/machine-id", "uninitialized\n")
    with pytest.raises(HardwareError) as exc:
        device_identity(tmp_path)
    assert exc.value.code == "no_identity"
    assert exc.value.message.startswith("No se pudo leer la identidad")


def test_this_machine_has_an_identity() -> None:
    ident = device_identity()
    assert ident.device_id.startswith(("pi-", "mid-"))
