"""MQTT ingest worker: one broker connection per server identity, on a shared subscription.

- MQTT v5, clean_start=False from the first connect plus SessionExpiryInterval:
  the broker keeps the subscription and queues records while the worker (or
  the broker) restarts.
- Records go from paho's network thread to one ingest thread, which takes
  every record waiting (up to ``[mqtt] max_batch``) and stores them in one
  transaction: one fsync per batch, not per record. Only after that commit
  does it queue each signed ack and send each PUBACK (paho's manual ack); a
  worker that dies in between gets the records again (and the store answers
  with the stored acks).
- A PUBACK names a packet id of one connection: after a reconnect the broker
  redelivers what was not acknowledged, so acks of the old connection are
  dropped rather than sent on the new one (where the id may name another
  message).
- The ack goes QoS 1 to ``fieldkit/v1/devices/{id}/acks``; if the connection is
  down paho queues it, and if the process dies the device's resend gets the
  same ack from the store.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from server_stub.core.store import StoreError
from server_stub.deploy.broker import ingest_share_topic
from server_stub.fleet.mqtt import FleetMqtt, status_share_topic
from server_stub.ingest.ingest import Ingestor, Outcome
from sync.common.tcp_nodelay import set_nodelay
from sync.wire import topics
from sync.wire.ack_query import AckQueryError, answer_query, decode_query, encode_answer
from sync.wire.envelope import MAX_ENVELOPE_BYTES
from sync.wire.topics import device_topic, topic_device

log = logging.getLogger("fieldkit.server.mqtt")

MAX_BATCH = 64  # records per transaction by default


@dataclass(frozen=True, slots=True)
class _Received:
    generation: int  # which connection delivered it (PUBACKs are per connection)
    mid: int
    qos: int
    peer: str
    payload: bytes
    query: bool = False  # a resend query (sync/wire/ack_query.py), not a record


def ack_topic(device_id: str) -> str:
    return device_topic(device_id, "acks")


class MqttWorker:
    def __init__(self, ingestor: Ingestor, *, host: str, port: int, ca_cert: Path, identity: str,
                 cert: Path, key: Path, share_group: str, session_expiry_s: int = 7 * 24 * 3600,
                 fleet: bool = True, max_batch: int = MAX_BATCH) -> None:
        self.ingestor = ingestor
        self.host, self.port = host, port
        self.identity = identity
        self.share_topic = ingest_share_topic(share_group)
        self.query_topic = topics.shared(share_group, "+", "query")
        self.queries_answered = 0
        self.session_expiry_s = session_expiry_s
        self.max_batch = max_batch
        self.subscribed = threading.Event()
        self.handled = 0  # messages processed (any outcome); two threads add to it
        self._count_lock = threading.Lock()
        self.acks_sent = 0
        self.batches = 0  # store transactions for records
        self.oversized = 0  # records larger than the largest legal envelope: dropped unread
        self._generation = 0
        self._generation_lock = threading.Lock()
        self._records: queue.Queue[_Received | None] = queue.Queue()
        self._ingest_thread: threading.Thread | None = None
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=identity, protocol=mqtt.MQTTv5,
                        manual_ack=True)
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_cert))
        ctx.load_cert_chain(str(cert), str(key))
        c.tls_set_context(ctx)
        c.reconnect_delay_set(min_delay=0.2, max_delay=5)  # type: ignore[arg-type]  # paho says int; takes float
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_subscribe = self._on_subscribe
        c.on_message = self._on_message
        self.client = c
        # Heartbeats in, commands out (server_stub/fleet/mqtt.py).
        self.status_topic = status_share_topic(share_group)
        self.fleet = FleetMqtt(ingestor.store, c) if fleet else None

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s  # absent = session dies at disconnect
        # Flow control: without it the broker may push its whole queued backlog (65,535 by default,
        # ~94 KB each) into this process at once. Two batches in flight keep the ingest thread fed.
        props.ReceiveMaximum = 2 * self.max_batch
        # connect_async + loop_start: paho keeps retrying until the broker is up.
        self._ingest_thread = threading.Thread(target=self._ingest_loop, name=f"{self.identity}-ingest",
                                               daemon=True)
        self._ingest_thread.start()
        self.client.connect_async(self.host, self.port, keepalive=30, clean_start=False, properties=props)
        self.client.loop_start()
        if self.fleet is not None:
            self.fleet.start()

    def wait_ready(self, timeout: float = 15.0) -> bool:
        return self.subscribed.wait(timeout)

    def stop(self) -> None:
        if self.fleet is not None:
            self.fleet.stop()
        if self._ingest_thread is not None:  # finish what was received: acks go out before we leave
            self._records.put(None)
            self._ingest_thread.join(30)
            self._ingest_thread = None
        self.client.disconnect()
        self.client.loop_stop()
        self.subscribed.clear()

    # --- callbacks (paho's network thread) --------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, rc: ReasonCode, _p: Any) -> None:
        set_nodelay(client)
        if rc.is_failure:
            log.error("%s: broker refused the connection: %s", self.identity, rc)
            return
        log.info("%s connected to %s:%d (session present: %s)", self.identity, self.host, self.port,
                 flags.session_present)
        self._new_generation()
        # Subscribing again on a present session is harmless and covers a lost one.
        subs = [(self.share_topic, SubscribeOptions(qos=1)), (self.query_topic, SubscribeOptions(qos=1))]
        if self.fleet is not None:  # one SUBSCRIBE: rcs[0] stays the records one
            subs.append((self.status_topic, SubscribeOptions(qos=1)))
        client.subscribe(subs)

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode | None, _p: Any) -> None:
        self.subscribed.clear()
        self._new_generation()  # before paho's reconnect() empties its send queue
        log.warning("%s disconnected (%s); paho reconnects", self.identity, rc)

    def _on_subscribe(self, _c: Any, _u: Any, _mid: int, rcs: list[ReasonCode], _p: Any) -> None:
        if rcs and not rcs[0].is_failure:
            self.subscribed.set()
        else:
            log.error("%s: subscription to %s refused: %s", self.identity, self.share_topic, rcs)

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        # An exception here would end paho's network thread: never let one escape.
        try:
            if self.fleet is not None and msg.topic.endswith("/status"):
                try:
                    self.fleet.on_status(msg.topic, bytes(msg.payload))
                finally:
                    self._count(1)
                    client.ack(msg.mid, msg.qos)
                return
            peer = topic_device(msg.topic, "records")
            asker = topic_device(msg.topic, "query")
            if asker is not None:
                # Into the records' queue, so a query is answered after the records that came
                # before it are stored.
                self._records.put(_Received(self._generation, msg.mid, msg.qos, asker,
                                            bytes(msg.payload), query=True))
                return
            if peer is None:
                log.warning("%s: ignoring message on unexpected topic %s", self.identity, msg.topic)
                self._count(1)
                client.ack(msg.mid, msg.qos)
                return
            if len(msg.payload) > MAX_ENVELOPE_BYTES:
                # The broker stops anything much larger (max_packet_size); what slips in between
                # is dropped here, counted, and PUBACKed so the broker does not redeliver it.
                with self._count_lock:
                    self.oversized += 1
                log.warning("%s: dropped a %d-byte message from %s (largest legal envelope %d)",
                            self.identity, len(msg.payload), peer, MAX_ENVELOPE_BYTES)
                self._count(1)
                client.ack(msg.mid, msg.qos)
                return
            self._records.put(_Received(self._generation, msg.mid, msg.qos, peer, bytes(msg.payload)))
        except Exception:
            log.exception("%s: failed to handle a message on %s", self.identity, msg.topic)
            with contextlib.suppress(Exception):  # free its slot of the receive window
                client.ack(msg.mid, msg.qos)

    def _count(self, n: int) -> None:
        with self._count_lock:
            self.handled += n

    # --- the ingest thread --------------------------------------------------------------

    def _ingest_loop(self) -> None:
        while True:
            first = self._records.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    nxt = self._records.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._records.put(None)  # stop after this batch
                    break
                batch.append(nxt)
            try:
                self._ingest_batch(batch)
            except Exception:
                log.exception("%s: failed to ingest a batch of %d records", self.identity, len(batch))
                # PUBACK anyway, as a crashed handler would: the device resends after its timeout.
                try:
                    self._puback(batch)
                except Exception:  # this thread must outlive any one batch
                    log.exception("%s: PUBACK failed", self.identity)
            finally:
                self._count(len(batch))

    def _ingest_batch(self, batch: list[_Received]) -> None:
        records = [r for r in batch if not r.query]
        results = self.ingestor.ingest_many([(r.payload, r.peer) for r in records], transport="mqtt") \
            if records else []
        self.batches += bool(records)
        for r, result in zip(records, results, strict=True):
            if result.outcome is Outcome.ACK:
                assert result.ack is not None
                self.client.publish(ack_topic(r.peer), result.ack, qos=1)
                self.acks_sent += 1
            else:
                # No ack: nothing to name (malformed), not ours to name (mismatch), or
                # retryable; the device resends after its ack timeout.
                log.warning("%s: no ack for a message from %s: %s (%s)", self.identity, r.peer,
                            result.outcome.value, result.detail)
        for r in batch:
            if r.query:
                self._answer(r)
        self._puback(batch)

    def _answer(self, r: _Received) -> None:
        """Answer a device's resend query on its own answer topic. A malformed query, one in
        another device's name, or a store that cannot answer gets no answer: the device
        sends the bodies after its wait, and nothing is lost."""
        try:
            q = decode_query(r.payload)
        except AckQueryError as e:
            log.warning("%s: malformed resend query from %s: %s", self.identity, r.peer, e)
            return
        if q.device_id != r.peer:
            log.warning("%s: resend query on %s's topic names %s", self.identity, r.peer, q.device_id)
            return
        try:
            held = self.ingestor.held_acks(r.peer, q.items)
        except StoreError as e:
            log.warning("%s: resend query from %s not answered: %s", self.identity, r.peer, e)
            return
        self.client.publish(device_topic(r.peer, "answer"), encode_answer(answer_query(q, held)), qos=1)
        self.queries_answered += 1

    def _new_generation(self) -> None:
        with self._generation_lock:
            self._generation += 1

    def _puback(self, batch: list[_Received]) -> None:
        # Under the lock: a PUBACK is queued on the connection that delivered the message, or
        # not at all (a disconnect in between bumps the generation first).
        with self._generation_lock:
            for r in batch:
                if r.generation == self._generation:
                    self.client.ack(r.mid, r.qos)
