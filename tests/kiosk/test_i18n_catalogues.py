"""The kiosk's catalogues (kiosk/i18n): compiled from their sources, complete in both languages,
with plurals and registers, found in an installed wheel, and no sentence ever matched."""

from __future__ import annotations

import ast
import importlib
import io
import json
import re
import shutil
import string
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from kiosk import i18n
from kiosk.i18n.catalogue import KEYWORDS, LANGUAGES, LOCALE_DIR, is_code
from sync.common.msg import Msg

REPO = Path(__file__).resolve().parents[2]
CITIZEN_CODES = ("liveness.turn_left", "liveness.turn_right", "liveness.blink", "selfie.no_face",
                 "selfie.small", "selfie.center", "selfie.blurred")


def po(lang: str) -> Catalog:
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "fieldkit.po").open("rb") as f:
        return read_po(f)


def entries(cat: Catalog) -> dict[tuple[str | None, str], object]:
    """(context, msgid) -> text, for the translated entries (what a .mo holds)."""
    out: dict[tuple[str | None, str], object] = {}
    for m in cat:
        if m.id and m.string and not m.fuzzy:
            key = m.id if isinstance(m.id, str) else m.id[0]
            out[(m.context, key)] = m.string if isinstance(m.string, str) else tuple(m.string)
    return out


@pytest.fixture(autouse=True)
def _spanish() -> object:
    yield
    i18n.set_language("es")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_shipped_mo_is_compiled_from_its_po(lang: str) -> None:
    """An edited .po without scripts/i18n.sh fails here: the shipped .mo must say the same."""
    buf = io.BytesIO()
    write_mo(buf, po(lang))
    buf.seek(0)
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "fieldkit.mo").open("rb") as f:
        shipped = read_mo(f)
    assert entries(shipped) == entries(read_mo(buf))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_plural_forms_are_spanish_and_english(lang: str) -> None:
    cat = po(lang)
    assert (cat.num_plurals, cat.plural_expr) == (2, "(n != 1)")


def test_every_code_has_both_texts_in_both_languages() -> None:
    es, en = entries(po("es")), entries(po("en"))
    codes = [k for k in es if is_code(k[1])]
    assert len(codes) > 100
    for key in codes:
        for lang, cat in (("es", es), ("en", en)):
            got = cat.get(key)
            assert got, f"{key} has no {lang} text"
            if isinstance(got, tuple):
                assert len(got) == 2 and all(got), f"{key}: {lang} plural forms {got}"


def test_every_screen_sentence_has_english() -> None:
    """Every sentence of the keywords (tr("…"), N_("…"), Header("…")) in the folders of
    babel.cfg, extracted as scripts/i18n.sh does: a sentence edited at its call without its
    English fails here. (tests/kiosk/test_i18n_sources.py fails on one no keyword marks.)"""
    with (REPO / "babel.cfg").open() as f:
        method_map, options = parse_mapping_cfg(f)
    found = {msg for _f, _l, msg, _c, _ctx in extract_from_dir(
        str(REPO), method_map, options, keywords=dict.fromkeys(KEYWORDS), comment_tags=())
        if isinstance(msg, str)}
    assert len(found) > 100
    # A title written at a Header call is extracted (it is translated inside Header).
    assert {"¿Cómo es la credencial?", "Revisar y guardar", "Correo electrónico (opcional)"} <= found
    en = entries(po("en"))
    missing = sorted(s for s in found if (None, s) not in en)
    assert not missing, f"no English for: {missing}"
    i18n.set_language("en")
    assert i18n.tr("Fotografía de la credencial") == "Photo on the card"


def test_scripts_extract_with_the_same_keywords() -> None:
    """scripts/i18n.sh reads the keywords where this test does."""
    script = (REPO / "scripts" / "i18n.sh").read_text()
    assert "from kiosk.i18n.catalogue import KEYWORDS" in script and "$KEYWORDS" in script


def _fields(text: str) -> set[str]:
    """The argument names a text's fields use ("" for a positional ``{}``); raises ValueError
    on a malformed one (a stray brace)."""
    out = set()
    for _lit, field, _spec, _conv in string.Formatter().parse(text):
        if field is not None:
            out.add(re.split(r"[.\[]", field, maxsplit=1)[0])
    return out


