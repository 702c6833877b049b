"""`fieldkit-kiosk capture`: save one record from files, through the same code path as "Guardar".

    fieldkit-kiosk capture --front F --back B --selfie S --signature SIG.json --process P
        [--selfie-frames DIR] [--allow-no-liveness] [--email E] [--aspirant A] [--auxiliary X]
        [--config C] [--json]

For testers and QA automation: runs the kiosk's vision on the files (card
finding and straightening, the back's QR/MRZ reading and checks, the printed
portrait and integrity on the front, selfie quality; the liveness challenge on
`--selfie-frames` when given, otherwise recorded as not performed), then
`kiosk.capture.save.save_draft` — exactly what the Guardar button calls — and prints
the folio. A refusal (no QR, IFE model, expired, unreadable) is printed in
Spanish with exit 1 and nothing is stored. Running the command states that the
citizen gave express consent (it is recorded as such).

The kiosk's «Guardar» rule holds here too: a support whose liveness did not pass (or was not
performed: no `--selfie-frames`) would not count, so it is refused, unless
`--allow-no-liveness` (testers producing such records on purpose; the JSON says `counts: false`).

Images go through the kiosk's own reading path (`kiosk.cardread.reading`): photos
(the card's outline is found and straightened; a back with no outline is read
from its MRZ band), or card images filling the whole file (ID-1 proportions: a
flatbed scan, what `fieldkit-testdata cards` writes). The integrity policy's last
step applies (docs/integrity.md): with no retake from files, a support judged
not original is saved with the failed check, and refused only beyond doubt.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sync.common.msg import Msg
from sync.device.config import ConfigError, DeviceConfig, load_config, resolve_config_path

if TYPE_CHECKING:  # the vision stack loads only when a capture runs, not for `--help` or `check`
    import numpy as np

    from kiosk.capture.flow import Draft
    from kiosk.capture.save import FrontReading
    from kiosk.cardread.credential import BackReading
    from kiosk.vision.integrity import IntegrityResult
    from kiosk.vision.liveness import Challenge, LivenessState

PROG = "fieldkit-kiosk capture"
EXIT_REFUSED = 1
EXIT_CONFIG = 2
EXIT_NOT_ENROLLED = 3
_IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
CHALLENGES = ("turn_left", "turn_right", "blink")
# The `code` of a refusal that is about the command's own input (a file, a folder, an
# argument) rather than a catalogue message.
INPUT_CODE = "cli.input"


class Refused(Exception):
    """The capture cannot be saved: a catalogue message (`why` a Msg: what the kiosk itself would
    say), or a Spanish line about the command's own input (`why` a str)."""

    def __init__(self, why: Msg | str, what: str = "", detail: str = "") -> None:
        super().__init__(why if isinstance(why, str) else why.code)
        # `what`: the file it is about, when not plain; `detail`: the technical cause, for testers.
        self.why, self.what, self.detail = why, what, detail

    @property
    def code(self) -> str:
        return INPUT_CODE if isinstance(self.why, str) else self.why.code

    @property
    def text(self) -> str:
        from kiosk.i18n import render

        said = self.why if isinstance(self.why, str) else render(self.why)
        said = f"{self.what}: {said}" if self.what else said
        return f"{said} ({self.detail})" if self.detail else said


@dataclass
class Capture:
    draft: Draft
    liveness: LivenessState | None
    vision_s: float


def front_picture(img: np.ndarray) -> np.ndarray:
    """The straightened front, by the reading path (`kiosk.cardread.reading`: the outline found, or
    the whole image when it already is the card); Refused when there is none or it is a back."""
    from kiosk.cardread.reading import BACK, PATH_WHOLE, front_view, shown_side, side_cues
    from kiosk.mrz.reader import read_mrz
    from kiosk.vision.card import find_card

    find = find_card(img)
    fv = front_view(img, find, located=True)
    if fv is None:
        raise Refused(_card("cortada" if find is not None and find.touches_border else "sin_credencial"))
    crop = fv.card
    cues = side_cues(crop)
    if not cues.portrait and shown_side(cues, mrz_band=read_mrz(crop) is not None) == BACK:
        raise Refused(_card("es_reverso"))
    if not fv.in_place and fv.view.path != PATH_WHOLE:
        # From a file there is no other look: the front is kept (a valid citizen is not turned
        # away), and the tester is told its outline was not confirmed.
        print("aviso: el contorno del frente no está confirmado (el retrato no está en su lugar o la "
              "segmentación no coincide); revise la imagen guardada", file=sys.stderr)
    return crop


def _card(code: str) -> Msg:
    from kiosk.cardread.reasons import msg_code

    return Msg(msg_code(code))


def integrity_refusal(result: Any) -> Msg | None:
    """The integrity policy's last step (kiosk.cardread.reasons): from files there is no retake, so
    a support judged not original is saved with the failed check unless beyond doubt."""
    from kiosk.cardread import reasons as R

    return _card("no_original") if R.integrity_action(result, 0) == R.REFUSE else None


