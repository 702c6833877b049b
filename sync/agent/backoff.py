"""Exponential backoff with jitter and a cap, for reconnecting to the server.

Delays grow 1, 2, 4, ... s up to ``cap`` (30 s by default); each delay is drawn
uniformly from [d/2, d] ("equal jitter") so a fleet that lost the server at the
same moment does not come back in lock step, and no delay is ever near zero
(no busy loop). ``reset()`` after a success or when the network changes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    initial_s: float = 1.0
    factor: float = 2.0
    cap_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def __post_init__(self) -> None:
        if not (0 < self.initial_s <= self.cap_s) or self.factor < 1:
            raise ValueError("backoff needs 0 < initial_s <= cap_s and factor >= 1")

    def ceiling(self) -> float:
        """The un-jittered delay for the current failure count."""
        # Exponent capped so a device offline for weeks never overflows a float.
        return min(self.cap_s, self.initial_s * self.factor ** min(self.failures, 64))

    def next_delay(self) -> float:
        """Record one more failure and return how long to wait before the next try."""
        d = self.ceiling()
        self.failures += 1
        return self.rng.uniform(d / 2, d)

    def reset(self) -> None:
        self.failures = 0
