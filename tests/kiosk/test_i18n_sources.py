"""The code against the catalogues, read with `ast`: every message code the kiosk and sync can
hand up has a text in both languages, with plural entries exactly where the code gives a count;
and no Spanish sentence of a screen escapes extraction (written where no keyword of
kiosk.i18n.catalogue.KEYWORDS marks it, so English mode would show it in Spanish)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.frontend import parse_mapping_cfg

from hardware.camera.errors import MESSAGES as CAMERA_ERRORS
from kiosk.app.services import STATES as CONNECTION_STATES
from kiosk.capture.save import IMAGE_NAMES
from kiosk.cardread.reasons import CODES as CARD_CODES
from kiosk.cardread.reasons import msg_code
from kiosk.i18n.catalogue import KEYWORDS, is_code
from kiosk.vision.liveness import OTHER_WAY, PROMPTS
from kiosk.vision.quality import REASONS as QUALITY_REASONS
from sync.device.enroll import MESSAGES as ENROLL_REASONS
from sync.device.enroll import STEPS as ENROLL_STEPS
from tests.kiosk.test_i18n_catalogues import po

REPO = Path(__file__).resolve().parents[2]
# A file name that reads like a code ("device.toml") is not one.
FILE_SUFFIXES = {"toml", "key", "csr", "crt", "pem", "pub", "d", "json", "py", "png", "db", "mo", "po"}
# The parts the flow names as missing (kiosk/capture/flow.py: `capture.part.<part>`).
CAPTURE_PARTS = ("front", "back", "selfie", "signature")


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


@cache
def _sources(*folders: str) -> tuple[tuple[Path, ast.Module], ...]:
    return tuple((p, _tree(p)) for f in folders for p in sorted((REPO / f).rglob("*.py")))


def _codes(cat: Catalog) -> dict[str, bool]:
    """code -> whether its entry is plural (any context)."""
    out: dict[str, bool] = {}
    for m in cat:
        mid = m.id if isinstance(m.id, str) else m.id[0]
        if m.id and is_code(mid):
            out[mid] = not isinstance(m.id, str)
    return out


def _name(f: ast.expr) -> str | None:
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _literals(node: ast.expr) -> Iterator[str]:
    """The code literals an argument can be: a string, or either branch of `a if c else b`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.IfExp):
        yield from _literals(node.body)
        yield from _literals(node.orelse)


# Calls whose first argument is a message code, and how each passes a count: Msg(code, args, n),
# msg(code, n, **args), text(code, register, n, **args), save's _fail(code, **args) (never one).
COUNT_AT = {"Msg": 2, "msg": 1, "text": 2, "_fail": None}


def _gives_count(call: ast.Call, at: int | None) -> bool:
    if at is None:
        return False
    if len(call.args) > at:
        return not (isinstance(call.args[at], ast.Constant) and call.args[at].value is None)
    return any(k.arg == "n" and not (isinstance(k.value, ast.Constant) and k.value.value is None)
               for k in call.keywords)


def _code_calls() -> Iterator[tuple[str, str, bool]]:
    """(where, code, gives a count) for every literal code handed to Msg/msg/text/_fail."""
    for path, tree in _sources("kiosk", "sync"):
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) in COUNT_AT and node.args:
                for code in _literals(node.args[0]):
                    where = f"{path.relative_to(REPO)}:{node.lineno}"
                    yield where, code, _gives_count(node, COUNT_AT[_name(node.func) or ""])


def _family_pattern(codes: dict[str, bool]) -> re.Pattern[str]:
    families = sorted({c.split(".")[0] for c in codes})
    return re.compile("(" + "|".join(families) + r")(\.[a-z0-9_]+)+")


def _code_constants(pattern: re.Pattern[str]) -> Iterator[tuple[str, str]]:
    """(where, code) for every string constant shaped like a code of a known family: vision's
    plain code strings, tables, constants (`RETRY = Msg(...)` is a call and counted above)."""
    for path, tree in _sources("kiosk", "sync"):
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and pattern.fullmatch(node.value) and node.value.rsplit(".", 1)[1] not in FILE_SUFFIXES):
                yield f"{path.relative_to(REPO)}:{node.lineno}", node.value


