"""Fake of the few libcamera names picamera2 users touch (tests only)."""

from enum import IntEnum

from . import controls

__all__ = ["ColorSpace", "StreamRole", "Transform", "controls"]


class StreamRole(IntEnum):
    Raw = 0
    StillCapture = 1
    VideoRecording = 2
    Viewfinder = 3


class Transform:
    def __init__(self, hflip=False, vflip=False, transpose=False, rotation=0):
        self.hflip = bool(hflip)
        self.vflip = bool(vflip)
        self.transpose = bool(transpose)

    def __repr__(self):
        return f"<libcamera.Transform hflip={int(self.hflip)} vflip={int(self.vflip)}>"


class ColorSpace:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<libcamera.ColorSpace '{self.name}'>"

    @staticmethod
    def Sycc():
        return ColorSpace("sYCC")

    @staticmethod
    def Rec709():
        return ColorSpace("Rec709")

    @staticmethod
    def Smpte170m():
        return ColorSpace("SMPTE170M")

    @staticmethod
    def Raw():
        return ColorSpace("RAW")
