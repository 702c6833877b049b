"""MQTT ingest worker: one broker connection per server identity, on a shared subscription.

- MQTT v5, clean_start=False from the first connect plus SessionExpiryInterval:
  the broker keeps the subscription and queues records while the worker (or
  the broker) restarts.
- paho sends the PUBACK for a record only after ``on_message`` returns, i.e.
  after the record is stored and its ack is queued; a worker that dies in
  between gets the record again (and the store answers with the stored ack).
- The ack goes QoS 1 to ``fieldkit/v1/devices/{id}/acks``; if the connection is
  down paho queues it, and if the process dies the device's resend gets the
  same ack from the store.
"""

from __future__ import annotations

import logging
import ssl
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from server_stub.broker import TOPIC_ROOT, ingest_share_topic, topic_device
from server_stub.fleet_mqtt import FleetMqtt, status_share_topic
from server_stub.ingest import Ingestor, Outcome

log = logging.getLogger("fieldkit.server.mqtt")


def ack_topic(device_id: str) -> str:
    return f"{TOPIC_ROOT}/{device_id}/acks"


class MqttWorker:
    def __init__(self, ingestor: Ingestor, *, host: str, port: int, ca_cert: Path, identity: str,
                 cert: Path, key: Path, share_group: str, session_expiry_s: int = 7 * 24 * 3600,
                 fleet: bool = True) -> None:
        self.ingestor = ingestor
        self.host, self.port = host, port
        self.identity = identity
        self.share_topic = ingest_share_topic(share_group)
        self.session_expiry_s = session_expiry_s
        self.subscribed = threading.Event()
        self.handled = 0  # messages processed (any outcome)
        self.acks_sent = 0
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=identity, protocol=mqtt.MQTTv5)
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_cert))
        ctx.load_cert_chain(str(cert), str(key))
        c.tls_set_context(ctx)
        c.reconnect_delay_set(min_delay=0.2, max_delay=5)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_subscribe = self._on_subscribe
        c.on_message = self._on_message
        self.client = c
        # Heartbeats in, commands out (server_stub/fleet_mqtt.py).
        self.status_topic = status_share_topic(share_group)
        self.fleet = FleetMqtt(ingestor.store, c) if fleet else None

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s  # absent = session dies at disconnect
        # connect_async + loop_start: paho keeps retrying until the broker is up.
        self.client.connect_async(self.host, self.port, keepalive=30, clean_start=False, properties=props)
        self.client.loop_start()
        if self.fleet is not None:
            self.fleet.start()

    def wait_ready(self, timeout: float = 15.0) -> bool:
        return self.subscribed.wait(timeout)

    def stop(self) -> None:
        if self.fleet is not None:
            self.fleet.stop()
        self.client.disconnect()
        self.client.loop_stop()
        self.subscribed.clear()

    # --- callbacks (paho's network thread) --------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, rc: ReasonCode, _p: Any) -> None:
        if rc.is_failure:
            log.error("%s: broker refused the connection: %s", self.identity, rc)
            return
        log.info("%s connected to %s:%d (session present: %s)", self.identity, self.host, self.port,
                 flags.session_present)
        # Subscribing again on a present session is harmless and covers a lost one.
        subs = [(self.share_topic, SubscribeOptions(qos=1))]
        if self.fleet is not None:  # one SUBSCRIBE: rcs[0] stays the records one
            subs.append((self.status_topic, SubscribeOptions(qos=1)))
        client.subscribe(subs)

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode | None, _p: Any) -> None:
        self.subscribed.clear()
        log.warning("%s disconnected (%s); paho reconnects", self.identity, rc)

    def _on_subscribe(self, _c: Any, _u: Any, _mid: int, rcs: list[ReasonCode], _p: Any) -> None:
        if rcs and not rcs[0].is_failure:
            self.subscribed.set()
        else:
            log.error("%s: subscription to %s refused: %s", self.identity, self.share_topic, rcs)

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        # An exception here would end paho's network thread: never let one escape.
        try:
            self._handle(client, msg)
        except Exception:
            log.exception("%s: failed to handle a message on %s", self.identity, msg.topic)
        finally:
            self.handled += 1

    def _handle(self, client: mqtt.Client, msg: mqtt.MQTTMessage) -> None:
        if self.fleet is not None and msg.topic.endswith("/status"):
            self.fleet.on_status(msg.topic, bytes(msg.payload))
            return
        peer = topic_device(msg.topic, "records")
        if peer is None:
            log.warning("%s: ignoring message on unexpected topic %s", self.identity, msg.topic)
            return
        result = self.ingestor.ingest(bytes(msg.payload), transport="mqtt", peer_device_id=peer)
        if result.outcome is Outcome.ACK:
            assert result.ack is not None
            client.publish(ack_topic(peer), result.ack, qos=1)
            self.acks_sent += 1
        else:
            # No ack: nothing to name (malformed), not ours to name (mismatch), or
            # retryable; the device resends after its ack timeout.
            log.warning("%s: no ack for a message from %s: %s (%s)", self.identity, peer,
                        result.outcome.value, result.detail)
