"""Builds the self-service steps' screens (`kiosk.ui.citizen`) and connects them to the citizen
controller; `kiosk.app.screens.ScreenFactory` hands these steps here. The capture steps a
citizen shares with the auxiliary are built there, in the citizen's words."""

from __future__ import annotations

from typing import Protocol

from kiosk.app.capture import CaptureController
from kiosk.app.citizen import CitizenController
from kiosk.app.home import HomeController
from kiosk.app.shell import Built, Shell
from kiosk.capture.flow import Step
from kiosk.ui.capture import CaptureScreen
from kiosk.ui.citizen import ActivationSentScreen, CitizenStartScreen, CodeEntryScreen, ProcessChoiceScreen
from kiosk.ui.done import BusyScreen
from kiosk.ui.sign import EmailScreen
from kiosk.ui.texts import CITIZEN_TITLES
from kiosk.ui.theme import N_, citizen_style

STEPS = frozenset({Step.CITIZEN_START, Step.ACT_BACK, Step.ACT_EMAIL, Step.ACT_SENDING, Step.ACT_SENT,
                   Step.CODE_ENTRY, Step.CITIZEN_PROCESS})


class WithCitizen(Shell, Protocol):
    """The window as these builders see it."""

    capture: CaptureController
    home: HomeController
    citizen: CitizenController | None


class CitizenScreens:
    def __init__(self, win: WithCitizen) -> None:
        self.win = win

    @property
    def ctl(self) -> CitizenController:
        ctl = self.win.citizen
        assert ctl is not None  # these steps exist only in a self-service flow
        return ctl

    def build(self, step: Step) -> Built:
        built: Built = getattr(self, f"_{step.value}")()
        return built

    def _citizen_start(self) -> Built:
        s = CitizenStartScreen()
        s.request_code.connect(self.ctl.request_code)
        s.have_code.connect(self.ctl.have_code)
        s.coordinator.connect(self.win.home.open_coordinator)
        return Built(s, s.notice)

    def _act_back(self) -> Built:
        """The back of the card, read as a capture's back is (the same analyser and refusals)."""
        w, cap = self.win, self.win.capture
        s = CaptureScreen("back", CITIZEN_TITLES["act_back"], citizen=True)
        citizen_style(s)
        s.shutter.connect(cap.shutter)
        s.cancel.connect(w.flow.cancel)
        cap.view = s
        return Built(s, s.notice)

    def _act_email(self) -> Built:
        # Not zoomed: at 800x480 the keyboard's five rows take all the room there is.
        s = EmailScreen(citizen=True)
        s.done.connect(self.ctl.email)
        s.cancel.connect(self.win.flow.cancel)
        return Built(s, s.notice)

    def _act_sending(self) -> Built:
        s = BusyScreen(N_("Pidiendo su código…"))
        citizen_style(s)
        return Built(s)

    def _act_sent(self) -> Built:
        w = self.win
        n = w.flow.notice
        s = ActivationSentScreen(n.text if n else "")
        s.have_code.connect(self.ctl.have_code)
        s.finish.connect(w.flow.finish)
        return Built(s)  # the flow's notice is the screen's text

    def _code_entry(self) -> Built:
        s = CodeEntryScreen()
        s.done.connect(self.ctl.code)
        s.cancel.connect(self.win.flow.cancel)
        return Built(s, s.notice)

    def _citizen_process(self) -> Built:
        flow = self.ctl.flow
        s = ProcessChoiceScreen([(p.id, p.name, p.aspirant_name) for p in flow.offered])
        s.chosen.connect(self.ctl.choose)
        s.cancel.connect(flow.cancel)
        return Built(s, s.notice)
