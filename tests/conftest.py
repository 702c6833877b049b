"""Shared fixtures: Qt offscreen, a throwaway PKI, a real Mosquitto with the
project's config, and MQTT test clients (see tests/helpers/mqtt.py)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

# Before anything imports Qt: tests never need a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
import pytest

from server_stub.deploy.broker_process import Broker
from tests.helpers.fleet import Fleet
from tests.helpers.mqtt import Identity, MqttClientFactory, PKIPaths, TestClient, build_pki, make_client
from tests.helpers.pg import PG_ENV, PgCluster, create_database, drop_database
from tests.helpers.server import IngestServer

DEVICE_IDS = ("dev-0001", "dev-0002", "dev-0003")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    """After pytest-qt closed a test's windows: collect reference cycles on the main thread.
    Python's cyclic GC runs in whichever thread allocates; left alone it could free a closed
    window (still in a cycle, its C++ side alive) from a worker thread of the next test and
    run ~QWidget there: a segfault, every other run of test_ui_screens then test_ui_lock.
    (Flushing the deleteLater events here instead made PySide abort at exit: bool_dealloc.)"""
    result = yield
    if "qtbot" in getattr(item, "fixturenames", ()):
        import gc

        gc.collect()
    return result


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKIPaths:
    """CA, server cert, devices dev-0001..3, server:ingest, and a foreign CA's
    device cert; made once per session (key generation is the slow part)."""
    return build_pki(tmp_path_factory.mktemp("pki"), DEVICE_IDS)


def _start_broker(workdir: Path, pki: PKIPaths) -> Broker:
    broker = Broker.create(workdir, pki.broker_tls, probe_cert=(pki.server.cert, pki.server.key))
    broker.start()
    return broker


@pytest.fixture
def mosquitto(tmp_path: Path, pki: PKIPaths) -> Iterator[Broker]:
    """A fresh broker per test (own port, empty persistence); tests may
    stop/restart/kill it. Starting one takes ~10-50 ms."""
    broker = _start_broker(tmp_path / "broker", pki)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def shared_mosquitto(tmp_path_factory: pytest.TempPathFactory, pki: PKIPaths) -> Iterator[Broker]:
    """One broker for a whole module, for tests that leave no sessions behind
    and never stop it."""
    broker = _start_broker(tmp_path_factory.mktemp("broker"), pki)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def mqtt_client(pki: PKIPaths) -> Iterator[MqttClientFactory]:
    """Factory: `mqtt_client(broker, identity, ca_cert=None, client_id=None)`
    returns an unconnected TestClient; all are closed at teardown."""
    made: list[TestClient] = []

    def factory(
        broker: Broker,
        identity: Identity | None,
        *,
        ca_cert: Path | None = None,
        client_id: str | None = None,
    ) -> TestClient:
        c = TestClient(make_client(ca_cert or pki.ca_cert, identity, client_id=client_id), broker)
        made.append(c)
        return c

    yield factory
    for c in made:
        c.close()


# --- ingestion server (see docs/server.md) -------------------------------------------------



@pytest.fixture
def ingest_server_factory(
    tmp_path: Path, pki: PKIPaths, mosquitto: Broker
) -> Iterator[Callable[..., IngestServer]]:
    """`make(*, mode="thread"|"process", store_url=None, fault=None, identities=None,
    https=True, mqtt=True, broker=None, start=True) -> IngestServer`; all closed at teardown."""
    made: list[IngestServer] = []

    def make(*, broker: Broker | None = None, start: bool = True, **kw: object) -> IngestServer:
        s = IngestServer(tmp_path / f"server{len(made)}", pki, broker or mosquitto, **kw)  # type: ignore[arg-type]
        made.append(s)
        if start:
            s.start()
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture
def ingest_server(ingest_server_factory: Callable[..., IngestServer]) -> IngestServer:
    """A started in-process server (HTTPS + one MQTT worker as server:ingest, SQLite)."""
    return ingest_server_factory()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL server URL: $FIELDKIT_PG, else a temporary cluster for the session."""
    if os.environ.get(PG_ENV):
        yield os.environ[PG_ENV]
        return
    cluster = PgCluster()
    cluster.start()
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def pg_database(pg_url: str) -> Iterator[str]:
    """URL of a fresh empty database, dropped afterwards."""
    url = create_database(pg_url)
    try:
        yield url
    finally:
        drop_database(pg_url, url)


