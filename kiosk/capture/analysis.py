"""What the kiosk's capture screens ask of vision, with no Qt: the front/back card analyser and
the answers both analysers give (the selfie's is `kiosk.capture.selfie`). Called on worker
threads only.

Both answer with messages (`sync.common.msg.Msg`: a catalogue code and its arguments), never
sentences; the screen renders them (kiosk.i18n). The card analyser reads through the one
reading path (`kiosk.cardread.reading`, `kiosk.cardread.credential.read_back`) and answers with
the reasons of `kiosk.cardread.reasons` (`card.<code>`) and the frame verdict's
(`quality.<reason>`). It keeps the counts the integrity policy needs (written in
`kiosk.cardread.reasons`' docstring and docs/integrity.md): one guided retake per capture for a
support judged not original, then saved with the failed check (or refused when beyond doubt);
looks that do not read end the capture after `MAX_UNREAD_LOOKS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from kiosk.capture.save import read_front
from kiosk.cardread import reasons as R
from kiosk.cardread.credential import BackReading, read_back, read_view
from kiosk.cardread.reading import (
    BACK,
    PATH_OUTLINE,
    band_view,
    front_view,
    segmentation_distance,
    shown_side,
    side_cues,
)
from kiosk.i18n import render
from kiosk.mrz.reader import read_mrz
from kiosk.vision.card import CardFind, find_card
from kiosk.vision.card_agree import AGREE
from kiosk.vision.integrity import IntegrityResult, check_integrity
from kiosk.vision.quality import CaptureTracker, FrameVerdict
from sync.common.msg import Msg
from sync.device.config import DeviceConfig

NO_PORTRAIT_LOOKS = 3      # steady looks at a front with no portrait found before it is taken anyway
UNCONFIRMED_LOOKS = 3      # steady looks at a back read on an unconfirmed outline before it is taken
BAND_EVERY = 5             # back, no outline: look for the MRZ band in every 5th frame


def capture_find(image: np.ndarray, preview: CardFind) -> CardFind:
    """The outline to read at capture: the finder in full on the still (with its alternatives
    and the portrait check between rivals), or the preview's when that finds nothing."""
    full = find_card(image)
    return full if full is not None and not full.touches_border else preview


# -- what the analysers answer ----------------------------------------------------------------
@dataclass
class Guidance:
    """What the screen shows while it looks: a message, the card's outline, whether all is well."""

    msg: Msg
    quad: np.ndarray | None = None
    good: bool = False
    # Selfie only: the challenge asked (once the person's frontal pose is learnt), and the
    # liveness state: "pending", "passed", "failed" (timed out) or "unavailable" (no models).
    prompt: Msg | None = None
    liveness: str = ""
    # Whom `msg` speaks to: the selfie's guidance speaks to the citizen ("usted").
    register: str = "auxiliar"

    @property
    def code(self) -> str:
        return self.msg.code

    @property
    def text(self) -> str:
        """`msg` rendered in the chosen language (for logs, tests and the window's call)."""
        return render(self.msg, self.register)

    @property
    def challenge(self) -> str:
        """The prompt rendered for the citizen; "" while none is asked."""
        return "" if self.prompt is None else render(self.prompt, "ciudadano")


@dataclass
class Captured:
    image: np.ndarray
    reading: Any = None
    # Checks of `image` the save would otherwise recompute on the UI's save path: the back's
    # IntegrityResult, the selfie's SelfieQuality.
    measured: Any = None


@dataclass
class Refused:
    """The capture ends: why (a `card.*` message)."""

    reason: Msg

    @property
    def code(self) -> str:
        return self.reason.code

    @property
    def text(self) -> str:
        return render(self.reason)


def _guide(code: str, quad: np.ndarray | None = None, good: bool = False) -> Guidance:
    return Guidance(Msg(R.msg_code(code)), quad, good)


def _refuse(code: str) -> Refused:
    return Refused(Msg(R.msg_code(code)))


