"""How often the dashboard's login may be tried: per client address and per (account, address).

Two counters of failed tries, each with its own backoff, both kept in memory (per `serve`
process; a restart forgets them):

* per client address: 10 free failures, then the address waits 1 s after its next failure, then
  2 s, 4 s, … up to 15 min. This bounds what one address costs the server (every try that gets
  through costs one scrypt) and how fast it guesses, whatever user names it rotates through.
* per (account, address): 5 free failures, then that pair waits 5 min, then 10, 20, … up to 1 h.
  A coordinator on another address is not affected: an attacker cannot lock anyone out but itself.

IPv6 clients count by /64 (one host has a whole /64 to rotate through) and, a third counter, by
/48 (one site; a /47 is 131 072 /64s): 50 free failures from all its /64s together, then 1 s
doubling to 5 min (shorter than an address's cap: unrelated neighbours may share a /48).

There is no global per-account lock: any threshold on it is one an attacker with enough
addresses (an IPv6 /64 is one address here, a botnet is not) could reach to lock a coordinator
out, which is the attack this replaces. Many failures on one account from many addresses are
logged instead (every `ACCOUNT_LOG_EVERY`-th), for the operator to see.

A try is counted as a failure *before* the password is checked and taken back when it succeeds,
so concurrent tries cannot slip past the limit together. A refused try is not counted and costs
no hash. Counters are forgotten a day after their last failure; a success clears its
(account, address) pair but not the address (an attacker holding one valid account must not be
able to reset its address between guesses).

Memory is bounded (`MAX_KEYS` rows per table) without ever dropping a row that still counts
(before a day has passed since its last failure): evicting the oldest would let a flood of new
addresses reset the backoff of one in backoff. When a table is full of such rows, the addresses
(or /48s) without a row are counted together in one overflow bucket with the same policy: a
flood of new addresses is slowed down as a group, the tracked ones keep their own counts. The
pair table has no such bucket (one would lock every account out of every untracked address): a
pair that does not fit is not counted per pair, only by its address (and /48).

The client address is the connection's peer, except from a configured proxy
(`[dashboard] trusted_proxies`): then the right-most X-Forwarded-For entry that is not itself a
trusted proxy.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from server_stub.core.asgi import Scope

log = logging.getLogger("fieldkit.server.dashboard")

FORGET_S = 24 * 3600.0
MAX_KEYS = 100_000  # rows per table; when full of rows that still count, see _Table
ACCOUNT_LOG_EVERY = 50
_MAX_NAME = 65  # longer user names cannot exist (accounts: at most 64): one key for all of them

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Policy:
    free: int  # failures allowed before any wait
    base_s: float  # the first wait; it doubles with each further failure
    cap_s: float

    def wait_after(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return min(self.cap_s, self.base_s * 2.0 ** min(failures - self.free, 40))


ADDRESS = Policy(free=10, base_s=1.0, cap_s=15 * 60.0)
PAIR = Policy(free=5, base_s=5 * 60.0, cap_s=3600.0)
NET48 = Policy(free=50, base_s=1.0, cap_s=5 * 60.0)


@dataclass(slots=True)
class _Count:
    failures: int
    last: float


class _Table:
    """Failure counts by key with a policy; the caller holds the lock.

    Rows are kept in the order of their last failure. A row is dropped only when it no longer
    counts: `FORGET_S` after its last failure (longer than any wait) or when taken back to zero
    failures (the same as no row). When `max_keys` rows that still count fill the table, a key
    without a row is counted in `overflow`, one bucket shared by all such keys (`shared`), or,
    in a table that is not `shared`, not at all."""

    def __init__(self, name: str, policy: Policy, max_keys: int, *, shared: bool) -> None:
        assert policy.cap_s < FORGET_S, "a row must not be forgotten while it imposes a wait"
        self.name, self.policy, self.max_keys, self.shared = name, policy, max(1, max_keys), shared
        self.rows: OrderedDict[str, _Count] = OrderedDict()
        self.overflow = _Count(0, -math.inf)
        self._full_logged = False

    def _expire(self, now: float) -> None:
        while self.rows:
            key, c = next(iter(self.rows.items()))
            if now - c.last <= FORGET_S:
                break
            del self.rows[key]
        if self.overflow.failures and now - self.overflow.last > FORGET_S:
            self.overflow = _Count(0, -math.inf)
        if len(self.rows) < self.max_keys:
            self._full_logged = False

    def count(self, key: str, now: float) -> _Count | None:
        """What counts for `key`: its row, else the overflow bucket when the table is full (and
        `shared`), else None (no failures yet)."""
        self._expire(now)
        c = self.rows.get(key)
        if c is None and self.shared and len(self.rows) >= self.max_keys:
            return self.overflow
        return c

    def wait(self, key: str, now: float) -> float:
        c = self.count(key, now)
        return max(0.0, c.last + self.policy.wait_after(c.failures) - now) if c else 0.0

    def add(self, key: str, now: float) -> None:
        self._expire(now)
        c = self.rows.get(key)
        if c is not None:
            c.failures, c.last = c.failures + 1, now
            self.rows.move_to_end(key)
            return
        if len(self.rows) < self.max_keys:
            self.rows[key] = _Count(1, now)
            return
        if not self._full_logged:
            self._full_logged = True
            log.warning("login: %s table full (%d keys with failures in the last %d h): new ones %s",
                        self.name, len(self.rows), FORGET_S // 3600,
                        "are counted together" if self.shared else "are not counted per key")
        if self.shared:
            self.overflow.failures, self.overflow.last = self.overflow.failures + 1, now

    def take_back(self, key: str) -> None:
        """Undoes one `add` of `key`: from its row, else from the overflow bucket it went to. (If
        a row for the key appeared between the two, from a concurrent try that found room, that
        row is the one decremented: one failure misplaced, none invented.)"""
        c = self.rows.get(key)
        if c is None:
            if self.shared:
                self.overflow.failures = max(0, self.overflow.failures - 1)
            return
        c.failures -= 1
        if c.failures <= 0:
            del self.rows[key]

    def clear(self, key: str) -> None:
        """Forgets `key`'s own row (never the shared bucket: other keys' failures are in it)."""
        c = self.rows.get(key)
        if c is None:
            self.take_back(key)
        else:
            del self.rows[key]


def parse_networks(entries: Iterable[str]) -> list[IPNetwork]:
    return [ipaddress.ip_network(e, strict=False) for e in entries]


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address from a peer or X-Forwarded-For entry ("1.2.3.4", "1.2.3.4:80", "[::1]:80")."""
    t = text.strip()
    if t.startswith("[") and "]" in t:
        t = t[1:t.index("]")]
    elif t.count(":") == 1:
        t = t.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(t)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def address_key(text: str) -> str:
    """What is counted for a client: the address, an IPv6 address's /64, or the text itself."""
    ip = _ip(text)
    if ip is None:
        return text.strip()[:64] or "?"
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def net48_key(address: str) -> str | None:
    """The /48 around an IPv6 client's counted /64 (`address_key`); None for anything else."""
    if not address.endswith("/64"):
        return None
    try:
        net = ipaddress.IPv6Network(address)
    except ValueError:
        return None
    return str(net.supernet(new_prefix=48))


