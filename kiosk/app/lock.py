"""The lock controller: who may sign in, the PIN check off the UI thread, lockout countdowns, the
coordinator's PIN screen.

Owned by `kiosk.app.window.KioskWindow`; it talks to the window through `Shell` and to the lock
screen through `LockView`. The PIN hash is checked on a worker; the flow then asks `verify`, which
answers with that verdict (the flow stays pure and synchronous).
"""

from __future__ import annotations

import time

from kiosk.app.services import auxiliaries, coordinators
from kiosk.app.shell import LockView, Shell
from sync.common.pin import verify_pin


class LockController:
    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.view: LockView | None = None
        self.coordinator_pin = False  # the lock screen asks for a coordinator's PIN
        self._verdict = False

    def verify(self, _aux: str, _pin: str) -> bool:
        return self._verdict  # computed off the UI thread just before `flow.unlock`

    def people(self, coordinator: bool) -> list[tuple[str, str, str]]:
        """(id, name, pin hash) of the config's coordinators, or of its auxiliaries who capture."""
        cfg = self.shell.sv.config
        found = (coordinators(cfg) if coordinator else auxiliaries(cfg)) if cfg else []
        return [(a.id, a.name, a.pin_hash) for a in found]

    def try_unlock(self, aux_id: str, name: str, pin: str) -> None:
        sh = self.shell
        coordinator = self.coordinator_pin
        stored = next((h for i, _n, h in self.people(coordinator) if i == aux_id), "")

        def done(ok: bool) -> None:
            if sh.flow.step not in sh.flow.unlock_from:  # LOCKED, HOME; a self-service start
                return
            self._verdict = ok
            unlocked = sh.flow.unlock(aux_id, name, pin, time.monotonic(), coordinator=coordinator)
            self._verdict = False
            if unlocked:
                self.coordinator_pin = False
                if not coordinator:
                    sh.camera(True)
            else:
                sh.show_notice()
                self.tick()

        if sh.flow.lockout_remaining(aux_id, time.monotonic()) > 0:
            done(False)
        else:
            sh.jobs.run(lambda: bool(stored) and verify_pin(pin, stored), done)

    def toggle_coordinator_pin(self) -> None:
        self.coordinator_pin = not self.coordinator_pin
        self.shell.flow.notice = None  # another screen: the last one's notice is not about it
        self.shell.rebuild()

    def back_home(self) -> None:
        self.coordinator_pin = False
        self.shell.flow.notice = None
        self.shell.rebuild()

    def sign_out(self) -> None:
        self.coordinator_pin = False
        self.shell.flow.lock()

    def tick(self) -> None:
        """Once a second: idle lock, and the selected person's lockout countdown."""
        now = time.monotonic()
        if self.shell.flow.tick(now):
            self.shell.show_notice()
        view = self.view
        if view is not None and view.selected:
            view.set_lockout(self.shell.flow.lockout_remaining(view.selected[0], now))
