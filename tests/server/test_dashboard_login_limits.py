"""The login limiter's tables without HTTP: a full table must not forget who is in backoff, a flood
of new addresses is limited as a group, and IPv6 failures add up per /48 too."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import pytest

from server_stub.dashboard import login_limits
from server_stub.dashboard.login_limits import FORGET_S, LoginLimits


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


Make: TypeAlias = Callable[[int], tuple[LoginLimits, Clock]]


@pytest.fixture
def make(monkeypatch: pytest.MonkeyPatch) -> Make:
    def build(size: int) -> tuple[LoginLimits, Clock]:
        monkeypatch.setattr(login_limits, "MAX_KEYS", size)  # read when the limiter is built
        clock = Clock()
        return LoginLimits(clock=clock), clock

    return build


def fail(limits: LoginLimits, address: str, user: str) -> float:
    """One wrong password: the wait `begin` imposed (then not counted), or the wait after it."""
    wait = limits.begin(address, user)
    return wait if wait > 0 else limits.failed(address, user)


def test_a_full_table_keeps_the_backoff_of_tracked_addresses(make: Make) -> None:
    limits, clock = make(8)
    victim = "198.51.100.1"
    for i in range(11):
        fail(limits, victim, f"nadie-{i}")
    assert limits.begin(victim, "otro") > 0, "no backoff to start with"
    # Flood: one failure from each of many new addresses, more than the table holds.
    flood = [f"203.0.113.{i}" for i in range(40)]
    waits = [fail(limits, a, "x") for a in flood]
    assert limits.begin(victim, "otro") > 0, "a flood of new addresses reset a tracked address's backoff"
    # The addresses that did not fit share one bucket: after its free tries, they wait as a group.
    assert any(w > 0 for w in waits), f"the overflow is not limited as a group: {waits}"
    assert limits.begin("192.0.2.99", "y") > 0
    # A tracked address under its own limit is not held back by the flood's bucket.
    assert limits.begin(flood[0], "z") == 0.0
    limits.succeeded(flood[0], "z")
    # Entries that no longer count (a day after their last failure) make room again.
    clock.t += FORGET_S + 1
    assert limits.begin("192.0.2.99", "y") == 0.0
    assert limits.begin(victim, "otro") == 0.0


def test_a_full_pair_table_keeps_a_locked_pair(make: Make) -> None:
    limits, _ = make(8)
    for _i in range(5):
        fail(limits, "198.51.100.1", "coord")
    assert limits.begin("198.51.100.1", "coord") > 0
    # Another address fills the pair table with other names (still under its own address limit).
    for i in range(9):
        fail(limits, "198.51.100.2", f"nadie-{i}")
    assert limits.begin("198.51.100.1", "coord") > 0, "new pairs reset a locked pair"
    # The coordinator from another address is not affected.
    assert limits.begin("198.51.100.3", "coord") == 0.0


def test_ipv6_failures_add_up_per_48(make: Make) -> None:
    limits, _ = make(100_000)
    key = login_limits.address_key
    waits = [fail(limits, key(f"2001:db8:0:{i:x}::1"), f"nadie-{i}") for i in range(200)]
    first = next((i for i, w in enumerate(waits) if w > 0), None)
    print(f"\n[figures] one failure from each /64 of one /48: first wait after failure {first}")
    assert first is not None, "failures from many /64s of one /48 never add up"
    assert limits.begin(key("2001:db8:0:ffff::1"), "otro") > 0
    # Another /48 is not affected; nor is IPv4.
    assert limits.begin(key("2001:db8:1:1::1"), "otro") == 0.0
    assert limits.begin("198.51.100.1", "otro") == 0.0


def test_overflow_bucket_success_and_expiry() -> None:
    clock = Clock()
    limits = LoginLimits(clock=clock, max_keys=2)
    fail(limits, "198.51.100.1", "a")
    fail(limits, "198.51.100.2", "b")
    # The table is full: a third address is counted in the shared bucket; its success takes that
    # back, and clearing its (untracked) pair does not reset the bucket for the others.
    for i in range(9):
        fail(limits, f"203.0.113.{i}", "x")
    assert limits.begin("192.0.2.1", "coord") == 0.0
    limits.succeeded("192.0.2.1", "coord")
    assert fail(limits, "192.0.2.2", "y") > 0  # the 10th failure in the bucket (not the 11th)
    assert limits.begin("192.0.2.4", "coord") > 0  # every new address waits
    assert limits.begin("198.51.100.1", "a") == 0.0  # a tracked address keeps its own count
    # A success that brings a row back to zero frees its place for a new address.
    limits.succeeded("198.51.100.1", "a")
    limits.succeeded("198.51.100.1", "a")
    assert limits.begin("192.0.2.4", "coord") == 0.0
    # The bucket is forgotten a day after its last failure, like a row.
    clock.t += FORGET_S + 1
    for i in range(3):
        fail(limits, f"192.0.2.{10 + i}", "z")
    assert limits.begin("192.0.2.20", "z") == 0.0
