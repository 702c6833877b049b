"""A name lookup with a deadline, for the transports.

``socket.getaddrinfo`` has no timeout: with a resolver that never answers it
blocks for as long as ``/etc/resolv.conf`` says (timeout x attempts x
nameservers, tens of seconds or more), and the agent's loop, which pings the
systemd watchdog, would stand still. So each transport looks its host up here
first: the lookup runs on a short-lived daemon thread and the loop waits at
most ``DNS_TIMEOUT_S`` for it. On timeout the connection attempt fails like any
other (the agent backs off); the abandoned lookup ends on its own when the
resolver gives up. The library's own lookup that follows is answered by the
same resolver a moment later.

The loop's thread waits here, it does not tick: a lookup that outlives the
deadline is a failed attempt, never a reason to keep pinging.
"""

from __future__ import annotations

import socket
import threading

from sync.transport.base import TransportDown

DNS_TIMEOUT_S = 10.0  # docs/sync.md, "Watchdog"

AddrInfo = list[tuple[int, int, int, str, tuple[object, ...]]]


def getaddrinfo_within(host: str, port: int, timeout_s: float = DNS_TIMEOUT_S) -> AddrInfo:
    """``socket.getaddrinfo(host, port, type=SOCK_STREAM)``, or TransportDown after
    ``timeout_s`` (or when the name does not resolve)."""
    out: list[AddrInfo] = []
    err: list[Exception] = []

    def lookup() -> None:
        try:
            out.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))  # type: ignore[arg-type]
        except (OSError, ValueError) as e:  # gaierror; a name IDNA cannot encode
            err.append(e)

    t = threading.Thread(target=lookup, name=f"dns {host}", daemon=True)
    t.start()
    t.join(timeout_s)
    if out:
        return out[0]
    if err:
        raise TransportDown(f"no se pudo resolver {host}: {err[0]}") from None
    raise TransportDown(f"no se pudo resolver {host}: sin respuesta del DNS en {timeout_s:.0f} s")
