"""What bench_field_link.py runs: the variants ("before" switches the newer agent options off
and uses the old image profiles, "after" is the defaults, "resend" / "window" / "codec" turn
one change on at a time) and the realistic records it seals into each device's outbox, made
once per image codec. ``python bench/field_link_setup.py`` says which variants this tree has."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sync.agent.settings import AgentOptions
from sync.wire.ids import uuid7
from sync.wire.record import EncodedImage, ImageKind, Record
from tests.helpers.agent import AgentDevice

UNBOUNDED = 1 << 40       # a byte window no run can fill: the old behaviour


# --- variants -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    options: tuple[tuple[str, object], ...]  # AgentOptions fields set over the defaults
    imaging: str                              # "v1" (the baseline profiles) or "current"

    def agent_options(self) -> AgentOptions:
        over: dict[str, Any] = dict(self.options)
        return dataclasses.replace(AgentOptions(), **over)

    def describe(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in self.options) or "defaults"
        return f"{self.name}: agent {opts}; images {self.imaging}"


def _v1_module() -> Any | None:
    if importlib.util.find_spec("bench.baselines.imaging_v1") is None:
        return None
    mod = importlib.import_module("bench.baselines.imaging_v1")
    return mod if hasattr(mod, "PROFILES_V1") else None


def features() -> dict[str, str | None]:
    """Which of the newer settings this tree has (name of the field, or None)."""
    names = {f.name for f in dataclasses.fields(AgentOptions)}
    window = next((n for n in ("mqtt_window_bytes", "window_bytes") if n in names), None)
    return {"resend_query": "resend_query" if "resend_query" in names else None,
            "window_bytes": window, "imaging_v1": "PROFILES_V1" if _v1_module() else None}


def variants(names: Sequence[str], window_after: int | None) -> tuple[list[Variant], list[str]]:
    """The variants asked for that this tree can run, and notes on the rest."""
    f = features()
    off: list[tuple[str, object]] = []
    on: list[tuple[str, object]] = []
    if f["resend_query"]:
        off.append(("resend_query", False))
        on.append(("resend_query", True))
    if (w := f["window_bytes"]) is not None:
        off.append((w, UNBOUNDED))
        on.append((w, window_after or getattr(AgentOptions(), w)))
    old_img = "v1" if f["imaging_v1"] else "current"

    def only(key: str | None) -> tuple[tuple[str, object], ...]:
        return tuple(kv if kv[0] != key else next(x for x in on if x[0] == key) for kv in off)

    table = {
        "before": Variant("before", tuple(off), old_img),
        "after": Variant("after", tuple(on), "current"),
        "resend": Variant("resend", only(f["resend_query"]), old_img),
        "window": Variant("window", only(f["window_bytes"]), old_img),
        "codec": Variant("codec", tuple(off), "current"),
    }
    out: list[Variant] = []
    notes = [f"{k}: {'no hay' if v is None else v}" for k, v in f.items()]
    for n in names:
        if n not in table:
            raise ValueError(f"variante desconocida: {n} (hay {', '.join(table)})")
        v = table[n]
        same = next((o for o in out if (o.options, o.imaging) == (v.options, v.imaging)), None)
        if same is not None:
            notes.append(f"{n} = {same.name} en este árbol: no se repite")
        else:
            out.append(v)
    return out, notes


# --- records, made once ----------------------------------------------------------------------


class Records:
    """Realistic records (synthetic cards; the renders are the slow part), made once per image
    codec; each run seals them again under new record ids (a stored id would be a resend)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._made: dict[str, list[Record]] = {}

    def get(self, imaging: str) -> list[Record]:
        if imaging not in self._made:
            self._made[imaging] = self._current() if imaging == "current" else self._v1()
        return self._made[imaging]

    def _current(self) -> list[Record]:
        from tests.helpers.outbox import card_record

        return [card_record(seed, "bench")[0] for seed in range(self.n)]

    def _v1(self) -> list[Record]:
        import skimage.data

        from kiosk.testdata.cards import sample_card
        from sync.wire import imaging

        mod = _v1_module()
        assert mod is not None

        def enc(rgb: Any, kind: ImageKind) -> EncodedImage:
            # The frozen copy of the old encoder if the baseline has one, else today's encoder
            # with the old profile (the baseline says both give the same bytes).
            if hasattr(mod, "encode_v1"):
                return mod.encode_v1(rgb, kind)
            return imaging.encode_image(rgb, kind, mod.PROFILES_V1[kind])

        out = []
        for seed, rec in enumerate(self.get("current")):
            front, back, truth = sample_card(seed)
            x, y, w, h = truth["front"]["face_box"]
            images = (enc(front, ImageKind.CARD_FRONT), enc(back, ImageKind.CARD_BACK),
                      enc(front[y:y + h, x:x + w], ImageKind.FACE_CROP),
                      enc(skimage.data.astronaut(), ImageKind.SELFIE),
                      *(i for i in rec.images if i.kind is ImageKind.SIGNATURE))
            out.append(dataclasses.replace(rec, images=images))
        return out


def fill_outbox(dev: AgentDevice, records: list[Record]) -> dict[uuid.UUID, int]:
    """Seal into the device's outbox as the kiosk would; envelope size by record id."""
    sizes = {}
    with dev.outbox() as ob:
        for rec in records:
            r = ob.put(dataclasses.replace(rec, record_id=uuid7(), device_id=dev.id), dev.sealer)
            sizes[r.record_id] = r.envelope_bytes
    return sizes


if __name__ == "__main__":
    chosen, notes = variants(["before", "after", "resend", "window", "codec"], None)
    for v in chosen:
        print(v.describe())
    print("; ".join(notes))