def _formats(text: str) -> bool:
    """Whether `text` formats with numbers or with words in its fields (a spec fits one kind)."""
    fields = _fields(text)
    positional = sum(1 for _l, f, _s, _c in string.Formatter().parse(text) if f == "")
    for value in (1, "x"):
        try:
            text.format(*[value] * positional, **{f: value for f in fields if f})
            return True
        except (ValueError, TypeError, IndexError, KeyError, AttributeError):
            continue
    return False


def _forms(m: Message) -> list[str]:
    return [m.string] if isinstance(m.string, str) else list(m.string)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_text_formats_and_uses_only_the_spanish_fields(lang: str) -> None:
    """A translator's stray brace, a bad spec or a field the code does not fill fails here (on
    screen they would show unformatted or as ``{name}``). The Spanish of a code is its es
    msgstr; of a sentence, its msgid. A plural may always use ``{n}``."""
    es = {(m.context, m.id if isinstance(m.id, str) else m.id[0]): m for m in po("es") if m.id}
    bad = []
    for m in po(lang):
        key = m.id if isinstance(m.id, str) else m.id[0]
        if not m.id or not any(_forms(m)):
            continue
        plural = not isinstance(m.id, str)
        own = [m.id] if isinstance(m.id, str) else list(m.id)   # a sentence: its msgid is its Spanish
        spanish = _forms(es[(m.context, key)]) if is_code(key) else own
        allowed = set().union(*(_fields(t) for t in spanish)) | ({"n"} if plural else set())
        for form in _forms(m):
            try:
                extra = _fields(form) - allowed
            except ValueError as e:
                bad.append(f"{key}: {form!r} does not parse ({e})")
                continue
            if extra:
                bad.append(f"{key}: {form!r} uses {sorted(extra)}, which the Spanish does not")
            elif not _formats(form):
                bad.append(f"{key}: {form!r} does not format")
    assert not bad, bad