def _load(path: str, what: str) -> np.ndarray:
    from kiosk.cli.scan import load_rgb

    try:
        return load_rgb(path)
    except ValueError as e:
        raise Refused(f"{what} ({path}): {e}") from None


def load_frames(directory: Path, challenge: str | None) -> tuple[list[tuple[np.ndarray, float]], Challenge]:
    """Frames and challenge from a `sequence.json` manifest (fieldkit-testdata selfies), or every
    image in the folder in name order at 10 fps (then --challenge is needed)."""
    from kiosk.vision.liveness import Challenge

    manifest = directory / "sequence.json"
    if manifest.is_file():
        try:
            m = json.loads(manifest.read_text(encoding="utf-8"))
            entries = [(directory / f["file"], float(f["t"])) for f in m["frames"]]
            challenge = challenge or m["challenge"]
        except (KeyError, TypeError, ValueError) as e:
            raise Refused(f"{manifest} no es un manifiesto de cuadros válido: {e}") from None
    elif directory.is_dir():
        files = sorted(p for p in directory.iterdir() if p.suffix.lower() in _IMAGE_EXT)
        entries = [(p, i / 10.0) for i, p in enumerate(files)]
    else:
        raise Refused(f"No existe la carpeta de cuadros {directory}.")
    if not entries:
        raise Refused(f"La carpeta {directory} no tiene cuadros.")
    if challenge is None:
        raise Refused("Sin sequence.json hace falta --challenge (turn_left, turn_right o blink).")
    try:
        ch = Challenge(challenge)
    except ValueError:
        raise Refused(f"Prueba de vida desconocida: {challenge!r}.") from None
    return [(_load(str(p), "Cuadro"), t) for p, t in entries], ch


@dataclass
class CardRead:
    """Both sides of the card as `capture` reads them (the record's card part)."""

    front: np.ndarray                 # straightened front
    front_reading: FrontReading
    back: BackReading                 # accepted; `back.card` is the straightened back
    back_integrity: IntegrityResult


def read_card(front_img: np.ndarray, back_img: np.ndarray, now_year: int, secciones: Any = None,
              scope: Any = None) -> CardRead:
    """The card's two sides through the kiosk's reading path and checks, as "Guardar" needs them;
    Refused (the kiosk's reason) for anything the kiosk would not save."""
    from kiosk.capture.save import back_refusal, read_front
    from kiosk.cardread.credential import read_back
    from kiosk.vision.integrity import check_integrity

    reading = read_back(back_img, now_year=now_year, secciones=secciones, scope=scope)
    if (why := back_refusal(reading)) is not None:
        raise Refused(why)
    assert reading.card is not None
    back_integrity = check_integrity(reading.card)
    front = front_picture(front_img)
    front_reading = read_front(front)
    for result in (front_reading.integrity, back_integrity):
        if (why := integrity_refusal(result)) is not None:
            raise Refused(why)
    return CardRead(front, front_reading, reading, back_integrity)


def build_capture(ns: argparse.Namespace, cfg: DeviceConfig, now_year: int) -> Capture:
    import numpy as np

    from kiosk.capture.flow import NO_LIVENESS, Draft, liveness_outcome
    from kiosk.capture.signature import signature_problem
    from kiosk.testdata.signatures import SignatureFileError, read_signature_file
    from kiosk.vision.landmarks import LandmarkModelMissing
    from kiosk.vision.liveness import LivenessConfig, assess_selfie, run_challenge

    t0 = time.perf_counter()
    try:
        proc = cfg.process(ns.process)
    except KeyError:
        known = ", ".join(p.id for p in cfg.processes)
        raise Refused(f"El proceso {ns.process} no está configurado en este dispositivo ({known}).") from None
    aspirant = ns.aspirant or proc.aspirant_id
    auxiliary = ns.auxiliary or next((a.id for a in cfg.auxiliaries if proc.id in a.processes), "")
    if not auxiliary:
        raise Refused(f"Ningún auxiliar está asignado al proceso {proc.id}; use --auxiliary.")
    try:
        signature = read_signature_file(ns.signature)
    except SignatureFileError as e:
        raise Refused(str(e)) from None
    if (why := signature_problem(signature)) is not None:
        raise Refused(why)

    card = read_card(_load(ns.front, "Frente"), _load(ns.back, "Reverso"), now_year, cfg.secciones,
                     proc.scope)

    selfie = _load(ns.selfie, "Foto del rostro")
    quality = assess_selfie(selfie)
    if not quality.ok:
        raise Refused(Msg(quality.codes[0]), "Foto del rostro")
    liveness = None
    if ns.selfie_frames:
        frames, ch = load_frames(Path(ns.selfie_frames), ns.challenge)
        # The checker's frame counts follow the recording's own rate.
        gaps = np.diff([t for _f, t in frames])
        fps = 1.0 / float(np.median(gaps)) if len(gaps) and float(np.median(gaps)) > 0 else 10.0
        try:
            liveness = run_challenge(frames, ch, LivenessConfig(fps=fps))
        except LandmarkModelMissing as e:
            raise Refused(Msg("liveness.unavailable"), detail=str(e)) from None
    # «Guardar»'s rule (kiosk.capture.flow): without a passed liveness check the support would
    # not count; only a tester who asks for such a record gets one.
    if liveness_outcome(liveness) != "passed" and not ns.allow_no_liveness:
        raise Refused(NO_LIVENESS)

    draft = Draft(proc.id, aspirant, auxiliary, model=None)
    draft.front, draft.front_reading, draft.card_photo_confirmed = card.front, card.front_reading, True
    draft.back, draft.back_reading, draft.back_integrity = card.back.card, card.back, card.back_integrity
    draft.selfie, draft.liveness, draft.selfie_quality = selfie, liveness, quality
    draft.signature, draft.email, draft.consent = signature, ns.email, True
    return Capture(draft, liveness, time.perf_counter() - t0)


