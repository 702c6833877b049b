"""What the outbox's counts tell home besides the numbers: the oldest unacknowledged record's
time and the room erased records left inside the file (real SQLCipher)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.outbox import make_keys, new_outbox, tiny_record


def test_oldest_unacknowledged_time(tmp_path: Path) -> None:
    keys = make_keys()
    ob, _ = new_outbox(tmp_path, keys)
    assert ob.counts().oldest_created_ms is None
    ob.put(tiny_record(seed=1), keys.sealer())
    ob.put(tiny_record(seed=2), keys.sealer())
    first, second = ob.next_batch(2)
    assert ob.counts().oldest_created_ms == first.created_ms
    ob.mark_in_flight([first.record_id])  # in flight is still unacknowledged
    assert ob.counts().oldest_created_ms == first.created_ms
    ob.acknowledge(keys.ack_for(first), keys.verifier())
    assert ob.counts().oldest_created_ms == second.created_ms
    ob.acknowledge(keys.ack_for(second), keys.verifier())
    assert ob.counts().oldest_created_ms is None
    ob.close()


def test_erased_records_leave_reusable_room_the_next_ones_take(tmp_path: Path) -> None:
    keys = make_keys()
    ob, _ = new_outbox(tmp_path, keys)
    for seed in range(3):
        ob.put(tiny_record(seed=seed, image_bytes=60_000), keys.sealer())
    assert ob.counts().reusable_bytes == 0
    for item in ob.next_batch(3):
        ob.acknowledge(keys.ack_for(item), keys.verifier())  # erased, the WAL checkpointed
    freed = ob.counts().reusable_bytes
    assert freed >= 3 * 60_000  # the envelopes' pages, free inside the file
    size = ob.path.stat().st_size  # the file did not shrink: statvfs does not see that room
    ob.put(tiny_record(seed=9, image_bytes=60_000), keys.sealer())
    assert ob.checkpoint()
    assert ob.path.stat().st_size == size  # the new record went into the freed pages
    assert ob.counts().reusable_bytes <= freed - 60_000
    ob.close()
