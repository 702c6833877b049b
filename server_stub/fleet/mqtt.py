"""The MQTT worker's fleet side: heartbeats in, commands out.

- Status: the worker subscribes to ``$share/<group>-status/fieldkit/v1/devices/+/status``
  (shared, so N workers store each heartbeat once). The broker's last will
  (``{"online": false}``) arrives the same way and marks the device offline.
- Commands: queued rows in ``device_commands`` are published QoS 1 to
  ``.../{id}/commands`` (a poller thread), and published again when a
  heartbeat shows the device has not applied them yet (it ignores repeats by seq).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt

from server_stub.core.store import Store, StoreError
from server_stub.fleet import command_issue as commands
from server_stub.fleet import tables as fleet
from sync.wire.topics import device_topic, shared, topic_device

log = logging.getLogger("fieldkit.server.fleet")
RESEND_EVERY_S = 30.0


def status_share_topic(group: str) -> str:
    return shared(f"{group}-status", "+", "status")


def command_topic(device_id: str) -> str:
    return device_topic(device_id, "commands")


class FleetMqtt:
    def __init__(self, store: Store, client: mqtt.Client, poll_s: float = 0.5) -> None:
        self.store, self.client, self.poll_s = store, client, poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._resent: dict[tuple[str, int], float] = {}
        self.oversized = 0  # status messages dropped unread for their size
        fleet.ensure_schema(store)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fleet-commands", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def on_status(self, topic: str, payload: bytes) -> None:
        dev = topic_device(topic, "status")
        if dev is None or not payload:
            return
        if len(payload) > fleet.MAX_STATUS_BYTES:
            self.oversized += 1  # the broker lets up to 8 MiB through; a status is never that
            log.warning("dropped a %d-byte status from %s (at most %d)", len(payload), dev,
                        fleet.MAX_STATUS_BYTES)
            return
        try:
            status: Any = json.loads(payload)
        except ValueError:
            log.warning("status of %s is not JSON", dev)
            return
        if not isinstance(status, dict):
            return
        hb = fleet.record_heartbeat(self.store, dev, status, "mqtt" if status.get("online") else "mqtt-lwt")
        if hb.online:
            self._resend(dev, hb.last_command_seq or 0)

    def _resend(self, dev: str, applied: int) -> None:
        now = time.monotonic()
        for c in commands.pending_commands(self.store, dev, applied):
            if now - self._resent.get((dev, c.seq), -1e9) >= RESEND_EVERY_S:
                self._resent[(dev, c.seq)] = now
                self.client.publish(command_topic(dev), c.command, qos=1)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                for c in commands.unpublished_commands(self.store):
                    info = self.client.publish(command_topic(c.device_id), c.command, qos=1)
                    if info.rc == mqtt.MQTT_ERR_SUCCESS:
                        commands.mark_published(self.store, c.device_id, c.seq)
                        self._resent[(c.device_id, c.seq)] = time.monotonic()
            except StoreError as e:
                log.warning("commands: store unavailable: %s", e)
            except Exception:
                log.exception("commands: publisher failed")
