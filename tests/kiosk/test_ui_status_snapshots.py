"""Home's status snapshots (kiosk/app/home.py refresh_status) on a real window and device: one at
a time, the ones asked for meanwhile coalesced into one more, so a slow snapshot read before a
later one can never overwrite it (the folio's "sent" going back to "se enviará")."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from kiosk.capture.flow import Step
from tests.helpers.ui import find, make_window, offline_device, unlock


def test_a_slow_snapshot_never_overwrites_a_newer_one(qtbot: Any, tmp_path: Path) -> None:
    release = threading.Event()
    calls: list[int] = []

    def status() -> dict[str, Any]:
        """The agent's status over the local channel: the first answer is slow and offline."""
        calls.append(len(calls) + 1)
        n = len(calls)
        if n == 1:
            release.wait(30)
            return {"connection": "offline", "snapshot": n}
        return {"connection": "online", "snapshot": n}

    w = make_window(qtbot, offline_device(tmp_path / "dev"), None, status=status)
    try:
        w.status_timer.stop()  # the refreshes are asked for here, not every 5 s
        qtbot.waitUntil(lambda: len(calls) == 1, timeout=10000)  # the window's first snapshot
        unlock(qtbot, w)                  # home asks for one; so do these
        for _ in range(3):
            w.home.refresh_status()
        qtbot.wait(300)                   # room for a second snapshot to start, were it allowed
        assert calls == [1]
        # A save ends on the folio screen with a folio the server already acknowledged (no
        # longer in the outbox): the snapshot taken there says "sent".
        w.flow.step = Step.SAVING
        w.flow.saved("FK-0001-AAAA")
        assert w.flow.step == Step.FOLIO and calls == [1]
        sending = find(w.screen, "sending")
        release.set()
        qtbot.waitUntil(lambda: sending.property("state") == "sent", timeout=10000)
        # Everything asked for while the first was out ran as one more snapshot, the newest.
        qtbot.waitUntil(lambda: not w.home.refreshing and w.jobs.busy() == 0, timeout=10000)
        assert calls == [1, 2] and w.home.status_data["snapshot"] == 2
        assert sending.property("state") == "sent" and "Enviado al servidor" in sending.text()
    finally:
        release.set()
        w.close_services()
