"""Test-side MQTT helpers: a throwaway PKI on disk and a paho-mqtt 2.x client
wrapper that records what the broker answered (CONNACK, PUBACK, SUBACK
reason codes, messages) and lets tests wait on conditions instead of sleeping.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from server_stub.deploy import pki
from server_stub.deploy.broker import BrokerTLS
from server_stub.deploy.broker_process import Broker

NOT_AUTHORIZED = 135  # MQTT v5 reason code 0x87
TIMEOUT = 10.0  # generous: a loaded 2-core CI box


@dataclass(frozen=True)
class Identity:
    name: str  # certificate CN = MQTT username = client id
    cert: Path
    key: Path


@dataclass(frozen=True)
class PKIPaths:
    dir: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    server: Identity  # the server's own MQTT client (server:ingest)
    devices: dict[str, Identity]
    # A complete second PKI: a client with its cert must be refused.
    foreign_ca_cert: Path
    foreign_device: Identity

    @property
    def broker_tls(self) -> BrokerTLS:
        return BrokerTLS(self.ca_cert, self.server_cert, self.server_key)

    def device(self, i: int) -> Identity:
        return list(self.devices.values())[i]

    def load_ca(self) -> pki.Issued:
        return pki.load_ca(self.ca_cert, self.ca_key)


def _write_identity(root: Path, issued: pki.Issued) -> Identity:
    name = pki.cert_common_name(issued.cert)
    stem = name.replace(":", "_")
    cert, key = pki.write_issued(issued, root / f"{stem}.crt", root / f"{stem}.key")
    assert key is not None
    return Identity(name, cert, key)


def build_pki(root: Path, device_ids: Iterable[str]) -> PKIPaths:
    root.mkdir(parents=True, exist_ok=True)
    ca = pki.make_ca("fieldkit test CA")
    server = pki.issue_server_cert(ca)
    ca_cert, ca_key = pki.write_issued(ca, root / "ca.crt", root / "ca.key")
    server_cert, server_key = pki.write_issued(server, root / "server.crt", root / "server.key")
    assert ca_key is not None and server_key is not None
    devices = {d: _write_identity(root, pki.issue_device_cert(ca, d)) for d in device_ids}
    ident = _write_identity(root, pki.issue_server_identity(ca, "server:ingest"))
    # Same CN as a real device, signed by an unrelated CA.
    other = pki.make_ca("impostor CA")
    foreign_ca_cert = pki.write_cert(root / "foreign-ca.crt", other.cert)
    first = next(iter(devices))
    fdev = pki.issue_device_cert(other, first)
    fcert, fkey = pki.write_issued(fdev, root / "foreign-dev.crt", root / "foreign-dev.key")
    assert fkey is not None
    return PKIPaths(
        root, ca_cert, ca_key, server_cert, server_key, ident, devices,
        foreign_ca_cert, Identity(first, fcert, fkey),
    )  # fmt: skip


def tls_context(ca_cert: Path, identity: Identity | None) -> ssl.SSLContext:
    """Pinned CA, hostname checked, client certificate when given."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_cert))
    if identity is not None:
        ctx.load_cert_chain(str(identity.cert), str(identity.key))
    return ctx


def make_client(
    ca_cert: Path,
    identity: Identity | None,
    *,
    client_id: str | None = None,
) -> mqtt.Client:
    """A bare paho 2.x client: VERSION2 callbacks, MQTT v5, mutual TLS."""
    cid = client_id if client_id is not None else (identity.name if identity else "")
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
    c.tls_set_context(tls_context(ca_cert, identity))
    return c


def connect_properties(session_expiry: int) -> Properties:
    props = Properties(PacketTypes.CONNECT)
    # Absent means 0: the session dies at disconnect.
    props.SessionExpiryInterval = session_expiry
    return props


@dataclass
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool


