"""PIN failures and lockouts: the policy and its in-memory store (on a device the store is a
file: `kiosk.app.lockout.FileLockouts`). No Qt, no I/O; time is passed in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

MAX_PIN_FAILURES = 5
LOCKOUT_SECONDS = 60.0           # doubles with every further lockout, capped
LOCKOUT_MAX_SECONDS = 15 * 60.0


@dataclass
class _PinState:
    failures: int = 0
    lockouts: int = 0
    locked_until: float = 0.0


class LockoutStore(Protocol):
    """Where PIN failures and lockouts live (in memory here; on disk on a device: kiosk.app.lockout)."""

    def remaining(self, auxiliary_id: str, now: float) -> float: ...
    def failure(self, auxiliary_id: str, now: float) -> tuple[float, int]: ...  # (lockout s, tries left)
    def success(self, auxiliary_id: str) -> None: ...
    def clear(self, auxiliary_id: str) -> None: ...


@dataclass
class MemoryLockouts:
    """Lockout after MAX_PIN_FAILURES, doubling with every further lockout, capped."""

    pins: dict[str, _PinState] = field(default_factory=dict)

    def remaining(self, auxiliary_id: str, now: float) -> float:
        st = self.pins.get(auxiliary_id)
        return max(0.0, st.locked_until - now) if st else 0.0

    def failure(self, auxiliary_id: str, now: float) -> tuple[float, int]:
        st = self.pins.setdefault(auxiliary_id, _PinState())
        st.failures += 1
        if st.failures < MAX_PIN_FAILURES:
            return 0.0, MAX_PIN_FAILURES - st.failures
        st.lockouts += 1
        st.failures = 0
        wait = min(LOCKOUT_SECONDS * 2 ** (st.lockouts - 1), LOCKOUT_MAX_SECONDS)
        st.locked_until = now + wait
        return wait, 0

    def success(self, auxiliary_id: str) -> None:
        st = self.pins.get(auxiliary_id)
        if st is not None:
            st.failures = 0

    def clear(self, auxiliary_id: str) -> None:
        self.pins.pop(auxiliary_id, None)
