"""The self-service device's pending activations: in memory only, never on disk.

A citizen asks for a code (the back of the card and an e-mail); the server answers with the
code's public `ref`, its expiry and where it went, and e-mails the code itself. The device keeps
only that answer, by ref, with the card it was asked for (CIC, sección, model) and the e-mail,
so that the code typed later is matched here before any capture starts:

    store.add(Pending(ref, cic, seccion, model, email, expires_ms, sent_to))
    code, pending = store.match(typed, now_ms)   # CodeRefused(msg) otherwise
    ...                                           # the capture, "Guardar"
    store.mark_used(pending.ref)                  # only after the record is in the outbox

The device cannot tell a right code from a wrong one with the same ref (only the server can:
`sync.wire.activation`); it refuses what it can: a typo (the check character), a ref never asked
for here, one that expired, one already used here. A restart forgets everything: the citizen
asks for a new code (the kiosk never writes a citizen's e-mail or CIC to disk outside a record).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sync.common.msg import Msg
from sync.wire.activation import ActivationCode, ActivationCodeError, parse_code

# Expired activations are kept this long past their expiry to say "venció" rather than "no se
# pidió aquí"; then forgotten.
KEEP_EXPIRED_MS = 24 * 3600 * 1000

CODE_UNKNOWN = Msg("citizen.code_unknown")
CODE_EXPIRED = Msg("citizen.code_expired")
CODE_USED = Msg("citizen.code_used")


@dataclass(frozen=True)
class Pending:
    """One activation asked for on this device, as the server answered it."""

    ref: str
    cic: str
    seccion: str
    model: str
    email: str
    expires_ms: int
    sent_to: str = ""


class CodeRefused(Exception):
    """The typed code cannot start a capture here. `msg`: what the screen says (a `citizen.*`
    message)."""

    def __init__(self, msg: Msg) -> None:
        super().__init__(msg.code)
        self.msg = msg


TYPOS = {"length": Msg("citizen.code_length"), "check": Msg("citizen.code_check")}


def typo_msg(e: ActivationCodeError) -> Msg:
    """The parser's problem as a catalogued message (the parser's own sentence is Spanish only)."""
    return TYPOS.get(e.kind, TYPOS["check"])


@dataclass
class Activations:
    pending: dict[str, Pending] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)

    def add(self, p: Pending, now_ms: int | None = None) -> None:
        """A new answer from the server; its ref replaces any earlier one (the server picks a ref
        unique among the device's live activations, so an old one with the same ref is dead)."""
        if now_ms is not None:
            self.forget_old(now_ms)
        self.pending[p.ref] = p
        self.used.discard(p.ref)

    def forget_old(self, now_ms: int) -> None:
        for ref in [r for r, p in self.pending.items() if now_ms > p.expires_ms + KEEP_EXPIRED_MS]:
            del self.pending[ref]
            self.used.discard(ref)

    def match(self, typed: str, now_ms: int) -> tuple[ActivationCode, Pending]:
        """The code typed and the activation it answers; CodeRefused otherwise. `now_ms` is the
        server-corrected clock (the expiry is the server's)."""
        try:
            code = parse_code(typed)
        except ActivationCodeError as e:
            raise CodeRefused(typo_msg(e)) from None
        p = self.pending.get(code.ref)
        if p is None:
            raise CodeRefused(CODE_UNKNOWN)
        if code.ref in self.used:
            raise CodeRefused(CODE_USED)
        if now_ms > p.expires_ms:
            raise CodeRefused(CODE_EXPIRED)
        return code, p

    def mark_used(self, ref: str) -> None:
        if ref in self.pending:
            self.used.add(ref)

    def clear(self) -> None:
        self.pending.clear()
        self.used.clear()