@dataclass
class TestClient:
    """paho client + a record of everything the broker told it."""

    __test__ = False  # not a pytest test class

    client: mqtt.Client
    broker: Broker
    connack: ReasonCode | None = None
    session_present: bool | None = None
    disconnects: list[ReasonCode | None] = field(default_factory=list)
    connect_errors: list[str] = field(default_factory=list)
    pubacks: dict[int, ReasonCode] = field(default_factory=dict)
    subacks: dict[int, list[ReasonCode]] = field(default_factory=dict)
    messages: list[Received] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        c = self.client
        c.on_connect = self._on_connect
        c.on_connect_fail = self._on_connect_fail
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_subscribe = self._on_subscribe
        c.on_message = self._on_message

    # --- callbacks (paho's network thread) ----------------------------------

    def _notify(self, fn: Callable[[], None]) -> None:
        with self._cond:
            fn()
            self._cond.notify_all()

    def _on_connect(self, _c: Any, _u: Any, flags: Any, rc: ReasonCode, _p: Any) -> None:
        def f() -> None:
            self.connack = rc
            self.session_present = bool(flags.session_present)

        self._notify(f)

    def _on_connect_fail(self, _c: Any, _u: Any) -> None:
        self._notify(lambda: self.connect_errors.append("connect failed"))

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode | None, _p: Any) -> None:
        self._notify(lambda: self.disconnects.append(rc))

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        self._notify(lambda: self.pubacks.__setitem__(mid, rc))

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, rcs: list[ReasonCode], _p: Any) -> None:
        self._notify(lambda: self.subacks.__setitem__(mid, list(rcs)))

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        rec = Received(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain))
        self._notify(lambda: self.messages.append(rec))

    # --- test API -------------------------------------------------------------

    def wait_for(self, pred: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
        with self._cond:
            return self._cond.wait_for(pred, timeout)

    def connect(self, *, clean_start: bool = True, session_expiry: int = 0, timeout: float = TIMEOUT) -> bool:
        """True once a successful CONNACK arrives; False if the broker refuses
        (TLS alert, CONNACK failure or disconnect) or nothing comes in time."""
        self.connack = None
        self.disconnects.clear()
        self.connect_errors.clear()
        try:
            self.client.connect(
                self.broker.host,
                self.broker.port,
                keepalive=30,
                clean_start=clean_start,
                properties=connect_properties(session_expiry),
            )
        except (OSError, ssl.SSLError) as exc:
            self.connect_errors.append(repr(exc))
            return False
        self.client.loop_start()
        self.wait_for(
            lambda: self.connack is not None or bool(self.disconnects or self.connect_errors),
            timeout,
        )
        ok = self.connack is not None and not self.connack.is_failure
        if not ok:
            self.close()
        return ok

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, info.rc
        return info.mid

    def wait_puback(self, mid: int, timeout: float = TIMEOUT) -> ReasonCode:
        assert self.wait_for(lambda: mid in self.pubacks, timeout), f"no PUBACK for mid {mid}"
        return self.pubacks[mid]

    def subscribe(self, topic: str, qos: int = 1, timeout: float = TIMEOUT) -> list[ReasonCode]:
        rc, mid = self.client.subscribe(topic, qos=qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS, rc
        assert mid is not None
        assert self.wait_for(lambda: mid in self.subacks, timeout), f"no SUBACK for {topic}"
        return self.subacks[mid]

    def wait_messages(self, n: int, timeout: float = TIMEOUT) -> list[Received]:
        self.wait_for(lambda: len(self.messages) >= n, timeout)
        return list(self.messages)

    def close(self) -> None:
        """Disconnect cleanly (if connected) and stop the network thread."""
        if self.client.is_connected():
            self.client.disconnect()
            self.wait_for(lambda: bool(self.disconnects), 5)
        else:
            # Also ends paho's reconnect back-off at once, so loop_stop won't wait.
            self.client.disconnect()
        self.client.loop_stop()


# What the `mqtt_client` fixture yields: (broker, identity, *, ca_cert, client_id).
MqttClientFactory = Callable[..., TestClient]


def wait_until(pred: Callable[[], bool], timeout: float = TIMEOUT, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()