# Codes built at run time, by their literal prefix, and every code each prefix can make: the
# tables the code builds them from (a new f"family.{x}" fails below until it is listed here).
def _dynamic() -> dict[str, set[str]]:
    return {
        "camera.": {f"camera.{c}" for c in CAMERA_ERRORS} | {"camera.error"},
        "capture.part.": {f"capture.part.{p}" for p in CAPTURE_PARTS},
        "enroll.": {f"enroll.{r}" for r in ENROLL_REASONS} | {"enroll.failed"},
        "quality.": {f"quality.{r}" for r in QUALITY_REASONS} | {"quality.listo"},
    }


def _tables() -> set[str]:
    """The code tables the layers below hand codes up from."""
    out = {msg_code(c) for c in CARD_CODES} | set(PROMPTS.values()) | {OTHER_WAY}
    out |= set(ENROLL_STEPS) | set(CONNECTION_STATES.values())
    out |= {code for pair in IMAGE_NAMES.values() for code in pair}
    for codes in _dynamic().values():
        out |= codes
    return out


def _prefixes() -> Iterator[tuple[str, str]]:
    """(where, prefix) of every f-string that starts like a code: f"camera.{code}"."""
    pattern = _family_pattern(_codes(po("es")))
    prefix = re.compile(pattern.pattern.replace(r"(\.[a-z0-9_]+)+", r"\.([a-z0-9_]+\.)*"))
    for path, tree in _sources("kiosk", "sync"):
        for node in ast.walk(tree):
            if (isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant)
                    and isinstance(node.values[0].value, str) and prefix.fullmatch(node.values[0].value)):
                yield f"{path.relative_to(REPO)}:{node.lineno}", node.values[0].value


def test_every_code_the_code_can_emit_is_in_both_catalogues() -> None:
    es, en = _codes(po("es")), _codes(po("en"))
    emitted = {code: where for where, code, _n in _code_calls()}
    assert len(emitted) > 100
    emitted |= {code: where for where, code in _code_constants(_family_pattern(es))}
    emitted |= {code: "a code table" for code in _tables()}
    missing = sorted(f"{where}: {code} ({lang})" for code, where in emitted.items()
                     for lang, cat in (("es", es), ("en", en)) if code not in cat)
    assert not missing, missing


def test_every_code_built_at_run_time_comes_from_a_known_table() -> None:
    known = _dynamic()
    found = list(_prefixes())
    assert {p for _w, p in found} >= {"camera.", "capture.part.", "quality."}
    unknown = [f"{where}: {p}…" for where, p in found if p not in known]
    assert not unknown, f"codes built from a prefix no test knows the table of: {unknown}"
    # Both ways: the catalogue has no part the flow cannot name.
    parts = {c for c in _codes(po("es")) if c.startswith("capture.part.")}
    assert parts == known["capture.part."]


def test_counts_in_the_code_match_plural_entries() -> None:
    """A count handed to a singular entry, or none to a plural one, is a slip (lookup falls back,
    but the sentence would not agree with its number)."""
    es = _codes(po("es"))
    wrong = sorted(f"{where}: {code} {'with' if counted else 'without'} a count"
                   for where, code, counted in _code_calls() if code in es and es[code] != counted)
    assert not wrong, wrong


# --- sentences that escape extraction ------------------------------------------------------------

LOG_CALLS = {"debug", "info", "warning", "error", "critical", "exception", "log"}
# Calls whose string arguments are for Qt or the clock, never shown as text.
NOT_TEXT_CALLS = {"setStyleSheet", "setObjectName", "setProperty", "getLogger", "strftime", "cast"}
CSS = re.compile(r"\b(color|background|font-size|font-weight|padding|border[a-z-]*|min-height|min-width|"
                 r"width|height|spacing)\s*:|\bpx\b|[{}]")
