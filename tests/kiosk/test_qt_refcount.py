"""The PySide6 in use must not lose references when a signal is emitted.

With PySide6-Essentials 6.12.0 every Signal.emit() lowers True's refcount by one (the
True it returns is, it seems, not counted), and once it reaches zero CPython aborts
("bool_dealloc: deallocating True or False"). The kiosk emits from every background
job (about 18 a second while capturing), so it died at exit after ten captures and
would have died mid-shift. pyproject.toml excludes that release; this test catches
any other release with the same fault, measuring (not crashing) with a few hundred emits.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Sender(QObject):
    ping = Signal(int)
    data = Signal(object)


def test_emit_keeps_the_refcounts_of_true_and_of_its_arguments() -> None:
    s = _Sender()
    got: list[object] = []
    s.data.connect(got.append)
    payload = object()
    s.ping.emit(0)  # first use: whatever PySide caches on its first emit is not a loss
    s.data.emit(payload)
    got.clear()
    true_before, payload_before = sys.getrefcount(True), sys.getrefcount(payload)
    for k in range(300):
        s.ping.emit(k)
        s.data.emit(payload)
    got.clear()
    # A fault loses one reference per emit (-600 here); allow a few for unrelated caches.
    assert abs(sys.getrefcount(True) - true_before) < 10, (true_before, sys.getrefcount(True))
    assert sys.getrefcount(payload) == payload_before
