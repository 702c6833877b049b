"""How often the dashboard's login may be tried: per client address and per (account, address).

Two counters of failed tries, each with its own backoff, both kept in memory (per `serve`
process; a restart forgets them):

* per client address: 10 free failures, then the address waits 1 s after its next failure, then
  2 s, 4 s, … up to 15 min. This bounds what one address costs the server (every try that gets
  through costs one scrypt) and how fast it guesses, whatever user names it rotates through.
* per (account, address): 5 free failures, then that pair waits 5 min, then 10, 20, … up to 1 h.
  A coordinator on another address is not affected: an attacker cannot lock anyone out but itself.

There is no global per-account lock: any threshold on it is one an attacker with enough
addresses (an IPv6 /64 is one address here, a botnet is not) could reach to lock a coordinator
out, which is the attack this replaces. Many failures on one account from many addresses are
logged instead (every `ACCOUNT_LOG_EVERY`-th), for the operator to see.

A try is counted as a failure *before* the password is checked and taken back when it succeeds,
so concurrent tries cannot slip past the limit together. A refused try is not counted and costs
no hash. Counters are forgotten a day after their last failure; a success clears its
(account, address) pair but not the address (an attacker holding one valid account must not be
able to reset its address between guesses).

The client address is the connection's peer, except from a configured proxy
(`[dashboard] trusted_proxies`): then the right-most X-Forwarded-For entry that is not itself a
trusted proxy. IPv6 clients count by /64.
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
MAX_KEYS = 100_000  # per table; the oldest entries go first
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


@dataclass(slots=True)
class _Count:
    failures: int
    last: float


class _Table:
    """Failure counts by key with a policy; the caller holds the lock."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.rows: OrderedDict[str, _Count] = OrderedDict()

    def get(self, key: str, now: float) -> _Count | None:
        c = self.rows.get(key)
        if c is not None and now - c.last > FORGET_S:
            del self.rows[key]
            return None
        return c

    def wait(self, key: str, now: float) -> float:
        c = self.get(key, now)
        return max(0.0, c.last + self.policy.wait_after(c.failures) - now) if c else 0.0

    def add(self, key: str, now: float) -> None:
        c = self.get(key, now)
        if c is None:
            self.rows[key] = _Count(1, now)
            while len(self.rows) > MAX_KEYS:
                self.rows.popitem(last=False)
        else:
            c.failures, c.last = c.failures + 1, now
            self.rows.move_to_end(key)

    def take_back(self, key: str) -> None:
        c = self.rows.get(key)
        if c is not None:
            c.failures = max(0, c.failures - 1)

    def clear(self, key: str) -> None:
        self.rows.pop(key, None)


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


class LoginLimits:
    def __init__(self, trusted_proxies: Iterable[str] = (), *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.proxies = parse_networks(trusted_proxies)
        self.clock = clock
        self._lock = threading.Lock()
        self._address = _Table(ADDRESS)
        self._pair = _Table(PAIR)
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

    def begin(self, address: str, username: str) -> float:
        """Seconds to wait (the try is refused and not counted), or 0.0: the try may go ahead and
        is counted as a failure until `succeeded` takes it back."""
        now = self.clock()
        pair = self._pair_key(address, username)
        with self._lock:
            wait = max(self._address.wait(address, now), self._pair.wait(pair, now))
            if wait > 0:
                return wait
            self._address.add(address, now)
            self._pair.add(pair, now)
        return 0.0

    def failed(self, address: str, username: str) -> float:
        """After a wrong password (already counted by `begin`): logs what the operator should
        see and returns the seconds to wait before the next try (0.0: none)."""
        now = self.clock()
        name = username[:_MAX_NAME]
        pair = self._pair_key(address, username)
        with self._lock:
            n = self._account_failures.pop(name, 0) + 1
            self._account_failures[name] = n
            while len(self._account_failures) > MAX_KEYS:
                self._account_failures.popitem(last=False)
            p, a = self._pair.get(pair, now), self._address.get(address, now)
            wait = max(self._address.wait(address, now), self._pair.wait(pair, now))
        if p is not None and p.failures == PAIR.free:
            log.warning("login: %r locked from %r after %d failures", name, address, PAIR.free)
        if a is not None and a.failures == ADDRESS.free:
            log.warning("login: %r slowed down after %d failures", address, ADDRESS.free)
        if n % ACCOUNT_LOG_EVERY == 0:
            log.warning("login: %d failed tries on %r (all addresses) since it last logged in", n, name)
        return wait

    def succeeded(self, address: str, username: str) -> None:
        with self._lock:
            self._address.take_back(address)
            self._pair.clear(self._pair_key(address, username))
            self._account_failures.pop(username[:_MAX_NAME], None)


def wait_text(seconds: float) -> str:
    """The Spanish message for a refused try, with the time left rounded up."""
    if seconds < 60:
        return f"Demasiados intentos. Espere {max(1, math.ceil(seconds))} s."
    return f"Demasiados intentos. Espere {math.ceil(seconds / 60)} min."
