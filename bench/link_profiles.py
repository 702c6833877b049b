"""Link profiles for bench/link_sim.py: what a simulated uplink is (rate each way, round trip,
loss, seeded cuts), parsed from short specs such as ``256k+rtt300+loss2`` or ``1M/5M+cuts``,
and the byte counts a run reports. ``python bench/link_profiles.py SPEC`` prints a parse."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, replace

MSS = 1448                 # bytes of payload per TCP segment (1500 MTU, IPv4, timestamps)
MIN_RTO_S = 0.2            # Linux's floor for the retransmission timeout


@dataclass(frozen=True)
class CutProfile:
    every_s: float = 20.0     # link up this long (+- jitter_s) between cuts
    jitter_s: float = 10.0
    down_min_s: float = 2.0   # then down this long (uniform)
    down_max_s: float = 5.0


@dataclass(frozen=True)
class LinkProfile:
    name: str = "clean"
    up_bps: float | None = None     # device -> server, bits/s; None: not limited
    down_bps: float | None = None   # server -> device
    rtt_s: float = 0.0
    loss: float = 0.0               # probability per segment of a retransmission stall
    cuts: CutProfile | None = None
    seed: int = 1
    burst_bytes: int = 2 * MSS      # token bucket depth

    @property
    def rto_s(self) -> float:
        return max(MIN_RTO_S, 2 * self.rtt_s)

    @property
    def shaped(self) -> bool:
        return bool(self.up_bps or self.down_bps or self.rtt_s or self.loss)


_NUM = r"(\d+(?:\.\d+)?)"
_RATE = re.compile(rf"^{_NUM}([kKmM])$")
_TOKEN = re.compile(rf"^(rtt|loss){_NUM}$")


def _rate(text: str) -> float:
    m = _RATE.match(text)
    if not m:
        raise ValueError(f"no entiendo {text!r} en el perfil (ejemplos: 256k, 1M/5M, rtt300, loss2, cuts)")
    return float(m.group(1)) * (1e3 if m.group(2) in "kK" else 1e6)


def parse_profile(spec: str, seed: int = 1) -> LinkProfile:
    """``clean`` or tokens joined by ``+``: a rate for both directions (``256k``, ``1M``) or
    up/down (``1M/5M``), ``rtt<ms>``, ``loss<percent>``, ``cuts`` (the default CutProfile)."""
    p = LinkProfile(name=spec, seed=seed)
    for tok in spec.split("+"):
        if tok == "clean":
            continue
        if tok == "cuts":
            p = replace(p, cuts=CutProfile())
        elif m := _TOKEN.match(tok):
            value = float(m.group(2))
            p = replace(p, rtt_s=value / 1000) if m.group(1) == "rtt" else replace(p, loss=value / 100)
        else:
            up, _, down = tok.partition("/")
            p = replace(p, up_bps=_rate(up), down_bps=_rate(down or up))
    if not 0 <= p.loss < 1:
        raise ValueError(f"pérdida fuera de rango en {spec!r}")
    return p


@dataclass
class LinkStats:
    up_bytes: int = 0          # payload that crossed the link, device -> server
    down_bytes: int = 0
    up_retx_bytes: int = 0     # modelled retransmissions (loss), not in *_bytes
    down_retx_bytes: int = 0
    up_segments: int = 0
    down_segments: int = 0
    connections: int = 0       # forwarded
    refused: int = 0           # reset at once: the link was down
    cuts: int = 0
    dropped: int = 0           # connections reset by a cut


if __name__ == "__main__":
    for spec in sys.argv[1:] or ["1M+rtt300+cuts"]:
        print(parse_profile(spec))
