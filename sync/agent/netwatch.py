"""Notice that the network changed (a link came up, a route appeared) cheaply.

While offline the agent backs off up to 30 s between tries; reading these few
kernel files every 2 s lets it try at once when a Wi-Fi or modem link
appears, which is the ODK Collect lesson (auto-send must fire on reconnect).

Plain ``os`` calls and a byte comparison, no pathlib and no hashing: this runs
every 2 s for days, and with cold caches the pathlib + SHA-256 version cost
~6 ms of CPU a time here (~0.3 % of a core), the plain one ~2 ms.
"""

from __future__ import annotations

import os

# Per routes file, the columns that say where packets can go; the reference and use
# counters in the others move with traffic and would look like a change of network.
_ROUTES = (("/proc/net/route", (0, 1, 2, 3, 6, 7)),          # iface dest gw flags metric mask
           ("/proc/net/ipv6_route", (0, 1, 2, 3, 4, 5, 8, 9)))  # dest src next-hop metric flags dev
_NET = "/sys/class/net"
_MAX = 1 << 16


def _read(path: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return b"-"
    try:
        return os.read(fd, _MAX)
    except OSError:  # e.g. "carrier" of an interface that is down: EINVAL
        return b"?"
    finally:
        os.close(fd)


def _routes(path: str, keep: tuple[int, ...]) -> bytes:
    out = []
    for line in _read(path).splitlines():
        cols = line.split()
        out.append(b" ".join(cols[i] for i in keep if i < len(cols)))
    return b"\n".join(out)


def link_fingerprint() -> bytes:
    """Interface states and routes; the value changes when connectivity may have."""
    parts = [_routes(p, keep) for p, keep in _ROUTES]
    try:
        names = sorted(os.listdir(_NET))
    except OSError:
        names = []
    for name in names:
        # operstate alone stays "unknown" on some modem and PPP links; carrier moves there.
        parts += (name.encode(), _read(f"{_NET}/{name}/operstate"), _read(f"{_NET}/{name}/carrier"))
    return b"\0".join(parts)
