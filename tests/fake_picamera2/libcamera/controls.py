"""Fake ``libcamera.controls``: the enums picamera2's docs use for autofocus."""

from enum import IntEnum
from types import SimpleNamespace


class AfModeEnum(IntEnum):
    Manual = 0
    Auto = 1
    Continuous = 2


class AfTriggerEnum(IntEnum):
    Start = 0
    Cancel = 1


class AfStateEnum(IntEnum):
    Idle = 0
    Scanning = 1
    Focused = 2
    Failed = 3


class AfRangeEnum(IntEnum):
    Normal = 0
    Macro = 1
    Full = 2


class AfSpeedEnum(IntEnum):
    Normal = 0
    Fast = 1


class _NoiseReductionModeEnum(IntEnum):
    Off = 0
    Fast = 1
    HighQuality = 2
    Minimal = 3
    ZSL = 4


draft = SimpleNamespace(NoiseReductionModeEnum=_NoiseReductionModeEnum)
