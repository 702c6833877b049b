"""MQTT transport: paho-mqtt 2.x, MQTT v5, mutual TLS, QoS 1, persistent session.

One paho client per connection: when a connection drops the agent closes it
and later opens a fresh one (clean_start=False, so the broker's session and the
acks queued in it survive). paho's in-memory resend queue is therefore never
relied on: the outbox is the truth and the agent resends what is unacked.
A PUBACK only means the broker took the message; it never erases anything.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from sync.common.tcp_nodelay import set_nodelay
from sync.outbox.outbox import OutboxItem
from sync.transport.base import AckSink, TLSFiles, TransportDown, Unauthorized
from sync.transport.dns import DNS_TIMEOUT_S, getaddrinfo_within
from sync.wire.topics import device_topics

SESSION_EXPIRY_S = 7 * 24 * 3600  # acks wait a week at the broker for a device that is away


def parse_mqtt_url(url: str) -> tuple[str, int]:
    u = urlsplit(url)
    if u.scheme != "mqtts" or not u.hostname:
        raise ValueError(f"not an mqtts:// URL: {url!r}")
    return u.hostname, u.port or 8883


# CONNACK / PUBACK reason codes that mean "not you" rather than "not now" (MQTT v5 3.2.2.2).
REFUSED_CREDENTIALS = {134, 135}   # bad user name or password, not authorized


class MqttTransport:
    name = "mqtt"
    acks_async = True
    reports_revocation = False

    def __init__(self, device_id: str, url: str, tls: TLSFiles, on_ack: AckSink,
                 wake: Callable[[], None], *, window: int = 32, keepalive_s: int = 30,
                 timeout_s: float = 10.0, on_command: AckSink | None = None,
                 on_answer: AckSink | None = None, dns_timeout_s: float = DNS_TIMEOUT_S) -> None:
        self.device_id = device_id
        self.host, self.port = parse_mqtt_url(url)
        self.tls = tls
        self.topics = device_topics(device_id)
        self.window = window
        self._on_ack = on_ack
        self._on_command = on_command  # signed server commands (sync/device/command_exec.py verifies them)
        self._on_answer = on_answer    # resend-query answers (sync/agent/resend.py)
        self._refused = False          # the broker refused our credentials or a publication
        self._query_mids: set[int] = set()
        self._failed: dict[int, ReasonCode] = {}   # refused publications, judged in check()
        self.queries_ok = True
        self._wake = wake
        self._keepalive = keepalive_s
        self._timeout = timeout_s
        self._dns_timeout = dns_timeout_s
        self._cond = threading.Condition()
        self._client: mqtt.Client | None = None
        self._connack: ReasonCode | None = None
        self._subacks: dict[int, list[ReasonCode]] = {}
        self._lost: str | None = None
        self._pubacks: dict[int, ReasonCode] = {}
        self.session_present = False

    # --- paho callbacks (its network thread) -----------------------------------------

    def _on_connect(self, c: mqtt.Client, _u: Any, flags: Any, rc: ReasonCode, _p: Any) -> None:
        set_nodelay(c)
        with self._cond:
            self._connack = rc
            self.session_present = bool(flags.session_present)
            self._cond.notify_all()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode | None, _p: Any) -> None:
        with self._cond:
            self._lost = f"desconectado del broker ({rc})"
            self._cond.notify_all()
        self._wake()

    def _on_connect_fail(self, _c: Any, _u: Any) -> None:
        with self._cond:
            self._lost = "falló la conexión con el broker"
            self._cond.notify_all()
        self._wake()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, rcs: list[ReasonCode], _p: Any) -> None:
        with self._cond:
            # Keyed by mid: the SUBACK may arrive before subscribe() has returned the mid.
            self._subacks[mid] = list(rcs)
            self._cond.notify_all()

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        with self._cond:
            self._pubacks[mid] = rc
            # 16 "no matching subscribers" is a success; 135 "not authorized" is not. What a
            # failure means is judged in check(), on the agent thread, which knows by then
            # whether the mid was a resend query's (the PUBACK may beat query() returning it).
            if rc.is_failure:
                self._failed[mid] = rc
                self._wake()
            self._cond.notify_all()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == self.topics["acks"]:
            self._on_ack(bytes(msg.payload), self.name)
        elif msg.topic == self.topics["commands"] and self._on_command is not None and msg.payload:
            self._on_command(bytes(msg.payload), self.name)
        elif msg.topic == self.topics["answer"] and self._on_answer is not None:
            self._on_answer(bytes(msg.payload), self.name)

    # --- transport API (agent thread) ------------------------------------------------

    def _make_client(self, will: dict[str, object]) -> mqtt.Client:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.device_id,
                        protocol=mqtt.MQTTv5)
        c.tls_set_context(self.tls.client_context())
        c.max_inflight_messages_set(self.window)
        c.connect_timeout = self._timeout
        c.will_set(self.topics["status"], json.dumps(will), qos=1, retain=True)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_connect_fail = self._on_connect_fail
        c.on_subscribe = self._on_subscribe
        c.on_publish = self._on_publish
        c.on_message = self._on_message
        return c

    def open(self) -> None:
        self._connack, self._lost, self._refused = None, None, False
        self._failed.clear()
        self._query_mids.clear()
        self._subacks.clear()
        self._pubacks.clear()
        c = self._make_client({"online": False, "device_id": self.device_id})
        props = Properties(PacketTypes.CONNECT)
        # Absent means 0 and the session (with its queued acks) would die at disconnect.
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        # open() <= DNS (dns_timeout_s) + TCP connect (timeout_s per address) + TLS handshake
        # (timeout_s) + CONNACK and SUBACK together (timeout_s): docs/sync.md, "Watchdog".
        getaddrinfo_within(self.host, self.port, self._dns_timeout)
        try:
            c.connect(self.host, self.port, keepalive=self._keepalive, clean_start=False,
                      properties=props)
        except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
            raise TransportDown(f"sin conexión con el broker {self.host}:{self.port}: {e}") from None
        self._client = c
        c.loop_start()
        deadline = time.monotonic() + self._timeout  # one budget for CONNACK and SUBACK
        with self._cond:
            self._cond.wait_for(lambda: self._connack is not None or self._lost is not None,
                                self._timeout)
        if self._connack is None or self._connack.is_failure:
            why = self._connack if self._connack is not None else (self._lost or "sin respuesta")
            self.close()
            if self._connack is not None and self._connack.value in REFUSED_CREDENTIALS:
                raise Unauthorized(f"el broker no aceptó la conexión: {why}")
            raise TransportDown(f"el broker no aceptó la conexión: {why}")
        # Subscribe (and wait for the SUBACK) before any publish, so no ack can be
        # published to a topic we are not yet subscribed to.
        subs = [(self.topics["acks"], 1)] + ([(self.topics["commands"], 1)] if self._on_command else []) \
            + ([(self.topics["answer"], 1)] if self._on_answer else [])
        rc, mid = c.subscribe(subs)
        with self._cond:
            ok = rc == mqtt.MQTT_ERR_SUCCESS and self._cond.wait_for(
                lambda: mid in self._subacks or self._lost is not None,
                max(0.0, deadline - time.monotonic()))
            suback = self._subacks.get(mid) if mid is not None else None
        if not ok or not suback or any(r.is_failure for r in suback):
            self.close()
            raise TransportDown(f"no se pudo suscribir a {self.topics['acks']}: {suback or self._lost}")

    def send(self, item: OutboxItem) -> None:
        c = self._client
        if c is None:
            raise TransportDown("sin conexión MQTT")
        info = c.publish(self.topics["records"], item.envelope, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise TransportDown(f"no se pudo publicar ({mqtt.error_string(info.rc)})")

    def query(self, data: bytes) -> None:
        c = self._client
        if c is None:
            raise TransportDown("sin conexión MQTT")
        info = c.publish(self.topics["query"], data, qos=1)
        self._query_mids.add(info.mid)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise TransportDown(f"no se pudo publicar ({mqtt.error_string(info.rc)})")

    def check(self) -> None:
        with self._cond:
            failed, self._failed = self._failed, {}
            if len(self._pubacks) > 4096:  # only failures matter; keep the dict small
                self._pubacks.clear()
        refused_now: str | None = None
        for mid, rc in failed.items():
            if mid in self._query_mids:
                # A broker whose ACL predates resend queries: none on this connection, the
                # bodies go (sync/agent/resend.py); the connection itself is fine.
                self.queries_ok = False
            else:
                self._refused = self._refused or rc.value in REFUSED_CREDENTIALS
                refused_now = refused_now or f"el broker rechazó una publicación ({rc})"
        if len(self._query_mids) > 4096:
            self._query_mids.clear()
        with self._cond:
            self._lost = self._lost or refused_now
            lost, refused = self._lost, self._refused
        if refused:
            raise Unauthorized(lost or "el broker rechazó una publicación")
        if lost is not None or self._client is None:
            raise TransportDown(lost or "sin conexión MQTT")

    def heartbeat(self, status: dict[str, object]) -> None:
        if self._client is not None:
            self._client.publish(self.topics["status"], json.dumps(status), qos=1, retain=True)

    def close(self, status: dict[str, object] | None = None) -> None:
        c, self._client = self._client, None
        if c is None:
            return
        if status is not None and self._lost is None:
            # A clean DISCONNECT suppresses the will, so say "offline" ourselves.
            info = c.publish(self.topics["status"], json.dumps(status), qos=1, retain=True)
            with self._cond:
                self._cond.wait_for(lambda: info.mid in self._pubacks or self._lost is not None, 2.0)
        # disconnect() also ends paho's reconnect wait at once, so loop_stop returns quickly.
        c.disconnect()
        c.loop_stop()