def _notify_agent(cfg: DeviceConfig) -> bool:
    """"Enviar ahora" over the local channel, if an agent is listening (best effort)."""
    from sync.agent.local_channel import ChannelError, LocalChannelClient

    try:
        LocalChannelClient.for_data_dir(cfg.device.data_dir, timeout_s=1.0).send_now()
        return True
    except ChannelError:
        return False


def run(ns: argparse.Namespace) -> int:
    from kiosk.capture.flow import NO_LIVENESS, liveness_outcome
    from kiosk.capture.save import SaveContext, SaveError, save_draft
    from kiosk.i18n import render

    path, explicit = resolve_config_path(ns.config)
    if not explicit and not path.exists():
        print(f"{PROG}: este dispositivo no está inscrito (no existe {path}).", file=sys.stderr)
        return EXIT_NOT_ENROLLED
    try:
        cfg = load_config(path)
    except ConfigError as e:
        print(f"{PROG}: error de configuración: {e}", file=sys.stderr)
        return EXIT_CONFIG
    now_year = ns.year or _dt.date.today().year
    out: dict[str, Any] = {"saved": False, "folio": None}
    try:
        cap = build_capture(ns, cfg, now_year)
        with SaveContext.from_config(cfg) as ctx:
            result = save_draft(cap.draft, ctx)
    except (Refused, SaveError) as e:
        why = e if isinstance(e, Refused) else Refused(e.msg)
        if ns.json:
            print(json.dumps({**out, "refused": why.text, "code": why.code}, ensure_ascii=False))
        else:
            hint = " (o --allow-no-liveness para guardarlo aun así)" if why.code == NO_LIVENESS.code else ""
            print(f"No se guardó: {why.text}{hint}", file=sys.stderr)
        return EXIT_REFUSED
    notified = _notify_agent(cfg)
    lv = cap.liveness
    said = None if lv is None else render(Msg(lv.code))
    out.update(saved=True, folio=result.folio, record_id=str(result.record_id),
               envelope_bytes=result.envelope_bytes,
               liveness=None if lv is None else {"challenge": lv.challenge.value, "verdict": lv.verdict.value,
                                                 "code": lv.code, "message": said},
               counts=liveness_outcome(lv) == "passed",
               agent_notified=notified, vision_s=round(cap.vision_s, 3), save_s=round(result.seconds, 3))
    if ns.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(f"Apoyo guardado con folio {result.folio}")
        print("prueba de vida: " + ("no realizada" if lv is None else f"{lv.challenge.value}: {said}"))
        if not out["counts"]:
            print("este apoyo no contará: no superó la prueba de vida (--allow-no-liveness)")
    return 0


def add_parser(sub: Any, add_config: Any) -> argparse.ArgumentParser:
    c = sub.add_parser("capture", help="guarda un apoyo desde archivos (mismo camino que «Guardar»)")
    add_config(c, sub=True)
    c.add_argument("--front", required=True, metavar="IMAGEN", help="frente de la credencial")
    c.add_argument("--back", required=True, metavar="IMAGEN", help="reverso de la credencial")
    c.add_argument("--selfie", required=True, metavar="IMAGEN", help="foto del rostro")
    c.add_argument("--signature", required=True, metavar="FIRMA.json",
                   help="trazos de la firma (docs/cli.md)")
    c.add_argument("--selfie-frames", metavar="DIR", help="cuadros para la prueba de vida (sequence.json)")
    c.add_argument("--challenge", choices=CHALLENGES,
                   help="prueba de vida de los cuadros cuando no hay sequence.json")
    c.add_argument("--allow-no-liveness", action="store_true",
                   help="guarda aunque la prueba de vida no se haya superado o realizado (para pruebas: "
                        "ese apoyo no contará)")
    c.add_argument("--email", help="correo para el acuse de recibo (opcional)")
    c.add_argument("--process", required=True, help="id del proceso (de la configuración)")
    c.add_argument("--aspirant", help="id del aspirante (por omisión, el del proceso)")
    c.add_argument("--auxiliary", help="id del auxiliar (por omisión, el primero asignado al proceso)")
    c.add_argument("--year", type=int, help="año actual para la vigencia (por omisión, hoy)")
    c.add_argument("--json", action="store_true", help="un objeto JSON con el folio (docs/cli.md)")
    c.set_defaults(func=run)
    return c
