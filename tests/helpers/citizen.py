"""The self-service citizen flow's test material: a self-service device config (three
processes, three secciones), a CitizenFlow on it, and the steps from the start to the review."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kiosk.capture.citizen import CitizenFlow
from kiosk.capture.flow import Step
from sync.device.config import DeviceConfig, load_config
from sync.wire.activation import CAPTURED_BY_CITIZEN, CODE_TTL_MS, new_code, parse_code
from tests.helpers.kiosk import SaveDevice, provision

# 2027-01-20, noon in Mexico City: inside the example process's collection period.
NOW_MS = int(datetime(2027, 1, 20, 18, 0, tzinfo=UTC).timestamp() * 1000)
CIC = "261274866"
EMAIL = "ciudadana@example.org"
SELF_SERVICE = """
[self_service]
enabled = true
idle_seconds = 90
warning_seconds = 15
"""
EXTRA = """
[[secciones]]
seccion = 164
entidad = 9
distrito_federal = 1
distrito_local = 1
municipio = 2

[[secciones]]
seccion = 201
entidad = 9
distrito_federal = 2
distrito_local = 3
municipio = 4

[[secciones]]
seccion = 301
entidad = 9
distrito_federal = 3
distrito_local = 5
municipio = 6

[[processes]]
id = "ci-2027-df-0902"
kind = "candidatura_independiente"
name = "Candidatura independiente, diputación federal 02 (MUESTRA)"
aspirant_id = "asp-0002"
aspirant_name = "ASPIRANTE MUESTRA DOS"
start = "2027-01-03"
end = "2027-02-11"
threshold_percent = 2.0
scope = { level = "distrito_federal", entidad = 9, distrito_federal = 2 }

[[processes]]
id = "ci-2026-df-0901"
kind = "candidatura_independiente"
name = "Proceso ya cerrado (MUESTRA)"
aspirant_id = "asp-0003"
aspirant_name = "ASPIRANTE MUESTRA TRES"
start = "2026-01-03"
end = "2026-02-11"
threshold_percent = 2.0
scope = { level = "distrito_federal", entidad = 9, distrito_federal = 1 }
"""


def as_self_service(config_text: str) -> str:
    """A device config made self-service, with three processes: district 01 open, district 02
    open, district 01 closed (and a sección of each district, and one of district 03, which no
    process takes)."""
    if "[self_service]" in config_text:
        text = re.sub(r"(?m)^(\[self_service\]\s*\nenabled\s*=\s*)false", r"\1true", config_text)
        assert text != config_text
    else:
        text = config_text + SELF_SERVICE
    return text + EXTRA


def self_service(root: Path) -> SaveDevice:
    """A provisioned device (keys, outbox key) whose config is self-service."""
    dev = provision(root)
    dev.config_path.write_text(as_self_service(dev.config_path.read_text()))
    return dataclasses.replace(dev, config=load_config(dev.config_path))


@dataclass
class Fields:
    cic: str = CIC
    seccion: str = "0164"


@dataclass
class Reading:
    """What the flow reads of a back: its fields and model family."""

    fields: Fields = field(default_factory=Fields)
    model: str = "G/H"


@dataclass
class Live:
    verdict: str = "passed"


def flow_for(cfg: DeviceConfig) -> CitizenFlow:
    return CitizenFlow(verify_pin=lambda aux, pin: pin == "9999", config=cfg,
                       idle_seconds=cfg.self_service.idle_seconds,
                       warning_seconds=cfg.self_service.warning_seconds)


def ask_code(f: CitizenFlow, reading: Reading | None = None, email: str = EMAIL) -> str:
    """From the start to the code sent; the server's answer as the device gets it. Returns the
    code the server e-mailed (its ref is what the device keeps)."""
    f.request_code()
    assert f.step == Step.ACT_BACK
    f.activation_back(reading or Reading(), NOW_MS)
    assert f.step == Step.ACT_EMAIL and f.request is not None and f.request.cic == CIC
    assert f.request.seccion == "0164" and f.request.model == ""   # a family is not a letter
    assert not f.activation_email("sin-arroba") and f.step == Step.ACT_EMAIL
    assert f.notice is not None and f.notice.error and f.notice.register == "ciudadano"
    assert f.activation_email(email)
    assert f.step == Step.ACT_SENDING and f.request.email == email
    code = new_code("K7")
    f.activation_requested(code.ref, NOW_MS + CODE_TTL_MS, "c•••@e•••.org", NOW_MS)
    assert f.step == Step.ACT_SENT and f.request is None
    assert f.notice is not None and "c•••@e•••.org" in f.notice.text and "24 horas" in f.notice.text
    return code.display


def to_review(f: CitizenFlow, code: str, process: str = "ci-2027-df-0901") -> None:
    f.have_code()
    assert f.step == Step.CODE_ENTRY
    assert f.enter_code(code.lower(), NOW_MS)            # any case, with its dashes
    assert f.step == Step.CITIZEN_PROCESS
    assert f.choose_process(process)
    d = f.draft
    assert d is not None and f.step == Step.FRONT
    assert (d.auxiliary_id, d.captured_by, d.email) == ("", CAPTURED_BY_CITIZEN, EMAIL)
    assert d.activation == parse_code(code).text and len(d.activation) == 12
    f.front_captured("front", {"face": 1}, "G")
    assert f.step == Step.CARD_PHOTO
    f.confirm_card_photo(True)
    f.back_captured("back", Reading())
    assert f.step == Step.SELFIE
    f.selfie_captured("selfie", Live())
    assert f.signature_done("sig")
    assert f.step == Step.REVIEW                         # no e-mail step: the activation's address
