"""`fieldkit-demo --headless`: N records captured through `fieldkit-kiosk capture` (the same
code path as "Guardar"), synced by `fieldkit-sync run` unless offline, and a summary. A card
the capture refuses is reported on one line and skipped (`skipped` in the summary)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.demo.deployment import PROCESS_ID, Deployment, device_counts, make_cards, server_records
from kiosk.demo.procs import DemoError, Procs, run_cmd, tool

PROG = "fieldkit-demo"


@dataclass
class Taken:
    card: str
    folio: str | None = None          # None: the capture refused the card (`reason`)
    reason: str = ""
    liveness: str | None = None       # the record's liveness verdict; None: not performed


def capture(dep: Deployment, cfg: Path, card: Path, i: int, n_selfies: int) -> Taken:
    """One record through `fieldkit-kiosk capture`. A card it refuses (exit 1 with its reason)
    is reported and skipped: a demo card the kiosk cannot take must not stop the demo."""
    k = i % n_selfies
    email = f"muestra{i}@example.org"
    sel = dep.root / "selfies"
    frames = next(sel.glob(f"frames-{k:03d}-live-*"))
    argv = [tool("fieldkit-kiosk"), "capture", "--config", str(cfg),
            "--front", str(card / "front.png"), "--back", str(card / "back.png"),
            "--selfie", str(sel / f"selfie-{k:03d}.jpg"), "--selfie-frames", str(frames),
            "--signature", str(dep.root / "signatures" / f"signature-{i:03d}.json"),
            "--process", PROCESS_ID, "--email", email, "--json"]
    # What names the citizen stays out of the log: the e-mail, and the card's paths (the
    # generated card's folder is named after its CIC).
    private = (email, str(card / "front.png"), str(card / "back.png"))
    try:
        out = run_cmd(dep.logs, "capture", *argv, private=private)
    except DemoError as e:
        if e.status != 1 or e.stdout is None:
            raise
        try:
            reason = str(json.loads(e.stdout)["refused"])
        except (ValueError, KeyError, TypeError):
            raise e from None
        print(f"{PROG}: captura {card.name} omitida: {reason}", file=sys.stderr, flush=True)
        return Taken(card.name, None, reason)
    saved = json.loads(out)
    return Taken(card.name, str(saved["folio"]), liveness=(saved.get("liveness") or {}).get("verdict"))


def headless(ns: argparse.Namespace, root: Path, procs: Procs, dep: Deployment, cfg: Path) -> dict[str, Any]:
    t0 = time.monotonic()
    n = ns.records
    n_selfies = 1  # one person's selfie and live sequence (turn left) serve every record
    logs = procs.logs
    with ThreadPoolExecutor(3) as pool:
        jobs = [pool.submit(run_cmd, logs, "testdata", tool("fieldkit-testdata"), "selfies", "--out",
                            str(root / "selfies"), "-n", str(n_selfies)),
                pool.submit(run_cmd, logs, "testdata", tool("fieldkit-testdata"), "signatures", "--out",
                            str(root / "signatures"), "-n", str(n))]
        cards = make_cards(dep, n)
        for j in jobs:
            j.result()
    if not ns.offline:
        procs.start("sync-agent", [tool("fieldkit-sync"), "--config", str(cfg), "run",
                                   *(["--verbose"] if ns.verbose else [])])
    with ThreadPoolExecutor(max(1, min(n, os.cpu_count() or 1))) as pool:
        taken = list(pool.map(lambda ic: capture(dep, cfg, ic[1], ic[0], n_selfies), enumerate(cards)))
    folios = [t.folio for t in taken if t.folio is not None]
    skipped = [{"card": t.card, "reason": t.reason} for t in taken if t.folio is None]
    stored = server_records(dep)
    if not ns.offline:
        deadline = time.monotonic() + ns.timeout
        while time.monotonic() < deadline:
            procs.check()
            stored = server_records(dep)
            if stored >= len(folios) and device_counts(cfg)[0] == 0:
                break
            time.sleep(0.3)
    pending, acked = device_counts(cfg)
    # A record without a passed liveness check would not count at the server: say how many did.
    live = sum(1 for t in taken if t.folio is not None and t.liveness == "passed")
    return {"captured": len(folios), "liveness_passed": live, "skipped": skipped, "stored_at_server": stored,
            "erased_from_device": acked, "pending": pending, "transport": ns.transport,
            "offline": bool(ns.offline), "seconds": round(time.monotonic() - t0, 1),
            "folios": sorted(folios), "data_dir": str(root)}