def test_a_malformed_text_shows_unformatted_and_does_not_raise(monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    """What a screen slot gets when a catalogue text would not format: the text, logged."""
    render_module = importlib.import_module("kiosk.i18n.render")  # the package's `render` is the function
    for broken in ("Le quedan {n intentos", "Faltan {n:zz}", "Índice {0}", "{}"):
        monkeypatch.setattr(render_module, "lookup", lambda *_a, text=broken, **_k: text)
        assert i18n.render(Msg("pin.wrong", n=3)) == broken
    assert "does not format" in caplog.text
    # A sentence's own fields: the same guard.
    assert i18n.tr("Envío solicitado ({} por enviar).", 3) == "Envío solicitado (3 por enviar)."
    assert i18n.tr("Sólo {x:d} aquí", x="tres") == "Sólo {x:d} aquí"


def test_a_count_on_a_singular_entry_or_none_on_a_plural_reads_as_a_sentence() -> None:
    """Never the bare code: a count given to a singular entry uses it; a plural entry asked
    without a count gives its form for many."""
    assert i18n.lookup("capture.cancelled", "es", n=3) == i18n.lookup("capture.cancelled", "es")
    assert i18n.lookup("pin.wrong", "es") == i18n.lookup("pin.wrong", "es", n=2)
    assert i18n.render(Msg("pin.wrong", {"n": 4})) == "PIN incorrecto. Le quedan 4 intentos."
    assert i18n.lookup("no.such.code", "es") is None and i18n.lookup("no.such.code", "es", n=2) is None


def test_citizen_texts_exist_in_both_registers() -> None:
    es = entries(po("es"))
    for code in CITIZEN_CODES:
        for ctx in ("auxiliar", "ciudadano"):
            assert (ctx, code) in es, (ctx, code)
    assert i18n.render(Msg("liveness.blink"), "ciudadano") == "Parpadee despacio"
    assert i18n.render(Msg("liveness.blink")) == "Pida a la persona que parpadee despacio"
    i18n.set_language("en")
    assert i18n.render(Msg("liveness.blink"), "ciudadano") == "Blink slowly"


def test_plurals_and_arguments_render() -> None:
    one, three = Msg("pin.wrong", n=1), Msg("pin.wrong", n=3)
    assert i18n.render(one) == "PIN incorrecto. Le queda 1 intento."
    assert i18n.render(three) == "PIN incorrecto. Le quedan 3 intentos."
    i18n.set_language("en")
    assert i18n.render(one) == "Wrong PIN. 1 attempt left."
    assert i18n.render(three) == "Wrong PIN. 3 attempts left."
    # A message inside a message is rendered in the same language.
    inner = Msg("capture.save_failed", {"reason": Msg("save.outbox")})
    assert i18n.render(inner) == "Could not save: The outbox could not be opened. Tell your coordinator."
    parts = Msg("capture.missing", {"parts": (Msg("capture.part.front"), Msg("capture.part.signature"))})
    assert i18n.render(parts) == "Missing: front, signature."


def test_unknown_code_shows_itself_and_a_missing_argument_stays_visible() -> None:
    assert i18n.render(Msg("no.such.code")) == "no.such.code"
    assert i18n.render(Msg("capture.saved")) == "Apoyo guardado con folio {folio}"


def test_msg_arguments_are_frozen_copies() -> None:
    args = {"folio": "A-1"}
    m = Msg("capture.saved", args)
    args["folio"] = "B-2"
    assert m.args["folio"] == "A-1"
    with pytest.raises(TypeError):
        m.args["folio"] = "C"  # type: ignore[index]
    same = Msg("capture.saved", {"folio": "A-1"})
    assert m == same and hash(m) == hash(same)


def test_no_regular_expression_on_texts_in_the_ui_or_the_catalogues() -> None:
    """Translations are looked up by code or by the sentence itself, never by matching it."""
    used = []
    for folder in ("kiosk/i18n", "kiosk/ui"):
        for path in sorted((REPO / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import) and any(a.name == "re" for a in node.names):
                    used.append(f"{path.relative_to(REPO)}:{node.lineno}")
                if isinstance(node, ast.ImportFrom) and node.module == "re":
                    used.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not used, used


# --- the installed wheel -------------------------------------------------------------------------

CHECK = textwrap.dedent("""
    import json, sys
    import kiosk.i18n as i18n
    from kiosk.i18n.catalogue import is_code
    from sync.common.msg import Msg
    assert "/work/main" not in i18n.__file__ and sys.argv[1] in i18n.__file__, i18n.__file__
    es = i18n.catalogue("es")
    keys = [k for k in es._catalog if k and is_code((k[0] if isinstance(k, tuple) else k).split("\\x04")[-1])]
    bad = []
    for key in keys:
        plural = isinstance(key, tuple)
        raw = key[0] if plural else key
        ctx, _, code = raw.rpartition("\\x04")
        for lang in ("es", "en"):
            forms = [1, 2] if plural else [None]
            for n in forms:
                text = i18n.lookup(code, lang, ctx or "auxiliar", n)
                if not text:
                    bad.append((lang, ctx, code, n))
    print(json.dumps({"codes": len({k[0] if isinstance(k, tuple) else k for k in keys}), "bad": bad}))
""")


@pytest.mark.timeout(240)
def test_installed_wheel_has_a_text_for_every_code(tmp_path: Path) -> None:
    """Built and installed as a device gets it, away from this checkout: the catalogues are
    package data and every code of the es catalogue has texts in es and en (both plural forms)."""
    dist, target, src = tmp_path / "dist", tmp_path / "site", tmp_path / "src"
    # Built from a copy: setuptools leaves build/ and *.egg-info beside the sources it builds.
    src.mkdir()
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / f, src / f)
    for pkg in ("kiosk", "hardware", "sync", "server_stub"):
        shutil.copytree(REPO / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation",
                            "--no-index", "--disable-pip-version-check", "-w", str(dist)],
                           cwd=src, capture_output=True, text=True, timeout=180)
    assert build.returncode == 0, build.stdout + build.stderr
    (whl,) = dist.glob("*.whl")
    inst = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
                           "--disable-pip-version-check", "--target", str(target), str(whl)],
                          capture_output=True, text=True, timeout=120)
    assert inst.returncode == 0, inst.stdout + inst.stderr
    code = f"import sys; sys.path[:0] = [{str(target)!r}]\n" + CHECK
    run = subprocess.run([sys.executable, "-I", "-c", code,
                          str(target)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["codes"] > 100 and out["bad"] == [], out
