"""Acuse de recibo over a real SMTP server on loopback (aiosmtpd), and the .eml outbox."""

from __future__ import annotations

import email
import time
from collections.abc import Callable, Iterator
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from server_stub.core.config import load_config
from server_stub.deploy.broker_process import free_port
from server_stub.ingest import acuse
from server_stub.verify import processes
from tests.helpers.server import IngestServer, TestDevice

PROC = "ci-2027"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


class RefusingInbox(Inbox):
    """A relay that refuses every recipient, quoting the address (as Postfix does)."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def relay(smtp_port: int) -> Iterator[Callable[[], Inbox]]:
    """`relay()` starts a real SMTP server on the (fixed) port; stopped at teardown."""
    running: list[Controller] = []

    def start(inbox: Inbox | None = None) -> Inbox:
        inbox = inbox or Inbox()
        c = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
        c.start()
        running.append(c)
        return inbox

    yield start
    for c in running:
        c.stop()


def _server(factory: Callable[..., IngestServer], section: str) -> IngestServer:
    s = factory(start=False)
    s.config_path.write_text(s.config_path.read_text() + section)
    s.config = load_config(s.config_path)
    processes.define_process(s.store, PROC, "presidencia", "Candidatura independiente 2027", 0, 2**42)
    processes.add_aspirant(s.store, PROC, "asp-7", "Rosa Aspirante")
    s.start()
    return s


def _wait(pred: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _smtp_section(port: int) -> str:
    return (f"[acuse]\nmode = \"smtp\"\nsmtp_port = {port}\nsender = \"acuses@example.org\"\n"
            "interval_s = 0.1\nretry_min_s = 0.3\nretry_max_s = 1.0\n")


def test_acuse_is_mailed_with_folio_process_aspirant_and_date_and_no_images(
        ingest_server_factory, pki, relay, smtp_port: int, support_record) -> None:
    inbox = relay()
    server = _server(ingest_server_factory, _smtp_section(smtp_port))
    dev = TestDevice.create(pki.devices["dev-0001"], server)
    rec = support_record(dev.id, None, process_id=PROC, aspirant_id="asp-7", seed=3,
                         email="leticia@example.org")
    assert dev.post(server, dev.sealer.seal(rec).data).status_code == 200
    _wait(lambda: inbox.messages)
    m = inbox.messages[0]
    assert m["To"] == "leticia@example.org" and "F-00003" in m["Subject"]
    assert m["Message-ID"] == f"<{rec.record_id}@acuse.fieldkit>"
    body = m.get_payload(decode=True).decode()
    assert "Folio: F-00003" in body and "Candidatura independiente 2027" in body and "Rosa Aspirante" in body
    assert "Fecha de captura: 2026-" in body
    assert not m.is_multipart() and len(m.as_bytes()) < 3000  # no images, no card data
    assert rec.credential.cic not in m.as_string()


def test_relay_down_delays_the_mail_never_the_ack_and_loses_nothing(
        ingest_server_factory, pki, relay, smtp_port: int, support_record) -> None:
    server = _server(ingest_server_factory, _smtp_section(smtp_port))  # nothing listens on smtp_port
    dev = TestDevice.create(pki.devices["dev-0002"], server)
    for seed in range(3):
        rec = support_record(dev.id, None, process_id=PROC, aspirant_id="asp-7", seed=seed,
                             email=f"c{seed}@example.org")
        t0 = time.monotonic()
        r = dev.post(server, dev.sealer.seal(rec).data)
        assert r.status_code == 200 and time.monotonic() - t0 < 2.0  # the ack never waits for mail
    _wait(lambda: acuse.queue_counts(server.store).get(acuse.PENDING) == 3)
    _wait(lambda: server.store.query("SELECT MIN(attempts) FROM mail_queue")[0][0] >= 1)
    # The server restarts while the relay is still down: the queue is in the store.
    server.stop()
    server.start()
    inbox = relay()
    _wait(lambda: len(inbox.messages) == 3)
    assert sorted(m["To"] for m in inbox.messages) == ["c0@example.org", "c1@example.org", "c2@example.org"]
    assert acuse.queue_counts(server.store) == {acuse.SENT: 3}
    time.sleep(0.5)
    assert len(inbox.messages) == 3  # sent once each


def test_a_refused_recipient_is_retried_and_its_address_never_logged(
        ingest_server_factory, pki, relay, smtp_port: int, support_record, caplog) -> None:
    relay(RefusingInbox())
    server = _server(ingest_server_factory, _smtp_section(smtp_port))
    dev = TestDevice.create(pki.devices["dev-0001"], server)
    address = "rosa.muestra.refusal@example.org"
    rec = support_record(dev.id, None, process_id=PROC, aspirant_id="asp-7", seed=5, email=address)
    with caplog.at_level("WARNING", logger="fieldkit.server.acuse"):
        assert dev.post(server, dev.sealer.seal(rec).data).status_code == 200
        _wait(lambda: (server.store.query("SELECT MIN(attempts) FROM mail_queue")[0][0] or 0) >= 2)
    assert acuse.queue_counts(server.store) == {acuse.PENDING: 1}  # kept, retried later
    last_error = server.store.query("SELECT last_error FROM mail_queue")[0][0]
    assert "SMTPRecipientsRefused" in last_error and "550" in last_error and "<correo>" in last_error
    logged = [r.getMessage() for r in caplog.records if "not delivered" in r.getMessage()]
    assert logged and all("<correo>" in m for m in logged)
    assert address not in last_error and not any(address in r.getMessage() for r in caplog.records)


def test_default_outbox_writes_eml_files_and_skips_records_without_email(
        ingest_server_factory, pki, tmp_path: Path, support_record) -> None:
    out = tmp_path / "acuses"
    server = _server(ingest_server_factory, f"[acuse]\noutbox_dir = \"{out}\"\ninterval_s = 0.1\n")
    dev = TestDevice.create(pki.devices["dev-0003"], server)
    with_mail = support_record(dev.id, None, process_id=PROC, aspirant_id="asp-7", seed=1)
    without = support_record(dev.id, None, process_id=PROC, aspirant_id="asp-7", seed=2, email=None)
    for rec in (with_mail, without):
        assert dev.post(server, dev.sealer.seal(rec).data).status_code == 200
    _wait(lambda: acuse.queue_counts(server.store).get(acuse.NO_EMAIL) == 1
          and acuse.queue_counts(server.store).get(acuse.SENT) == 1)
    files = list(out.glob("*.eml"))
    assert [f.name for f in files] == [f"{with_mail.record_id}.eml"]
    m = email.message_from_bytes(files[0].read_bytes())
    assert "F-00001" in m["Subject"] and m["To"] == "ciudadano@example.org"
