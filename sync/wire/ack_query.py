"""Acks re-requested: before resending a body, the device asks which records the server holds.

A device that sent a record and lost the connection (or waited past its ack timeout) does
not know whether the server stored it. Rather than resend ~50 KB blind, it sends a query
naming each such record by id and envelope hash; the server answers with the stored ack of
each one it holds (received or refused) and lists the ones it does not hold.

    query  = CBOR map { "v": 1, "dev": tstr, "qid": bstr(8),
                        "items": [ [record_id: bstr(16), envelope_sha256: bstr(32)], ... ] }
    answer = CBOR map { "v": 1, "qid": bstr(8), "acks": [ ack: bstr, ... ],
                        "missing": [ record_id: bstr(16), ... ] }

MQTT: the query on `fieldkit/v1/devices/{id}/query`, the answer on `.../answer` (QoS 1, the
device's own ACL prefix). HTTPS: `POST /v1/records/query` (the query as body, the answer as
response). Neither is signed beyond its transport's authentication, on purpose: each ack
inside an answer is the server's signed ack, verified by the outbox before any erase like
every other; a forged or lost "missing" only makes the device send the body again, which
the server deduplicates. So an answer can cost bytes but never a record.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cbor2

from sync.wire.ack import MAX_ACK_BYTES

QUERY_VERSION = 1
MAX_QUERY_ITEMS = 128       # one query names at most this many records (~6 KB)
QUERY_ID_BYTES = 8
MAX_QUERY_BYTES = 16 + MAX_QUERY_ITEMS * 56 + 256
MAX_ANSWER_BYTES = MAX_QUERY_ITEMS * (MAX_ACK_BYTES + 24) + 256


class AckQueryError(ValueError):
    """A query or answer that is not well formed (dropped, never an error to a user)."""


@dataclass(frozen=True, slots=True)
class AckQuery:
    device_id: str
    query_id: bytes
    items: tuple[tuple[uuid.UUID, bytes], ...]   # (record id, envelope SHA-256)


@dataclass(frozen=True, slots=True)
class AckAnswer:
    query_id: bytes
    acks: tuple[bytes, ...]             # signed acks of the records the server holds
    missing: tuple[uuid.UUID, ...]      # records the server does not hold: send their bodies


def new_query(device_id: str, items: Iterable[tuple[uuid.UUID, bytes]]) -> AckQuery:
    chosen = tuple(items)
    if not 0 < len(chosen) <= MAX_QUERY_ITEMS:
        raise ValueError(f"a query names 1-{MAX_QUERY_ITEMS} records, not {len(chosen)}")
    return AckQuery(device_id, os.urandom(QUERY_ID_BYTES), chosen)


def encode_query(q: AckQuery) -> bytes:
    return cbor2.dumps({"v": QUERY_VERSION, "dev": q.device_id, "qid": q.query_id,
                        "items": [[rid.bytes, sha] for rid, sha in q.items]})


def _map(data: bytes, limit: int, keys: set[str]) -> tuple[dict[str, object], bytes]:
    if len(data) > limit:
        raise AckQueryError(f"{len(data)} bytes, more than {limit}")
    try:
        m = cbor2.loads(data)
    except Exception:
        raise AckQueryError("not CBOR") from None
    if not isinstance(m, dict) or set(m) != keys or type(m.get("v")) is not int or m["v"] != QUERY_VERSION:
        raise AckQueryError("not a version-1 message of this kind")
    qid = m["qid"]
    if not isinstance(qid, bytes) or len(qid) != QUERY_ID_BYTES:
        raise AckQueryError("bad query id")
    return m, qid


def decode_query(data: bytes) -> AckQuery:
    m, qid = _map(data, MAX_QUERY_BYTES, {"v", "dev", "qid", "items"})
    dev, items = m["dev"], m["items"]
    if not isinstance(dev, str) or not dev or not isinstance(items, list):
        raise AckQueryError("bad device or items")
    if not 0 < len(items) <= MAX_QUERY_ITEMS:
        raise AckQueryError(f"{len(items)} items")
    out = []
    for it in items:
        if not (isinstance(it, list) and len(it) == 2 and isinstance(it[0], bytes) and len(it[0]) == 16
                and isinstance(it[1], bytes) and len(it[1]) == 32):
            raise AckQueryError("bad item")
        out.append((uuid.UUID(bytes=it[0]), it[1]))
    return AckQuery(dev, qid, tuple(out))


def encode_answer(a: AckAnswer) -> bytes:
    return cbor2.dumps({"v": QUERY_VERSION, "qid": a.query_id, "acks": list(a.acks),
                        "missing": [rid.bytes for rid in a.missing]})


def decode_answer(data: bytes) -> AckAnswer:
    m, qid = _map(data, MAX_ANSWER_BYTES, {"v", "qid", "acks", "missing"})
    acks, missing = m["acks"], m["missing"]
    if not (isinstance(acks, list) and isinstance(missing, list)
            and len(acks) + len(missing) <= MAX_QUERY_ITEMS):
        raise AckQueryError("bad lists")
    if not all(isinstance(a, bytes) and len(a) <= MAX_ACK_BYTES for a in acks):
        raise AckQueryError("bad ack")
    if not all(isinstance(r, bytes) and len(r) == 16 for r in missing):
        raise AckQueryError("bad record id")
    return AckAnswer(qid, tuple(acks), tuple(uuid.UUID(bytes=r) for r in missing))


def answer_query(q: AckQuery, held: Sequence[bytes | None]) -> AckAnswer:
    """SERVER side: the answer given the stored ack of each queried record (None: not held)."""
    if len(held) != len(q.items):
        raise ValueError("one stored ack (or None) per queried record")
    return AckAnswer(q.query_id, tuple(a for a in held if a is not None),
                     tuple(rid for (rid, _), a in zip(q.items, held, strict=True) if a is None))
