"""The overview's alerts banner: which devices need a coordinator's look, from the device
rows alone (pure: `DeviceRow`s and `now_ms` in, alerts out; nothing stored).

An alert is a condition, not an event: it is worked out on every page view, so it goes
away by itself when its condition does (a fresh heartbeat, a drained queue).

- HELD, "registros sin enviar": an active device's last heartbeat reports a queue
  (``pending`` > 0) whose oldest record is now older than HELD_MS. The heartbeat carries
  ``oldest_pending_age_s`` (sync/agent/status.py: the outbox's oldest unacknowledged record,
  at heartbeat time); its age now is that plus the time since the heartbeat, as nothing
  newer says it left. A heartbeat without it (an agent that could not read its outbox)
  counts from the heartbeat: the queue was there at least that long.
- SILENT, "sin latido": an active device whose last heartbeat (or its registration, if it
  never sent one) is older than SILENT_MS.
- BATTERY, "batería baja": an active device whose last heartbeat reports the battery at or
  below BATTERY_PCT (15 %): it will go silent soon, perhaps holding records.
- WINDOW, "cierra el plazo de envío": a process whose 24 h sending window (after its period)
  closes within WINDOW_MS while devices working for it still report unsent records: after
  that the server takes nothing more for it, so those supports would not count.

- ACTIVATIONS, "muchos códigos de activación": an active self-service device that issued more
  than SURGE_FACTOR times the median of the self-service devices' activation codes in the last
  24 h, and at least SURGE_MIN: someone may be asking codes in bulk (`activation_surges`).

Revoked devices raise neither: they are meant to be silent, and the server refuses what
they hold, so such an alert could never clear (the revocation message tells the count).

Most severe first: WINDOW (supports about to be lost for good), HELD (supports that exist
and are not on the server), ACTIVATIONS, SILENT, BATTERY; within each, the oldest first.

The thresholds are `Thresholds`, from `[alerts]` in server.toml (the defaults below); the
same alerts go out by e-mail as a digest (`digest.py`) when `[alerts] digest_to` is set.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from server_stub.core.config import AlertsSection
from server_stub.dashboard.data import DeviceRow, Window

HOUR_MS = 3600 * 1000
SILENT_MS = 6 * HOUR_MS  # no heartbeat for this long: a device off, broken or out of coverage
HELD_MS = 24 * HOUR_MS  # an unsent record this old: the device is not getting its records out
BATTERY_PCT = 15.0
WINDOW_MS = 24 * HOUR_MS  # a sending window closing this soon, with records still on devices

SURGE_FACTOR = 3  # activation codes of a device in 24 h above this many times the median...
SURGE_MIN = 20  # ...and at least this many

HELD, SILENT, BATTERY, WINDOW, ACTIVATIONS = "held", "silent", "battery", "window", "activations"
_RANK = {WINDOW: 0, HELD: 1, ACTIVATIONS: 2, SILENT: 3, BATTERY: 4}


@dataclass(frozen=True, slots=True)
class Thresholds:
    silent_ms: int = SILENT_MS
    held_ms: int = HELD_MS
    battery_pct: float = BATTERY_PCT
    window_ms: int = WINDOW_MS

    @classmethod
    def of(cls, section: AlertsSection | None) -> Thresholds:
        if section is None:
            return cls()
        return cls(int(section.silent_hours * HOUR_MS), int(section.held_hours * HOUR_MS),
                   section.battery_percent, int(section.window_hours * HOUR_MS))




@dataclass(frozen=True, slots=True)
class Alert:
    kind: str  # HELD, SILENT, BATTERY (a device) or WINDOW (a process: device_id is "")
    device_id: str
    name: str  # the device's display name; for WINDOW the process's name
    since_ms: int  # when the problem began: the oldest unsent record, the last heartbeat
    age_ms: int  # for WINDOW: the time left until the deadline
    held: int | None  # records in the queue (HELD, WINDOW: on all its devices)
    heartbeat_ms: int | None  # the last heartbeat; None if the device never sent one
    battery_pct: float | None = None
    process_id: str = ""
    devices: tuple[str, ...] = ()  # WINDOW: the display names of the devices holding records
    activations: int = 0  # ACTIVATIONS: codes the device issued in 24 h
    median: float = 0.0  # ACTIVATIONS: the median of the self-service devices

    @property
    def text(self) -> str:
        """The line after the device's (or process's) name (Spanish)."""
        if self.kind == WINDOW:
            return (f"el plazo de envío cierra en {age_text(self.age_ms)} y quedan {self.held} "
                    f"registros sin enviar en {', '.join(self.devices)}.")
        if self.kind == ACTIVATIONS:
            return (f"{self.activations} códigos de activación pedidos en 24 h (la mediana de los "
                    f"dispositivos de autoservicio es {self.median:g}); revise quién lo usa.")
        if self.kind == BATTERY:
            return f"batería al {self.battery_pct:.0f} %."
        if self.kind == HELD:
            return f"{self.held} registros sin enviar; el más antiguo tiene {age_text(self.age_ms)}."
        if self.heartbeat_ms is None:
            return f"sin ningún latido desde su alta, hace {age_text(self.age_ms)}."
        return f"sin latido desde hace {age_text(self.age_ms)}."


def age_text(ms: int) -> str:
    """Whole hours, "7 h" or "2 d 3 h": the thresholds are hours."""
    h = max(0, ms) // HOUR_MS
    return f"{h // 24} d {h % 24} h" if h >= 24 else f"{h} h"


def _held(d: DeviceRow, now_ms: int, t: Thresholds) -> Alert | None:
    if not d.queue_depth or d.heartbeat_ms is None:
        return None
    seen = now_ms - d.heartbeat_ms
    age = seen + (int(d.oldest_unsent_age_s * 1000) if d.oldest_unsent_age_s is not None else 0)
    if age <= t.held_ms:
        return None
    return Alert(HELD, d.device_id, d.name, now_ms - age, age, d.queue_depth, d.heartbeat_ms)


def _silent(d: DeviceRow, now_ms: int, t: Thresholds) -> Alert | None:
    since = d.heartbeat_ms if d.heartbeat_ms is not None else d.added_ms
    if now_ms - since <= t.silent_ms:
        return None
    return Alert(SILENT, d.device_id, d.name, since, now_ms - since, None, d.heartbeat_ms)


def _battery(d: DeviceRow, now_ms: int, t: Thresholds) -> Alert | None:
    if d.battery_pct is None or d.heartbeat_ms is None or d.battery_pct > t.battery_pct:
        return None
    return Alert(BATTERY, d.device_id, d.name, d.heartbeat_ms, now_ms - d.heartbeat_ms, None,
                 d.heartbeat_ms, d.battery_pct)


def _window(w: Window, by_id: Mapping[str, DeviceRow], now_ms: int, t: Thresholds) -> Alert | None:
    left = w.deadline_ms - now_ms
    if not 0 < left <= t.window_ms:
        return None
    holding = sorted((by_id[i] for i in w.device_ids
                      if i in by_id and by_id[i].state == "active" and by_id[i].queue_depth),
                     key=lambda d: d.name)
    if not holding:
        return None
    return Alert(WINDOW, "", w.name, now_ms, left, sum(d.queue_depth or 0 for d in holding), None,
                 process_id=w.process_id, devices=tuple(d.name for d in holding))


def activation_surges(counts: Mapping[str, int], names: Mapping[str, str], now_ms: int) -> list[Alert]:
    """ACTIVATIONS alerts from {self-service device: activation codes in the last 24 h}, one
    entry per active self-service device (0 included: the median is over all of them)."""
    if not counts:
        return []
    median = float(statistics.median(counts.values()))
    return [Alert(ACTIVATIONS, dev, names.get(dev, dev), now_ms - 24 * HOUR_MS, 24 * HOUR_MS, None, None,
                  activations=n, median=median)
            for dev, n in counts.items() if n >= SURGE_MIN and n > SURGE_FACTOR * median]


def alerts(rows: Iterable[DeviceRow], now_ms: int, thresholds: Thresholds | None = None,
           windows: Sequence[Window] = (), activations: Mapping[str, int] | None = None) -> list[Alert]:
    """The problems of `rows` (and of the processes' sending windows, and of the self-service
    devices' activation codes in the last 24 h: `data.activation_counts`) at `now_ms`, most
    severe first."""
    t = thresholds or Thresholds()
    rows = list(rows)
    found = [a for d in rows if d.state == "active"
             for a in (_held(d, now_ms, t), _silent(d, now_ms, t), _battery(d, now_ms, t)) if a is not None]
    by_id = {d.device_id: d for d in rows}
    found += [a for w in windows if (a := _window(w, by_id, now_ms, t)) is not None]
    found += activation_surges(activations or {}, {d.device_id: d.name for d in rows}, now_ms)
    # WINDOW: the least time left first; the others: the oldest problem first.
    return sorted(found, key=lambda a: (_RANK[a.kind], a.age_ms if a.kind == WINDOW else -a.age_ms,
                                        a.name, a.device_id))

