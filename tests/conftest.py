"""Shared fixtures: Qt offscreen, a throwaway PKI, a real Mosquitto with the
project's config, and MQTT test clients (see tests/mqtt_helpers.py)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

# Before anything imports Qt: tests never need a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Test modules import `mqtt_helpers` whether or not tests/ is a package.
sys.path.insert(0, str(Path(__file__).parent))

import pytest
from mqtt_helpers import (
    Identity,
    MqttClientFactory,
    PKIPaths,
    TestClient,
    build_pki,
    make_client,
)

from server_stub.broker import Broker

DEVICE_IDS = ("dev-0001", "dev-0002", "dev-0003")


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
