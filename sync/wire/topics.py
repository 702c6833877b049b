"""The MQTT topic tree (v1), the one place that spells it (docs/protocol.md, "6. Transports").

    fieldkit/v1/devices/{device_id}/records    device -> server, QoS 1
    fieldkit/v1/devices/{device_id}/acks       server -> device, QoS 1
    fieldkit/v1/devices/{device_id}/status     device heartbeat, retained; LWT
    fieldkit/v1/devices/{device_id}/commands   server -> device, signed
    fieldkit/v1/devices/{device_id}/query      device -> server: which records do you hold? (QoS 1)
    fieldkit/v1/devices/{device_id}/answer     server -> device: their acks, and the ones missing

The broker's ACL patterns, the device's transport and the server's workers all
build their topics here, so the tree cannot drift between them.
"""

from __future__ import annotations

TOPIC_ROOT = "fieldkit/v1/devices"
LEAVES = ("records", "acks", "status", "commands", "query", "answer")


def device_topic(device_id: str, leaf: str) -> str:
    """`fieldkit/v1/devices/{device_id}/{leaf}`; `device_id` may be an ACL pattern (`%u`) or `+`."""
    if leaf not in LEAVES:
        raise ValueError(f"unknown topic leaf {leaf!r}")
    return f"{TOPIC_ROOT}/{device_id}/{leaf}"


def device_topics(device_id: str) -> dict[str, str]:
    """Every topic of one device, by leaf."""
    return {leaf: device_topic(device_id, leaf) for leaf in LEAVES}


def shared(group: str, device_id: str, leaf: str) -> str:
    """A shared subscription (`$share/{group}/...`): each message goes to one member of the group."""
    if not group or any(c in group for c in "/+#"):
        raise ValueError(f"invalid share group {group!r}")
    return f"$share/{group}/{device_topic(device_id, leaf)}"


def topic_device(topic: str, leaf: str) -> str | None:
    """The device id of `fieldkit/v1/devices/{id}/{leaf}`, else None."""
    root, tail = TOPIC_ROOT + "/", "/" + leaf
    if not topic.startswith(root) or not topic.endswith(tail):
        return None
    dev = topic[len(root):-len(tail)]
    return dev if dev and "/" not in dev else None
