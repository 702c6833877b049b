"""A broker that remembers: acks queued for an offline device survive a kill -9 of Mosquitto
once its state was saved, and the device erases its records from them without sending a
body again. Real Mosquitto (the project's generated config), real TLS, the real server.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from sync.wire.topics import device_topic
from tests.helpers.agent import FAST, AgentDevice, make_device, wait_until
from tests.helpers.mqtt import MqttClientFactory, PKIPaths
from tests.helpers.server import IngestServer
from tests.helpers.tcp_proxy import TcpProxy


def test_acks_queued_for_an_offline_device_survive_a_broker_crash(
        tmp_path: Path, ingest_server: IngestServer, pki: PKIPaths, mqtt_client: MqttClientFactory,
        devices: list[AgentDevice]) -> None:
    broker = ingest_server.broker
    db = broker.config.persistence_dir / "mosquitto.db"
    dev = make_device(tmp_path / "dev", ingest_server, pki.device(0), transport="mqtt")
    devices.append(dev)
    ids = dev.put(6, image_bytes=12000)
    with dev.outbox() as ob:
        items = ob.next_batch(6, retry_after_s=None)
        ob.mark_in_flight([i.record_id for i in items])  # what the agent does before a send
    body_bytes = sum(len(i.envelope) for i in items)

    # The device sends its records and goes away before any ack reaches it: its persistent
    # session (subscribed to its acks) is left at the broker, and the records wait for the
    # server's session while the server is down.
    ingest_server.stop()
    c = mqtt_client(broker, pki.device(0), client_id=dev.id)
    assert c.connect(clean_start=False, session_expiry=3600)
    assert not c.subscribe(device_topic(dev.id, "acks"))[0].is_failure
    for i in items:
        assert c.wait_puback(c.publish(device_topic(dev.id, "records"), i.envelope)) == 0
    c.close()

    # The server comes back, stores them and publishes their acks, queued for the device.
    ingest_server.start()
    assert wait_until(lambda: ingest_server.stored_count() == 6, 30)
    acks_out = time.time()
    # The broker saves what changed within its configured interval; then it crashes.
    assert wait_until(lambda: db.exists() and db.stat().st_mtime > acks_out + 0.05, 30), \
        "the broker did not save its state"
    ingest_server.stop()  # nobody to answer a resend query: only the broker's memory can help
    broker.restart(crash=True)

    proxy = TcpProxy(broker.host, broker.port).start()
    try:
        via_proxy = dataclasses.replace(dev.settings, mqtt_url=proxy.url("mqtts"))
        dev2 = dataclasses.replace(dev, settings=via_proxy, agents=[], procs=[])
        devices.append(dev2)
        dev2.agent(dataclasses.replace(FAST, query_wait_s=600.0, ack_timeout_s=600.0))
        assert wait_until(lambda: dev.unacked() == 0, 30), f"{dev.unacked()} records not erased"
        assert proxy.bytes_up < body_bytes / 4, (proxy.bytes_up, body_bytes)  # no body went again
        assert set(ids) <= ingest_server.stored_ids()
    finally:
        proxy.close()