@dataclass
class RetakeBudget:
    """The guided retakes left to one capture (the draft holds it across steps)."""

    left: int = R.RETAKES


class CardAnalyser:
    """Front or back: steady-and-good tracking, then the side's reading. Worker thread only.

    `retakes`: guided retakes left for a support judged not original. The policy allows one
    per capture: pass the capture's `RetakeBudget` (front and back, and a front taken again,
    share it); an int gives this analyser a budget of its own.
    """

    def __init__(self, side: str, now_year: int, cfg: DeviceConfig | None, process_id: str,
                 retakes: int | RetakeBudget = R.RETAKES) -> None:
        self.side, self.now_year, self.cfg, self.process_id = side, now_year, cfg, process_id
        self.tracker = CaptureTracker()
        self.budget = retakes if isinstance(retakes, RetakeBudget) else RetakeBudget(retakes)
        self.no_qr = 0           # steady looks refused with INE's "sin QR"
        self.unread = 0          # steady looks at a back that did not read
        self.no_portrait = 0     # steady looks at a front with no portrait found
        self.unconfirmed = 0     # steady looks at a back read on an unconfirmed outline
        self.lost = 0            # frames in a row with no whole outline
        self.band_seen: tuple[str, ...] | None = None   # the last look's MRZ read from the band

    @property
    def retakes_left(self) -> int:
        return self.budget.left

    @retakes_left.setter
    def retakes_left(self, n: int) -> None:
        self.budget.left = n

    def __call__(self, image: np.ndarray, _t: float, force: bool = False) -> Guidance | Captured | Refused:
        v = self.tracker.update(image)
        if v.find is None or v.find.touches_border:
            self.lost += 1
            if self.side == "back" and (force or self.lost % BAND_EVERY == 0):
                got = self._band(image, force)
                if got is not None:
                    return got
        else:
            self.lost = 0
        if v.find is None or not (v.steady or (force and not v.find.touches_border)):
            quad = None if v.find is None else v.find.corners
            if v.quality.ok:
                return _guide("mantenga_firme", quad, True)
            return Guidance(Msg(v.quality.code), quad)
        if self.side == "front":
            return self._front(image, v, force)
        return self._back(image, v, force)

    # -- front ---------------------------------------------------------------------------------
    def _front(self, image: np.ndarray, v: FrameVerdict, force: bool) -> Guidance | Captured | Refused:
        assert v.find is not None
        # The preview's outline was found cheaply; at capture the finder runs in full (rival
        # outlines settled by the portrait) and its views are tried until one shows the portrait:
        # a wrong outline is not straightened into the record while a right one is at hand.
        fv = front_view(image, capture_find(image, v.find), located=True)
        if fv is None:
            self.tracker.reset()
            return _guide("sin_credencial")
        crop = fv.card
        fr = read_front(crop)
        if fr.photo is None:
            if shown_side(side_cues(crop), mrz_band=read_mrz(crop) is not None) == BACK:
                self.tracker.reset()
                return _guide("es_reverso", v.find.corners)
            self.no_portrait += 1
            # A real portrait the detector misses must not block the citizen: on the shutter, or
            # after a few steady looks, the front is taken and the auxiliary compares it by eye;
            # but not by itself on an outline the card's segmentation does not confirm.
            if not force and self.no_portrait < NO_PORTRAIT_LOOKS:
                self.tracker.reset()
                return _guide("muestre_frente", v.find.corners)
            unconfirmed = fv.view.path == PATH_OUTLINE and segmentation_distance(image, fv.view.find) > AGREE
            if not force and unconfirmed:
                self.tracker.reset()
                return _guide("acomode_credencial", v.find.corners)
        elif not fv.in_place and not force:
            # The portrait is there but the outline is not trusted (the portrait out of its
            # place on the crop, or the card's segmentation disagrees with the outline): it is
            # not straightened into the record unasked. Look again; the shutter takes it (the
            # review screen shows the crop).
            self.tracker.reset()
            return _guide("acomode_credencial", v.find.corners)
        return self._integrity(fr.integrity, v, lambda: Captured(crop, fr))

    # -- back ----------------------------------------------------------------------------------
    def _scope(self) -> tuple[Any, Any]:
        if self.cfg is None:
            return None, None
        if not self.process_id:  # a self-service activation: no process chosen yet
            return None, self.cfg.seccion_table()
        return self.cfg.process(self.process_id).scope, self.cfg.seccion_table()

    def _band(self, image: np.ndarray, force: bool) -> Guidance | Captured | Refused | None:
        """No whole outline: the card as the MRZ band implies it, taken only if it reads, and
        (there is no steadiness to wait for without an outline) reads the same on two looks
        in a row, unless the shutter was pressed."""
        view = band_view(image)
        if view is None:
            self.band_seen = None
            return None
        scope, secciones = self._scope()
        r = read_view(image, view, now_year=self.now_year, secciones=secciones, scope=scope)
        if not r.accepted or r.mrz is None:
            self.band_seen = None
            return None
        agreed = force or self.band_seen == r.mrz.lines
        self.band_seen = r.mrz.lines
        return self._accepted(r, None) if agreed else _guide("mantenga_firme")

    def _back(self, image: np.ndarray, v: FrameVerdict, force: bool = False) -> Guidance | Captured | Refused:
        assert v.find is not None
        scope, secciones = self._scope()
        r = read_back(image, now_year=self.now_year, secciones=secciones, scope=scope,
                      find=capture_find(image, v.find))
        if r.accepted and not r.trusted and not force:
            # The codes read on an outline the card's segmentation does not confirm: a few more
            # looks for a confirmed one (or the MRZ band); then it is taken, and the record says
            # so (`contorno_sin_confirmar`): the data are sound, the picture may be a near miss.
            self.unconfirmed += 1
            if self.unconfirmed < UNCONFIRMED_LOOKS:
                self.tracker.reset()
                return _guide("acomode_credencial", v.find.corners)
        if r.accepted:
            return self._accepted(r, v)
        assert r.refusal is not None
        code = r.refusal.code
        quad = v.find.corners
        self.tracker.reset()
        if code == "sin_qr":
            # INE's refusal only on a second steady look, never on one frame; other looks in
            # between (the front shown again, a blurred one) do not undo the first.
            self.no_qr += 1
            return _refuse(code) if self.no_qr >= 2 else _guide("revisando", quad)
        if code not in R.RETRY:
            return _guide(code, quad)   # es_frente: turn it over
        if code in R.UNREAD:
            self.unread += 1
        integ = check_integrity(r.card) if r.card is not None else None
        suspect = integ is not None and not integ.passed
        if suspect and self.retakes_left > 0:
            self.retakes_left -= 1
            return _guide(R.retake_code(integ), quad)
        if self.unread >= R.MAX_UNREAD_LOOKS:
            return _refuse("copia_ilegible" if suspect else "sin_lectura")
        return _guide(code, quad)

    def _accepted(self, r: BackReading, v: FrameVerdict | None) -> Guidance | Captured | Refused:
        if any(f.code == "vencida" for f in r.flags):
            return _refuse("credencial_vencida")
        card = r.card
        assert card is not None
        integ = check_integrity(card)
        return self._integrity(integ, v, lambda: Captured(card, r, integ))

    # -- the integrity policy (kiosk.cardread.reasons) ----------------------------------------------
    def _integrity(self, integ: IntegrityResult | None, v: FrameVerdict | None,
                   take: Callable[[], Captured]) -> Guidance | Captured | Refused:
        action = R.integrity_action(integ, self.retakes_left)
        if action == R.RETAKE:
            assert integ is not None
            self.retakes_left -= 1
            self.tracker.reset()
            return _guide(R.retake_code(integ), None if v is None or v.find is None else v.find.corners)
        if action == R.REFUSE:
            return _refuse("no_original")
        return take()
