"""Child process for tests/sync/test_outbox_crash.py: saves (and erases) records forever,
reporting each step on stdout *after* it returned, until the parent SIGKILLs it.

    P <folio>   put returned: the record must survive any crash from now on
    E? <folio>  about to apply a genuine ack for <folio>
    E <folio>   the erase returned
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from sync.outbox.outbox import Outbox
from sync.wire.envelope import HYBRID
from sync.wire.envelope_open import ServerPrivateKey
from tests.helpers.outbox import Keys, tiny_record


def main() -> None:
    cfg = json.loads(Path(sys.argv[1]).read_text())
    keys = Keys(cfg["device_id"], ServerPrivateKey(HYBRID, bytes.fromhex(cfg["seal"])),
                ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(cfg["sign"])),
                ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(cfg["ack"])))
    sealer, verifier = keys.sealer(), keys.verifier()
    ob = Outbox.open_with_key_file(cfg["db"], cfg["key_file"])
    out = sys.stdout
    out.write("R\n")
    out.flush()
    seed = int(sys.argv[2]) * 100_000
    while True:
        seed += 1
        res = ob.put(tiny_record(seed=seed, image_bytes=cfg["image_bytes"]), sealer)
        out.write(f"P {res.folio}\n")
        out.flush()
        if ob.counts().unacknowledged > cfg["keep"]:
            item = ob.next_batch(1)[0]
            out.write(f"E? {item.folio}\n")
            out.flush()
            ob.acknowledge(keys.ack_for(item), verifier)
            out.write(f"E {item.folio}\n")
            out.flush()


if __name__ == "__main__":
    main()
