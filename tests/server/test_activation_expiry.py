"""An activation code's life after its making, on the server (server_stub/fleet/activations.py,
server_stub/ingest/acuse.py): its e-mail is dropped unsent once the code expired (and never
retried after), and wrong codes typed while it was pending count even when an offline tablet
sends them after the expiry. Real SQLite store; a relay that refuses connections, an outbox."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from server_stub.core.store import Store
from server_stub.core.store_schema import MAIL_QUEUE_INSERT
from server_stub.deploy.broker_process import free_port
from server_stub.fleet import activations
from server_stub.ingest.acuse import AcuseWorker, OutboxTransport, SmtpTransport
from sync.wire.activation import ActivationCode, parse_code
from sync.wire.record import Record
from tests.helpers.mqtt import PKIPaths
from tests.helpers.server import IngestServer
from tests.server.test_activations import (
    CODE_RE,
    HOUR_MS,
    Site,
    assert_code_nowhere,
    citizen_record,
    issue,
    last_activation,
    mailed_code,
    start_site,
)


@pytest.fixture
def site(ingest_server_factory: Callable[..., IngestServer]) -> Iterator[Site]:
    s = start_site(ingest_server_factory(start=False, mqtt=False))
    try:
        yield s
    finally:
        s.close()


def check(store: Store, rec: Record, max_wrong: int) -> str:
    with store.tx() as conn:
        return activations.check_record(store, conn, rec, max_wrong, int(time.time() * 1000))


def test_an_activation_email_not_delivered_before_the_code_expires_is_dropped(
        site: Site, pki: PKIPaths, tmp_path: Path) -> None:
    dev = site.device(pki.device(0))
    code, row = issue(site.store, site.cfg, dev.id)
    key = bytes.fromhex(row["activation_id"])
    # An acuse queued alongside, for a record: retried until delivered, whatever the time.
    acuse_key, acuse = uuid.uuid4().bytes, b"Subject: acuse\n\nhola\n"
    with site.store.tx() as conn:
        conn.execute(site.store.sql(MAIL_QUEUE_INSERT), (acuse_key, "b@example.org", acuse, "pendiente",
                                                         row["created_ms"], row["created_ms"]))
    # The relay refuses connections: both wait for a retry.
    down = SmtpTransport("127.0.0.1", free_port(), "acuses@example.org", timeout_s=5)
    now = time.time()
    assert AcuseWorker(site.store, down, "acuses@example.org", clock=lambda: now).deliver_due() == 0
    assert site.store.query("SELECT state, attempts FROM mail_queue WHERE record_id = ?", (key,)) == \
        [("pendiente", 1)]
    # Past the code's expiry (and the retry's time) with the relay back: the code is dropped
    # unsent, its text gone; the acuse goes out and keeps its text.
    outbox = tmp_path / "mail"
    late = row["expires_ms"] / 1000 + 1
    worker = AcuseWorker(site.store, OutboxTransport(outbox), "acuses@example.org", clock=lambda: late)
    assert worker.deliver_due() == 1
    queued = "SELECT state, attempts, message FROM mail_queue WHERE record_id = ?"
    assert site.store.query(queued, (key,)) == [("caducado", 1, b"")]
    assert [p.name for p in outbox.iterdir()] == [f"{uuid.UUID(bytes=acuse_key)}.eml"]
    assert site.store.query(queued, (acuse_key,)) == [("enviado", 2, acuse)]
    assert worker.deliver_due() == 0  # never retried
    assert_code_nowhere(site.store, code)


def test_wrong_codes_captured_before_the_expiry_count_even_when_they_arrive_after_it(
        site: Site, pki: PKIPaths) -> None:
    dev = site.device(pki.device(0))
    # Issued 25 hours ago: expired an hour ago, still pending (never used).
    made = int(time.time() * 1000) - 25 * HOUR_MS
    activations.request_activation(site.store, site.cfg, dev.id, {"v": 1, "cic": "123456789",
                                                                  "email": "ana@example.org"}, made)
    row = last_activation(site.store, dev.id)
    found = CODE_RE.search(mailed_code(site.store, row["activation_id"])[1])
    assert found is not None
    code = parse_code(found.group(1))
    wrong = [ActivationCode(code.ref, s).text for s in ("000000000", "111111111", "222222222")
             if s != code.secret]
    # A guess captured after the expiry, sent now: the code was dead by then, nothing counts.
    after = citizen_record(dev.id, wrong[0], seed=1, captured_at_ms=row["expires_ms"] + 1000)
    assert check(site.store, after, 2) == "no_valida"
    assert last_activation(site.store, dev.id)["wrong"] == 0
    # Guesses typed on an offline tablet while the code was live, sent now: they count.
    in_time = row["created_ms"] + 60_000
    for n, (guess, state) in enumerate(((wrong[0], "emitida"), (wrong[1], "invalidada")), 1):
        assert check(site.store, citizen_record(dev.id, guess, seed=n + 1, captured_at_ms=in_time), 2) == \
            "no_valida"
        after_guess = last_activation(site.store, dev.id)
        assert (after_guess["wrong"], after_guess["state"]) == (n, state)
    # The right code, captured in time and sent late too, no longer gives a support.
    right = citizen_record(dev.id, code.text, seed=4, captured_at_ms=in_time + 1000)
    assert check(site.store, right, 2) == "invalidada"