# --- verification, acuse, dashboard -------------------------------------------------------

from kiosk.testdata.roll import Citizen, generate_roll, write_roll  # noqa: E402


@pytest.fixture(scope="session")
def synthetic_roll(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Citizen]]:
    """A 3,000-row synthetic roll (seed 9) as CSV, and its rows."""
    rows = list(generate_roll(3000, seed=9))
    path = tmp_path_factory.mktemp("roll") / "roll.csv"
    write_roll(path, rows)
    return path, rows


def make_support_record(device_id: str, citizen: Citizen | None, *, process_id: str, aspirant_id: str,
                        seed: int = 0, cic: str | None = None, ident: str | None = None,
                        email: str | None = "ciudadano@example.org", **changes: object):  # -> Record
    """A record for `citizen` built with sync's record code (tiny images, real signature/checks)."""
    from dataclasses import replace as dc_replace

    from tests.helpers.outbox import tiny_record

    base = tiny_record(device_id, seed=seed, image_bytes=300)
    c = citizen
    cred = dc_replace(base.credential, cic=cic if cic is not None else (c.cic if c else "123456789"),
                      id_ciudadano=ident if ident is not None else (c.identificador if c else "987654321"),
                      ocr=(c.ocr if c else ""), seccion=f"{c.seccion:04d}" if c else "",
                      vigencia=str(c.vigencia) if c else "")
    rec = dc_replace(base, credential=cred, process_id=process_id, aspirant_id=aspirant_id, email=email,
                     folio=f"F-{seed:05d}")
    return dc_replace(rec, **changes) if changes else rec


@pytest.fixture
def support_record() -> Callable[..., object]:
    """`support_record(device_id, citizen, process_id=..., aspirant_id=..., seed=..., **changes)`."""
    return make_support_record


# --- provisioning and fleet (see tests/helpers/fleet.py) ------------------------------------



@pytest.fixture
def fleet_env(tmp_path: Path, ingest_server_factory: Callable[..., IngestServer],
              mosquitto: Broker) -> Iterator[Fleet]:
    """A started server with its enrollment listener, the broker (revocation wired to its ACL
    and pid), process ci-2027-df-0901 / aspirant asp-0001, auxiliaries aux-0001, aux-0002 and
    coordinator coord-01. `fleet_env.enroll(name)` enrolls a device under tmp_path/name."""
    f = Fleet(tmp_path / "fleet", ingest_server_factory, mosquitto)
    try:
        yield f
    finally:
        f.close()


DASH_PASSWORD = "contraseña-larga-1"  # the dashboard tests' coordinator `coord`


@pytest.fixture
def dash_fleet(tmp_path: Path, ingest_server_factory: Callable[..., IngestServer],
               mosquitto: Broker) -> Iterator[tuple[Fleet, str]]:
    """`fleet_env` whose server also serves the dashboard (acuses off), with the coordinator
    account `coord` / DASH_PASSWORD; (fleet, dashboard URL)."""
    from server_stub.dashboard import accounts
    from server_stub.deploy.broker_process import free_port

    port = free_port()
    f = Fleet(tmp_path / "fleet", ingest_server_factory, mosquitto,
              extra_config=f'[dashboard]\nenabled = true\nport = {port}\n[acuse]\nmode = "off"\n')
    accounts.add_user(f.store, "coord", DASH_PASSWORD)
    try:
        yield f, f"https://127.0.0.1:{port}"
    finally:
        f.close()
