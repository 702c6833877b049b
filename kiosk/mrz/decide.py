"""Turn per-cell glyph scores into the three MRZ lines of an INE card, checked.

Each position takes the best character its field allows (digits where the INE layout has
digits, letters in `IDMEX`/`MEX`/names, `<` where fillers are); a glyph that looks more like
a look-alike on the other side of the digit/letter divide counts for the allowed one. Then
every check digit that fails drives a search over the runner-up characters of its field,
cheapest score loss first, within a budget (see `_fix_field` for when a rescue is refused).
See reader.py for where the scores come from.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from kiosk.mrz import parse as M
from kiosk.mrz.glyphs import ALPHABET

_DIGITS = "0123456789"
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_MAX_FIXES = 2       # more rescued characters than this and the read is not trusted
_MAX_FIX_COST = 0.12  # a check-digit rescue may cost at most this much total score
_MAX_ONE_FIX = 0.07   # ... and each character it puts in, at most this much below the best there
_MIN_LEAD = 0.03      # ... and it must be cheaper than any other rescue that passes by this much
_TIE = 0.03           # after a rescue, no other place of lines 1-2 may be this close a call


def ine_charsets() -> tuple[list[str], list[str], list[str]]:
    """Allowed characters at each position of an INE (models E-H) TD1 zone."""
    d, a, f = _DIGITS, _LETTERS, "<"
    l1 = ["I", "D", "M", "E", "X"] + [d] * 10 + [f, f] + [d] * 13
    l2 = [d] * 7 + ["HM"] + [d] * 7 + ["M", "E", "X"] + [f] + [d] * 2 + [f, f] + [d] * 5 + [f, d]
    l3 = [a + f] * 30
    return l1, l2, l3


# Look-alikes across the digit/letter divide: where the field allows only one side, a glyph
# that matches its look-alike on the other side better counts for the allowed character.
_LOOKALIKE = {"0": "OQD", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B",
              "O": "0", "Q": "0", "D": "0", "I": "1", "Z": "2", "S": "5", "G": "6", "B": "8"}


def _best(scores: np.ndarray, allowed: str) -> list[tuple[float, str]]:
    out = []
    for c in allowed:
        sc = float(scores[ALPHABET.index(c)])
        for other in _LOOKALIKE.get(c, ""):
            if other not in allowed:
                sc = max(sc, float(scores[ALPHABET.index(other)]))
        out.append((sc, c))
    return sorted(out, reverse=True)


def _fix_field(chars: list[str], options: list[list[tuple[float, str]]], positions: list[int],
               ok: Callable[[list[str]], bool], max_changes: int = 2) -> list[str] | None:
    """Cheapest substitution of runner-up characters at `positions` that makes `ok` true.

    A check digit catches one wrong digit but cannot say which: with many near runner-ups,
    some substitution nearly always passes. So a rescue is taken only when every character
    it puts in scored close to the best at its place, and no other passing rescue (of as
    many changes) comes near it in cost; otherwise the read stays unchecked.
    """
    alts = []
    for p in positions:
        top = options[p][0][0]
        for sc, c in options[p][1:4]:
            if top - sc <= _MAX_ONE_FIX:
                alts.append((top - sc, p, c))
    alts.sort()
    alts = alts[:12]
    for n in range(1, max_changes + 1):
        passing: list[tuple[float, list[str]]] = []
        for combo in itertools.combinations(alts, n):
            if len({p for _, p, _ in combo}) < n:
                continue
            trial = list(chars)
            for _, p, c in combo:
                trial[p] = c
            cost = sum(x for x, _, _ in combo)
            if cost <= _MAX_FIX_COST and ok(trial):
                passing.append((cost, trial))
        if passing:
            passing.sort(key=lambda t: t[0])
            if len(passing) > 1 and passing[1][0] - passing[0][0] < _MIN_LEAD:
                return None                      # two rescues nearly as likely: neither
            return passing[0][1]
    return None


def decide(all_scores: list[np.ndarray]) -> tuple[tuple[str, str, str], list[str], bool]:
    sets = ine_charsets()
    opts = [[_best(sc[i], sets[li][i]) for i in range(30)] for li, sc in enumerate(all_scores)]
    lines = [[o[0][1] for o in lo] for lo in opts]
    corrections: list[str] = []

    def digit_check(li: int, start: int, end: int, chk: int) -> None:
        ln = lines[li]

        def ok(t: list[str]) -> bool:
            return M.check_digit("".join(t[start:end])) == t[chk]

        if ok(ln):
            return
        fixed = _fix_field(ln, opts[li], [*range(start, end), chk], ok, max_changes=1)
        if fixed is not None:
            for p in range(30):
                if fixed[p] != ln[p]:
                    corrections.append(f"línea {li + 1} pos {p + 1}: {ln[p]}→{fixed[p]}")
            lines[li] = fixed

    digit_check(0, 5, 14, 14)      # CIC
    digit_check(1, 0, 6, 6)        # birth date
    digit_check(1, 8, 14, 14)      # expiry

    def comp_ok(l1: list[str], l2: list[str]) -> bool:
        data = "".join(l1[5:30]) + "".join(l2[0:7]) + "".join(l2[8:15]) + "".join(l2[18:29])
        return M.check_digit(data) == l2[29]

    if not comp_ok(lines[0], lines[1]):
        # Only positions not already guarded by their own check digit: OCR, emisión, extra, composite.
        pos = [(0, p) for p in range(17, 30)] + [(1, p) for p in (19, 20, 23, 24, 25, 26, 27, 29)]
        flat = lines[0] + lines[1]
        flat_opts = opts[0] + opts[1]
        fixed = _fix_field(flat, flat_opts, [li * 30 + p for li, p in pos],
                           lambda t: comp_ok(t[:30], t[30:]))
        if fixed is not None:
            for p in range(60):
                if fixed[p] != flat[p]:
                    corrections.append(f"línea {p // 30 + 1} pos {p % 30 + 1}: {flat[p]}→{fixed[p]}")
            lines[0], lines[1] = fixed[:30], fixed[30:]
    # Line 3 nearly always has the "<<" between surnames and given names. If none was read,
    # the cheapest pair of neighbours whose runner-up is '<' (within a small budget) is it.
    l3 = "".join(lines[2])
    if "<<" not in l3:
        lt = ALPHABET.index("<")
        sc3 = all_scores[2]
        cost = [float(sc3[i].max() - sc3[i][lt]) for i in range(30)]
        p = min(range(1, 28), key=lambda i: cost[i] + cost[i + 1])
        if cost[p] + cost[p + 1] <= _MAX_FIX_COST * 2:
            corrections.append(f"línea 3 pos {p + 1}-{p + 2}: {l3[p:p + 2]}→<<")
            l3 = l3[:p] + "<<" + l3[p + 2:]
            lines[2] = list(l3)
    # After the surname separator, the first "<<" ends the given names; only filler may
    # follow (a stray mark in the padding is not a letter).
    sep = l3.find("<<")
    end = l3.find("<<", sep + 2) if sep >= 0 else -1
    if end > 0 and l3[end:].strip("<"):
        corrections.append(f"línea 3 pos {end + 1}-30: relleno")
        lines[2] = list(l3[:end] + "<" * (30 - end))
    out = tuple("".join(ln) for ln in lines)
    try:
        valid = M.parse_td1(list(out)).valid
    except M.MrzFormatError:
        valid = False
    # Check digits catch one wrong digit, not several, and guard neither the sex nor the names:
    # a read that needed many rescues, or a names line with no filler at all (every '<' taken
    # for a letter: heavy motion blur), is not trusted even if the sums happen to work out.
    if len(corrections) > _MAX_FIXES or "<" not in out[2]:
        valid = False
    # A rescue says this card's print confuses two characters; other near ties in the checked
    # lines are then the same confusion, and two of them can cancel in a check digit (two 8s
    # read as 5 at weights 7 and 3 leave the sum unchanged): not trusted.
    rescued = {(li, p) for li in (0, 1) for p in range(30) if lines[li][p] != opts[li][p][0][1]}
    if rescued and any(len(o) > 1 and o[0][0] - o[1][0] < _TIE and (li, p) not in rescued
                       for li in (0, 1) for p, o in enumerate(opts[li])):
        valid = False
    return out, corrections, valid   # type: ignore[return-value]