PROSE_CHARS = re.compile(r"[A-Za-zÁÉÍÓÚÑÜáéíóúñü¿¡]")
# Words written on purpose outside the catalogues, with why.
NOT_TRANSLATED = {
    ("kiosk/ui/coordinator.py", "English"), ("kiosk/ui/coordinator.py", "Español"),  # in its own language
    ("kiosk/ui/widgets.py", "asdfghjklñ"),              # a row of the on-screen keyboard
    ("kiosk/app/start.py", "Apoyo"),                    # the product's name (window title)
    ("kiosk/app/failure.py", "journalctl -u "), ("kiosk/app/failure.py", " -b"),    # a command
    ("kiosk/app/failure.py", "; Python "), ("kiosk/app/failure.py", "; PySide6 "),  # names of software
}


def _prose(s: str) -> bool:
    """Reads like words for a person: a sentence, a word with an accent, or a capitalised word."""
    if not PROSE_CHARS.search(s) or CSS.search(s):
        return False
    if any(c.isspace() for c in s) or not s.isascii():
        return True
    return bool(re.fullmatch(r"[A-Z][a-z]+[.:]?", s))


def _not_shown(tree: ast.Module) -> set[int]:
    """ids of the string nodes that are never a screen's text: docstrings, annotations, __all__,
    log and exception messages, Qt names and styles, and the keywords' own first arguments."""
    skip: set[int] = set()

    def all_of(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)):
            skip.add(id(body[0].value))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            for arg in a.posonlyargs + a.args + a.kwonlyargs:
                all_of(arg.annotation)
            all_of(node.returns)
        elif isinstance(node, ast.AnnAssign):
            all_of(node.annotation)
        elif isinstance(node, ast.Raise) or (isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)):
            all_of(node)
        elif isinstance(node, ast.Call):
            name = _name(node.func)
            if name in KEYWORDS and node.args:
                skip.add(id(node.args[0]))
            if name in LOG_CALLS or name in NOT_TEXT_CALLS:
                all_of(node)
            for k in node.keywords:
                if k.arg == "name":
                    all_of(k.value)
    return skip


def _screen_folders() -> list[str]:
    """The folders babel.cfg extracts from (`[python: kiosk/ui/**.py]`)."""
    with (REPO / "babel.cfg").open() as f:
        methods, _options = parse_mapping_cfg(f)
    return [pattern.split("/**")[0] for pattern, _method in methods]


def test_no_screen_sentence_escapes_extraction() -> None:
    """A Spanish text in kiosk/ui or kiosk/app that no keyword marks (a title handed to a
    widget that translates it later, a table without N_, an f-string) has no English entry
    and shows in Spanish in English mode: it must be written where Babel finds it."""
    folders = _screen_folders()
    assert folders == ["kiosk/ui", "kiosk/app"]
    found = []
    for path, tree in _sources(*folders):
        rel = str(path.relative_to(REPO))
        skip = _not_shown(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
                    and _prose(node.value) and (rel, node.value) not in NOT_TRANSLATED):
                found.append(f"{rel}:{node.lineno}: {node.value[:60]!r}")
    assert not found, "Spanish outside tr()/N_()/Header(): " + "; ".join(found)


def test_the_escape_check_sees_what_it_must() -> None:
    """The check on a sample: it flags a title handed to another widget, a table entry without
    N_ and an f-string, and passes the keywords' sentences, logs and styles."""
    sample = ast.parse('''
LockScreen(people, "PIN del coordinador")
TABLE = {"a": "Sin conexión"}
line = f"Dispositivo {dev}"
Header("¿Cómo es la credencial?", cancel)
button(tr("Guardar"), name="save")
_log.warning("sin cámara: %s", e)
w.setStyleSheet(f"color: {INK}; font-size: {p(19)}px;")
''')
    skip = _not_shown(sample)
    flagged = {n.value for n in ast.walk(sample) if isinstance(n, ast.Constant) and isinstance(n.value, str)
               and id(n) not in skip and _prose(n.value)}
    assert flagged == {"PIN del coordinador", "Sin conexión", "Dispositivo "}
