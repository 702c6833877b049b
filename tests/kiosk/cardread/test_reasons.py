"""kiosk.cardread.reasons: the codes (their texts in the kiosk's catalogues), the rule for an
unread back, and the integrity policy's decision (the counts are the analyser's:
tests/kiosk/test_analysis.py)."""

from __future__ import annotations

import pytest

from kiosk import i18n
from kiosk.cardread import credential
from kiosk.cardread import reasons as R
from kiosk.i18n import Msg, lookup
from kiosk.vision.integrity import IntegrityResult


@pytest.fixture(autouse=True)
def _spanish() -> object:
    yield
    i18n.set_language("es")


def test_every_code_has_its_text_in_both_catalogues_and_credential_shares_the_codes() -> None:
    assert credential.Notice is R.Notice and R.CODES >= R.RETRY | R.UNREAD
    for code in R.CODES:
        for lang in i18n.LANGUAGES:
            assert lookup(R.msg_code(code), lang), (code, lang)
    assert R.Notice("sin_qr").msg_code == "card.sin_qr"


def test_the_old_codes_keep_their_texts_in_spanish_and_read_in_english() -> None:
    said = {c: i18n.render(Msg(R.msg_code(c))) for c in ("sin_qr", "qr_ilegible", "es_frente", "es_reverso")}
    assert said == {
        "sin_qr": "Sólo será posible captar las credenciales que cuenten al reverso con código QR",
        "qr_ilegible": "No se pudo leer el código QR: tome otra foto del reverso",
        "es_frente": "Voltee la credencial: muestre el reverso",
        "es_reverso": "Voltee la credencial: muestre el frente",
    }
    i18n.set_language("en")
    assert i18n.render(Msg(R.Notice("es_frente").msg_code)) == "Turn the card over: show the back"


def test_ines_sentence_only_for_a_sharp_back_with_no_codes() -> None:
    def rule(**kw: object) -> str:
        args: dict[str, object] = {"card_seen": True, "mrz_band": False, "qr_seen": False,
                                   "side": "reverso", "blurred": False, **kw}
        return R.unread_back_code(**args)  # type: ignore[arg-type]

    assert rule() == "sin_qr"
    assert rule(blurred=True) == "borrosa"                    # a blurred QR back is never sin_qr
    assert rule(mrz_band=True) == "qr_ilegible" and rule(qr_seen=True) == "qr_ilegible"
    assert rule(mrz_band=True, blurred=True) == "borrosa"
    assert rule(side="anverso") == rule(side="anverso", blurred=True) == "es_frente"
    assert rule(side="?") == "reverso_no_reconocido"
    assert rule(card_seen=False) == "sin_credencial"


def _result(verdict: str, **scores: float) -> IntegrityResult:
    return IntegrityResult(verdict, "", dict(scores))


def test_integrity_policy_one_retake_then_saved_unless_beyond_doubt() -> None:
    ok = _result("ok", chroma_spread=9.0, periodic_peak=1.2)
    doubtful = _result("photocopy", chroma_spread=2.2, periodic_peak=1.0)   # a dim genuine card can
    toner = _result("photocopy", chroma_spread=0.0, periodic_peak=1.0)
    screen = _result("screen", chroma_spread=12.0, periodic_peak=5.9)
    faint_print = _result("print", chroma_spread=13.0, periodic_peak=4.1)
    assert R.integrity_action(ok, 1) == R.integrity_action(None, 0) == R.ACCEPT
    assert R.integrity_action(doubtful, 1) == R.integrity_action(toner, 1) == R.RETAKE
    assert R.integrity_action(doubtful, 0) == R.integrity_action(faint_print, 0) == R.SAVE_FLAGGED
    assert R.integrity_action(toner, 0) == R.integrity_action(screen, 0) == R.REFUSE
    assert [R.retake_code(r) for r in (toner, screen, faint_print)] == [
        "parece_fotocopia", "parece_pantalla", "parece_impresion"]