class LoginLimits:
    def __init__(self, trusted_proxies: Iterable[str] = (), *,
                 clock: Callable[[], float] = time.monotonic, max_keys: int | None = None) -> None:
        """`max_keys`: rows per table (default `MAX_KEYS`)."""
        self.proxies = parse_networks(trusted_proxies)
        self.clock = clock
        self.max_keys = MAX_KEYS if max_keys is None else max_keys
        self._lock = threading.Lock()
        self._address = _Table("address", ADDRESS, self.max_keys, shared=True)
        self._net48 = _Table("IPv6 /48", NET48, self.max_keys, shared=True)
        self._pair = _Table("(account, address)", PAIR, self.max_keys, shared=False)
        self._account_failures: OrderedDict[str, int] = OrderedDict()

    def _trusted(self, text: str) -> bool:
        ip = _ip(text)
        return ip is not None and any(ip in n for n in self.proxies)

    def client(self, scope: Scope) -> str:
        """The counted address of the request's client (see the module's docstring)."""
        peer = str((scope.get("client") or ("?", 0))[0])
        if not self.proxies or not self._trusted(peer):
            return address_key(peer)
        hops = [h.strip() for k, v in scope.get("headers") or [] if k.lower() == b"x-forwarded-for"
                for h in bytes(v).decode("latin-1").split(",") if h.strip()]
        for hop in reversed(hops):
            if not self._trusted(hop):
                return address_key(hop)
        return address_key(hops[0] if hops else peer)

    @staticmethod
    def _pair_key(address: str, username: str) -> str:
        return f"{address}\n{username[:_MAX_NAME]}"

    def _wait(self, address: str, net: str | None, pair: str, now: float) -> float:
        return max(self._address.wait(address, now), self._pair.wait(pair, now),
                   self._net48.wait(net, now) if net else 0.0)

    def begin(self, address: str, username: str) -> float:
        """Seconds to wait (the try is refused and not counted), or 0.0: the try may go ahead and
        is counted as a failure until `succeeded` takes it back."""
        now = self.clock()
        pair, net = self._pair_key(address, username), net48_key(address)
        with self._lock:
            wait = self._wait(address, net, pair, now)
            if wait > 0:
                return wait
            self._address.add(address, now)
            self._pair.add(pair, now)
            if net:
                self._net48.add(net, now)
        return 0.0

    def failed(self, address: str, username: str) -> float:
        """After a wrong password (already counted by `begin`): logs what the operator should
        see and returns the seconds to wait before the next try (0.0: none)."""
        now = self.clock()
        name = username[:_MAX_NAME]
        pair, net = self._pair_key(address, username), net48_key(address)
        with self._lock:
            n = self._account_failures.pop(name, 0) + 1
            self._account_failures[name] = n
            while len(self._account_failures) > self.max_keys:
                self._account_failures.popitem(last=False)
            p, a = self._pair.rows.get(pair), self._address.count(address, now)
            a_shared = a is self._address.overflow
            w = self._net48.count(net, now) if net else None
            w_shared = w is self._net48.overflow
            wait = self._wait(address, net, pair, now)
        if p is not None and p.failures == PAIR.free:
            log.warning("login: %r locked from %r after %d failures", name, address, PAIR.free)
        if a is not None and a.failures == ADDRESS.free:
            log.warning("login: %s slowed down after %d failures",
                        "new addresses (table full)" if a_shared else repr(address), ADDRESS.free)
        if w is not None and w.failures == NET48.free:
            log.warning("login: %s slowed down after %d failures",
                        "new IPv6 /48s (table full)" if w_shared else repr(net), NET48.free)
        if n % ACCOUNT_LOG_EVERY == 0:
            log.warning("login: %d failed tries on %r (all addresses) since it last logged in", n, name)
        return wait

    def succeeded(self, address: str, username: str) -> None:
        net = net48_key(address)
        with self._lock:
            self._address.take_back(address)
            if net:
                self._net48.take_back(net)
            self._pair.clear(self._pair_key(address, username))
            self._account_failures.pop(username[:_MAX_NAME], None)


def wait_text(seconds: float) -> str:
    """The Spanish message for a refused try, with the time left rounded up."""
    if seconds < 60:
        return f"Demasiados intentos. Espere {max(1, math.ceil(seconds))} s."
    return f"Demasiados intentos. Espere {math.ceil(seconds / 60)} min."
