"""The one signature acceptance rule: the pad asks it before "Continuar", save asks it again.

A signature is refused when it is missing, has too few points to be a stroke, or spans
less than a small part of the pad (a dot or a tick). Pure: no Qt, no I/O; the reason is a
message (`signature.*`) the screen renders.
"""

from __future__ import annotations

from sync.common.msg import Msg
from sync.wire.record import Signature

MIN_SIGNATURE_POINTS = 8
MIN_SIGNATURE_EXTENT = 0.08  # of the pad's width, along the longer side of the ink

EMPTY = Msg("signature.missing")
TOO_SHORT = Msg("signature.too_short")
TOO_SMALL = Msg("signature.too_small")


def signature_problem(sig: Signature | None) -> Msg | None:
    """Why a signature is refused, or None."""
    if not isinstance(sig, Signature):
        return EMPTY
    points = [p for stroke in sig.strokes for p in stroke]
    if not points:
        return EMPTY
    if len(points) < MIN_SIGNATURE_POINTS:
        return TOO_SHORT
    xs, ys = [p.x for p in points], [p.y for p in points]
    if max(max(xs) - min(xs), max(ys) - min(ys)) < MIN_SIGNATURE_EXTENT * max(sig.width, 1):
        return TOO_SMALL
    return None
