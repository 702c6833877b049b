"""TCP_NODELAY for paho's socket (paho does not set it; Mosquitto does with
`set_tcp_nodelay true`). With Nagle on, a record's last segment or a small ack
waits for the peer's delayed ACK, ~40 ms per hop: 80 ms for one record's round
trip on loopback instead of a few."""

from __future__ import annotations

import contextlib
import socket

import paho.mqtt.client as mqtt


def set_nodelay(client: mqtt.Client) -> None:
    """Call from on_connect: the socket exists and is connected."""
    sock = client.socket()
    if sock is not None:
        with contextlib.suppress(OSError, AttributeError):  # not TCP (a test's socketpair): nothing to do
            # paho types it SocketLike, which lacks setsockopt (if really missing: AttributeError, suppressed)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[attr-defined]
