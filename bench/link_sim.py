"""Link simulator: a shaping TCP proxy between a device and the server or broker, for benchmarks.

    sim = LinkSim("127.0.0.1", broker_port, parse_profile("1M+rtt300+cuts")).start()
    ... point the device at sim.url("mqtts") ...
    print(sim.stats().up_bytes); sim.close()

What it models, per direction (device -> server is "up"):

- **Bandwidth**: one token bucket per direction, shared by every connection (one radio link);
  data leaves in segments of at most ``MSS`` bytes, so a large write trickles out as it would.
- **Latency**: each segment arrives ``rtt / 2`` after it left; delivery keeps order. A new
  connection carries no data for one RTT (the TCP handshake the proxy itself answers at once).
- **Loss**, as TCP shows it to the application: a user-space proxy cannot drop TCP segments
  (the kernel on both sides would retransmit at loopback speed), so this is a *model*: with
  probability ``loss`` a segment is delivered one RTO (``max(200 ms, 2 x RTT)``) late and
  everything behind it waits (head-of-line blocking), and its retransmission takes link
  capacity again (counted apart, ``*_retx_bytes``). Fast retransmit and the congestion
  window's collapse are not modelled.
- **Cuts**: every connection is reset and new ones are refused (accepted and reset at once)
  for a while; a ``CutProfile`` schedules them from a seed (up ``every_s +- jitter_s``, then
  down ``down_min_s..down_max_s``), or call ``cut()`` / ``restore()``.
- **Bytes**: TCP payload each way, counted as it crosses the simulated link (TLS records,
  MQTT and HTTP framing included; IP/TCP headers and pure ACKs are not). Bytes still queued
  behind the bottleneck when a cut comes never left, so they are not counted.

Each direction queues up to ``max(64 KiB, 2 x bandwidth-delay product)`` before it stops
reading, so the sender feels back-pressure as from a real bottleneck (the loopback socket
buffers hold more, as a phone's send buffer would).

Why not ``tc qdisc ... netem``: it was tried (as root, on a veth pair into a network
namespace, not on ``lo``): this machine's kernel has no netem ("Specified qdisc kind is
unknown"); ``tbf`` and ``htb`` exist but give only a rate, no delay, loss or cuts. Where
netem exists it would model loss more faithfully (real segment drops, real congestion
control), but it needs root and a namespace per run, and the bench must run anywhere; this
proxy needs neither. Run alone (a shaped port in front of any TCP service):

    .venv/bin/python bench/link_sim.py --target 127.0.0.1:8883 --profile 256k+rtt300+loss2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from link_profiles import MIN_RTO_S, MSS, CutProfile, LinkProfile, LinkStats, parse_profile

__all__ = ["MIN_RTO_S", "MSS", "CutProfile", "LinkProfile", "LinkSim", "LinkStats", "parse_profile"]

QUEUE_FLOOR = 64 * 1024    # per direction, before back-pressure
UPSTREAM_TIMEOUT_S = 5.0

T = TypeVar("T")


class _Bucket:
    """Token bucket in virtual time: ``reserve`` says when a chunk has left the link."""

    def __init__(self, bps: float | None, burst: int) -> None:
        self.rate = bps / 8 if bps else None  # bytes/s
        self.burst = float(burst)
        self.tokens = float(burst)
        self.t = 0.0

    def reserve(self, n: int, now: float) -> float:
        if self.rate is None:
            return now
        if now > self.t:
            self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
            self.t = now
        self.tokens -= n
        if self.tokens < 0:  # wait until the debt is paid; later chunks queue behind
            self.t += -self.tokens / self.rate
            self.tokens = 0.0
        return self.t

    def forget(self, now: float) -> None:
        """A cut: what was queued never leaves."""
        self.t = min(self.t, now)


@dataclass
class _Seg:
    data: bytes | None  # None: end of stream
    depart: float
    deliver: float


@dataclass
class _Pipe:
    """One direction of one connection: read, schedule, deliver in order."""

    sim: LinkSim
    up: bool
    src: asyncio.StreamReader
    dst: asyncio.StreamWriter
    rng: random.Random
    not_before: float
    q: deque[_Seg] = field(default_factory=deque)
    queued: int = 0
    last_deliver: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def pump(self) -> None:
        sim, loop = self.sim, asyncio.get_running_loop()
        step = MSS if sim.profile.shaped else 1 << 16
        while True:
            data = await self.src.read(1 << 16)
            sim.touch()
            for off in range(0, len(data), step):
                while self.queued >= sim.queue_limit:
                    self.changed.clear()
                    await self.changed.wait()
                self._schedule(data[off:off + step], loop.time())
            if not data:
                self._schedule(None, loop.time())
                return

    def _schedule(self, data: bytes | None, now: float) -> None:
        p, n = self.sim.profile, len(data or b"")
        bucket = self.sim.buckets[self.up]
        depart = bucket.reserve(n, max(now, self.not_before)) if n else max(now, self.not_before)
        deliver = depart + p.rtt_s / 2
        if n and p.loss and self.rng.random() < p.loss:
            again = bucket.reserve(n, now)  # the retransmission takes capacity too
            deliver = max(depart + p.rto_s, again) + p.rtt_s / 2
            self.sim.count(self.up, retx=n)
        self.last_deliver = max(deliver, self.last_deliver)
        self.q.append(_Seg(data, depart, self.last_deliver))
        self.queued += n
        self.changed.set()

    async def deliver(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self.q:
                self.changed.clear()
                await self.changed.wait()
            seg = self.q[0]
            if (wait := seg.deliver - loop.time()) > 0:
                await asyncio.sleep(wait)
            self.q.popleft()
            if seg.data is None:
                if self.dst.can_write_eof():
                    self.dst.write_eof()
                return
            self.queued -= len(seg.data)
            self.changed.set()
            self.sim.count(self.up, n=len(seg.data))
            self.dst.write(seg.data)
            await self.dst.drain()

    def in_air(self, now: float) -> int:
        """Bytes that had left the sender when the connection died."""
        return sum(len(s.data) for s in self.q if s.data is not None and s.depart <= now)


@dataclass(eq=False)  # kept in a set, by identity
class _Conn:
    writers: tuple[asyncio.StreamWriter, asyncio.StreamWriter]
    pipes: tuple[_Pipe, _Pipe]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def reset(self, sim: LinkSim, now: float) -> None:
        for p in self.pipes:
            sim.count(p.up, n=p.in_air(now))
            p.q.clear()
        for t in self.tasks:
            t.cancel()
        for w in self.writers:
            _reset(w)


def _reset(w: asyncio.StreamWriter) -> None:
    """Close with a TCP RST, as a dropped mobile link looks to the peer."""
    sock = w.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    w.transport.abort()


class LinkSim:
    """The proxy: an asyncio loop on its own thread; the public methods are thread-safe."""

    def __init__(self, target_host: str, target_port: int, profile: LinkProfile | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.profile = profile or LinkProfile()
        p = self.profile
        bdp = max(p.up_bps or 0, p.down_bps or 0) / 8 * p.rtt_s
        self.queue_limit = max(QUEUE_FLOOR, int(2 * bdp))
        self.buckets = {True: _Bucket(p.up_bps, p.burst_bytes), False: _Bucket(p.down_bps, p.burst_bytes)}
        self.cut_log: list[tuple[float, float]] = []  # (cut, restored) in seconds since start
        self._stats = LinkStats()
        self._up = True
        self._conns: set[_Conn] = set()
        self._sock = socket.create_server((host, port))
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="link-sim", daemon=True)
        self._t0 = time.monotonic()
        self._last_activity = time.monotonic()
        self._accepted = 0

    # --- public API (any thread) ------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    def url(self, scheme: str) -> str:
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> LinkSim:
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def cut(self) -> None:
        self._call(self._cut)

    def restore(self) -> None:
        self._call(self._restore)

    def stats(self) -> LinkStats:
        if not self._thread.is_alive():  # closed: the last figures stay
            return replace(self._stats)
        return self._call(lambda: replace(self._stats))

    def idle_s(self) -> float:
        """Seconds since a byte last moved either way."""
        return time.monotonic() - self._last_activity

    def close(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)
        self._sock.close()

    def __enter__(self) -> LinkSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the loop thread ----------------------------------------------------------------------

    def _call(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def touch(self) -> None:
        self._last_activity = time.monotonic()

    def count(self, up: bool, *, n: int = 0, retx: int = 0) -> None:
        s, d = self._stats, "up" if up else "down"
        for name, add in (("bytes", n), ("retx_bytes", retx), ("segments", -(-n // MSS))):
            setattr(s, f"{d}_{name}", getattr(s, f"{d}_{name}") + add)
        if n:
            self.touch()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        server = await asyncio.start_server(self._handle, sock=self._sock)
        schedule = None
        if self.profile.cuts is not None:
            schedule = asyncio.create_task(self._cut_schedule(self.profile.cuts))
        await self._stop.wait()
        if schedule is not None:
            schedule.cancel()
        server.close()
        self._drop_all()
        others = asyncio.all_tasks() - {asyncio.current_task()}
        if others:  # the connections' handlers end on their reset
            await asyncio.wait(others, timeout=2)

    async def _cut_schedule(self, c: CutProfile) -> None:
        rng = random.Random(f"cuts:{self.profile.seed}")
        while True:
            await asyncio.sleep(max(0.5, rng.uniform(c.every_s - c.jitter_s, c.every_s + c.jitter_s)))
            start = time.monotonic() - self._t0
            self._cut()
            await asyncio.sleep(rng.uniform(c.down_min_s, c.down_max_s))
            self._restore()
            self.cut_log.append((start, time.monotonic() - self._t0))

    def _cut(self) -> None:
        self._up = False
        self._stats.cuts += 1
        self._stats.dropped += len(self._conns)
        self._drop_all()

    def _drop_all(self) -> None:
        now = self._loop.time()
        conns, self._conns = self._conns, set()
        for c in conns:
            c.reset(self, now)
        for b in self.buckets.values():
            b.forget(now)

    def _restore(self) -> None:
        self._up = True

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        if not self._up:
            self._stats.refused += 1
            _reset(w)
            return
        try:
            ur, uw = await asyncio.wait_for(asyncio.open_connection(*self.target), UPSTREAM_TIMEOUT_S)
        except (OSError, TimeoutError):
            _reset(w)
            return
        if not self._up:  # cut while connecting upstream
            _reset(w)
            _reset(uw)
            return
        for x in (w, uw):
            with contextlib.suppress(OSError):
                x.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._stats.connections += 1
        self._accepted += 1
        now = self._loop.time()
        seed = f"{self.profile.seed}:{self._accepted}"
        up = _Pipe(self, True, r, uw, random.Random(f"{seed}:up"), now + self.profile.rtt_s)
        down = _Pipe(self, False, ur, w, random.Random(f"{seed}:down"), now)
        conn = _Conn((w, uw), (up, down))
        conn.tasks = [asyncio.create_task(f()) for f in (up.pump, up.deliver, down.pump, down.deliver)]
        self._conns.add(conn)
        await self._serve(conn)

    async def _serve(self, conn: _Conn) -> None:
        """Until both directions end (clean close), or one fails (reset: both sides see it)."""
        tasks = conn.tasks
        delivers = [tasks[1], tasks[3]]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            if any(t.exception() for t in done if not t.cancelled()):
                raise ConnectionError
            await asyncio.gather(*delivers)
            for w in conn.writers:
                w.close()
        except (ConnectionError, OSError, asyncio.CancelledError):
            if conn in self._conns:
                conn.reset(self, self._loop.time())
        finally:
            self._conns.discard(conn)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="proxy TCP con enlace simulado (banco de pruebas)")
    ap.add_argument("--target", required=True, help="host:puerto del servicio real")
    ap.add_argument("--profile", default="clean", help="p. ej. 1M+rtt300+loss2+cuts")
    ap.add_argument("--port", type=int, default=0, help="puerto local (0: cualquiera libre)")
    ap.add_argument("--seed", type=int, default=1)
    ns = ap.parse_args(argv)
    host, _, port = ns.target.rpartition(":")
    try:
        profile = parse_profile(ns.profile, ns.seed)
        sim = LinkSim(host or "127.0.0.1", int(port), profile, port=ns.port).start()
    except (ValueError, OSError) as e:
        print(f"link_sim: {e}", file=sys.stderr)
        return 2
    print(f"escuchando en 127.0.0.1:{sim.port} -> {ns.target} ({profile.name}); Ctrl-C para terminar")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        s = sim.stats()
        print(f"\nsubida {s.up_bytes} B, bajada {s.down_bytes} B, conexiones {s.connections}, "
              f"rechazadas {s.refused}, cortes {s.cuts}")
    finally:
        sim.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
