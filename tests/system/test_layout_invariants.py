"""What moving files around must not break: console scripts, package data in a real wheel, the
dashboard's templates, the bench scripts' imports, the paths and module names the docs name,
the docs install.sh ships, and the tests' package chain. No mocks; the whole module takes
about ten seconds (subprocesses for the scripts, the bench imports and one offline wheel build)."""

from __future__ import annotations

import ast
import fnmatch
import functools
import importlib
import importlib.metadata
import itertools
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("kiosk", "hardware", "sync", "server_stub")
# The interpreter running the suite: .venv/bin/python under scripts/test.sh, so this is .venv/bin.
BIN = Path(sys.executable).parent
PYPROJECT: dict[str, Any] = tomllib.loads((REPO / "pyproject.toml").read_text())
SCRIPTS: dict[str, str] = PYPROJECT["project"]["scripts"]
JUNK = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def _run(argv: list[str], *, cwd: Path | None = None,
         timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def package_files() -> list[Path]:
    """Every file of the four packages (repo-relative), caches left out."""
    out = []
    for pkg in PACKAGES:
        for p in sorted((REPO / pkg).rglob("*")):
            rel = p.relative_to(REPO)
            if p.is_file() and "__pycache__" not in rel.parts and p.suffix != ".pyc":
                out.append(rel)
    return out


def data_files() -> list[Path]:
    return [p for p in package_files() if p.suffix != ".py"]


# --- 1. console scripts ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_console_script_target_resolves(name: str) -> None:
    """pyproject's module:function still exists after the move."""
    module, _, func = SCRIPTS[name].partition(":")
    obj = importlib.import_module(module)
    for attr in func.split("."):
        obj = getattr(obj, attr)
    assert callable(obj), SCRIPTS[name]


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_installed_console_script_runs(name: str) -> None:
    """The wrapper pip wrote into the venv starts (an outdated editable install fails here)."""
    exe = BIN / name
    assert exe.is_file(), f"{exe} missing: reinstall the project (pip install -e '.[dev]')"
    p = _run([str(exe), "--help"], cwd=REPO)
    assert p.returncode == 0 and ("usage" in p.stdout.lower() or "uso:" in p.stdout), p.stdout + p.stderr


def test_server_cli_runs_as_a_module() -> None:
    """`python -m server_stub.cli` (server_stub/cli/__main__.py) is what docs and ops may use."""
    p = _run([sys.executable, "-m", "server_stub.cli", "--help"], cwd=REPO)
    assert p.returncode == 0 and p.stdout.startswith("uso: fieldkit-server"), p.stdout + p.stderr


# --- 2. package data -----------------------------------------------------------------------------


def test_package_data_patterns_cover_every_data_file() -> None:
    """setuptools ships a non-.py file only when [tool.setuptools.package-data] matches it."""
    st = PYPROJECT["tool"]["setuptools"]
    include = st["packages"]["find"]["include"]
    patterns = st["package-data"]
    assert data_files(), "no data files found: has the layout changed?"
    unmatched = []
    for f in data_files():
        pkg = ".".join(f.parent.parts)
        pats = patterns.get("*", []) + patterns.get(pkg, [])
        found = any(fnmatch.fnmatch(pkg, i) for i in include)
        if not (found and any(fnmatch.fnmatch(f.name, pat) for pat in pats)):
            unmatched.append(str(f))
    assert not unmatched, f"not shipped by pyproject's package-data / packages.find: {unmatched}"


def _missing_build_requirements() -> list[str]:
    """[build-system] requires that this interpreter lacks (--no-build-isolation uses it)."""
    missing = []
    for req in PYPROJECT["build-system"]["requires"]:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(?:>=\s*([\d.]+))?", req)
        assert m, f"build requirement {req!r}: only 'name' or 'name>=X.Y' are understood here"
        try:
            have = importlib.metadata.version(m[1])
        except importlib.metadata.PackageNotFoundError:
            missing.append(f"{req} (not installed)")
            continue
        want = m[2]
        if want and _version(have) < _version(want):
            missing.append(f"{req} (have {have})")
    return missing


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    """A wheel built offline from a clean copy of what pyproject needs, as install.sh --wheel
    would get it."""
    missing = _missing_build_requirements()
    if missing:
        pytest.fail(f"cannot build the wheel with {sys.executable}: {', '.join(missing)}; "
                    "add them to the dev extra in pyproject.toml")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / f, src / f)
    for pkg in PACKAGES:
        shutil.copytree(REPO / pkg, src / pkg, ignore=JUNK)
    p = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
              "--disable-pip-version-check", "-w", str(tmp / "dist"), str(src)], timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    wheels = list((tmp / "dist").glob("*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as zf:
        yield zf


def test_wheel_ships_every_package_file(wheel: zipfile.ZipFile) -> None:
    """Data files (templates...) and every module of the moved packages are in the wheel."""
    names = set(wheel.namelist())
    missing = [str(f) for f in package_files() if f.as_posix() not in names]
    assert not missing, f"not in {wheel.filename}: {missing}"
    templates = sorted(p.relative_to(REPO).as_posix()
                       for p in (REPO / "server_stub/dashboard/templates").glob("*.html"))
    assert "server_stub/dashboard/templates/base.html" in templates
    assert set(templates) <= names


def test_dashboard_finds_its_templates(tmp_path: Path) -> None:
    """The real app's Jinja loader points at a folder that holds the templates, and each loads."""
    from server_stub.core.store import open_store
    from server_stub.dashboard.app import DashboardApp

    store = open_store(f"sqlite:{tmp_path / 'server.db'}")
    try:
        env = DashboardApp(store, secure_cookie=False).env
    finally:
        store.close()
    searchpath = [Path(p) for p in getattr(env.loader, "searchpath", [])]
    assert searchpath and all(p.is_dir() for p in searchpath), searchpath
    assert any((p / "base.html").is_file() for p in searchpath), searchpath
    names = env.list_templates()
    assert "base.html" in names, names
    for name in names:
        env.get_template(name)


# --- 3. bench scripts ------------------------------------------------------------------------------

BENCH = sorted((REPO / "bench").glob("*.py"))
# Import one bench file as a module (not __main__) the way `python bench/x.py` sees sys.path: its
# own folder first, not the current directory.
_IMPORT_BENCH = """
import importlib.util, sys
from pathlib import Path
path = Path(sys.argv[1])
sys.path[0] = str(path.parent)
spec = importlib.util.spec_from_file_location("bench_probe_" + path.stem, path)
mod = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = mod
spec.loader.exec_module(mod)
"""


def _main_guarded(tree: ast.Module) -> tuple[bool, list[str]]:
    """Whether there is a top-level `if __name__ == "__main__":`, and which of the module's own
    functions are called at top level outside it (they would run on import)."""
    guarded = False
    funcs = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    stray = []
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test).replace("'", '"') == '__name__ == "__main__"':
            guarded = True
        elif isinstance(node, ast.Expr | ast.Assign):
            calls = [c for c in ast.walk(node) if isinstance(c, ast.Call)]
            stray += [c.func.id for c in calls if isinstance(c.func, ast.Name) and c.func.id in funcs]
    return guarded, stray


@pytest.mark.parametrize("path", BENCH, ids=lambda p: p.name)
def test_bench_script_imports_without_running(path: Path, tmp_path: Path) -> None:
    """A bench script still finds what it imports after the move, and importing it runs nothing."""
    guarded, stray = _main_guarded(ast.parse(path.read_text(), str(path)))
    assert guarded, f"{path.name} has no `if __name__ == \"__main__\":` guard; importing it would run it"
    assert not stray, f"{path.name} calls {stray} at import time, outside its __main__ guard"
    p = _run([sys.executable, "-c", _IMPORT_BENCH, str(path)], cwd=tmp_path)
    assert p.returncode == 0, f"importing {path.name} failed:\n{p.stderr}"


# --- 4. docs ---------------------------------------------------------------------------------------

DOCS = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])
PATH_ROOTS = ("kiosk", "hardware", "sync", "server_stub", "tests", "bench", "docs", "systemd", "scripts")
MODULE_ROOTS = ("kiosk", "hardware", "sync", "server_stub", "tests")
# A token starts a path only at a word start: not inside /etc/systemd/..., fieldkit-sync.service, URLs.
PATH_RE = re.compile(rf"(?<![\w./-])(?:{'|'.join(PATH_ROOTS)})/[\w./*{{}},<>-]*")
DOTTED_RE = re.compile(rf"(?<![\w./-])(?:{'|'.join(MODULE_ROOTS)})(?:\.\w+)+")
LINK_RE = re.compile(r"\]\(([^)\s]+)\)")
# A bare `name.py` (a module named inside a table of its folder): some file must have that name.
BARE_FILE_RE = re.compile(r"`([\w-]+\.(?:py|md|sh))`")
# A dotted token ending so is a file name (`sync.md` in the README's docs row), not a module.
FILE_SUFFIXES = {"md", "py", "toml", "sh", "service", "path", "env", "conf", "png", "json", "html",
                 "sock", "db", "csv"}
# Tokens that look like repo paths or modules but are not, each with why.
NOT_REPO_NAMES = {
    "tests/test_responses.py": "docs/credential.md cites a file of another repository "
                               "(doranteseduardo/identity_analysis_runtime-oss)",
    "sync.sock": "the sync agent's Unix socket in the data dir, made at run time",
}


def _expand_braces(token: str) -> list[str]:
    """`a/{b,c}.py` -> a/b.py, a/c.py (shell brace expansion, one level per group)."""
    parts = re.split(r"\{([^{}]*)\}", token)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(c) for c in itertools.product(*choices)]


def _path_problem(token: str) -> str | None:
    for t in _expand_braces(token):
        t = re.sub(r"<[^<>]*>", "*", t)  # bench/<name>.py: a placeholder
        if any(c in t for c in "*?["):
            if not any(REPO.glob(t.rstrip("/"))):
                return f"{t} matches nothing"
        elif not (REPO / t).exists() or (t.endswith("/") and not (REPO / t).is_dir()):
            return f"no such file or folder {t}"
    return None


def _is_module(parts: list[str]) -> bool:
    base = REPO.joinpath(*parts)
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _module_problem(token: str) -> str | None:
    """The longest prefix that is a module file of the repo, then attributes by getattr: an old
    module name (sync.freeze.x after sync/freeze.py moved) has no such prefix-and-attribute."""
    parts = token.split(".")
    cut = next((i for i in range(len(parts), 0, -1) if _is_module(parts[:i])), 0)
    if cut == 0:
        return "no such module"
    obj: Any = importlib.import_module(".".join(parts[:cut]))
    for i, attr in enumerate(parts[cut:], cut):
        fields = getattr(obj, "__dataclass_fields__", {}) if isinstance(obj, type) else {}
        if not hasattr(obj, attr) and attr not in fields:
            return f"{'.'.join(parts[:i])} has no attribute {attr!r}"
        obj = getattr(obj, attr, None)
    return None


@functools.cache
def repo_file_names() -> frozenset[str]:
    """Names of the files at the top and under the roots (not .venv, .git)."""
    top = {p.name for p in REPO.iterdir()}
    return frozenset(top.union(p.name for root in PATH_ROOTS for p in (REPO / root).rglob("*")))


def doc_references(doc: Path) -> list[tuple[int, str, str]]:
    """(line, token, kind) for each repo path, module name, file name and relative link in a
    Markdown file."""
    refs: dict[tuple[int, str, str], None] = {}
    for n, line in enumerate(doc.read_text().splitlines(), 1):
        for m in PATH_RE.finditer(line):
            refs[n, m.group().rstrip(".,;:"), "path"] = None
        for m in DOTTED_RE.finditer(line):
            refs[n, m.group(), "file" if m.group().rsplit(".", 1)[1] in FILE_SUFFIXES else "module"] = None
        # In a table row about one folder (`| `sync/agent/` | ...`), a bare name is a file of it.
        folder = re.match(r"\| `((?:[\w-]+/)+)` \|", line)
        for m in BARE_FILE_RE.finditer(line):
            if folder and not line.startswith(f"| `{m[1]}`"):
                refs[n, folder[1] + m[1], "path"] = None
            else:
                refs[n, m[1], "file"] = None
        for m in LINK_RE.finditer(line):
            if not re.match(r"[a-z]+:|#", m[1]):
                refs[n, m[1], "link"] = None
    return list(refs)


def doc_problems(doc: Path) -> list[str]:
    problems = []
    for line, token, kind in doc_references(doc):
        if token in NOT_REPO_NAMES:
            continue
        if kind == "path":
            problem = _path_problem(token)
        elif kind == "link":
            target = (doc.parent / token.split("#")[0]).resolve()
            problem = None if target.exists() else f"link to missing {target}"
        elif kind == "file":
            problem = None if token in repo_file_names() else "no file of that name in the repo"
        else:
            problem = _module_problem(token)
        if problem:
            problems.append(f"{doc.name}:{line}: {token}: {problem}")
    return problems


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_doc_names_only_existing_paths_and_modules(doc: Path) -> None:
    """A moved module must not stay in the docs under its old path or dotted name."""
    problems = doc_problems(doc)
    assert not problems, "\n".join(problems)


def test_doc_scanner_catches_old_names(tmp_path: Path) -> None:
    """The scanner has teeth: names from before the move fail, their new names pass."""
    old = ["`sync/outbox.py`", "run tests/test_systemd_*.py", "`sync.freeze.in_period`",
           "`server_stub.dashboard_data`", "`sync.wire.record.NoSuchThing`", "`window_admin.py`",
           "[kiosk](kiosk.md)"]
    new = ["`sync/outbox/outbox.py`,", "run tests/system/test_systemd_*.py", "`server_stub.dashboard.data`",
           "`server_stub.dashboard.app.DashboardApp`", "`sync.wire.record.Record`", "`home.py`",
           "[me](old.md#x)",
           "`hardware.camera`", "bench/<name>.py", "`sync/{wire,outbox}/`", "`<data dir>/sync.sock`",
           "/etc/systemd/system/fieldkit-sync.service", "https://docs.example.org/sync.md"]
    doc = tmp_path / "old.md"
    doc.write_text("\n".join(old + new) + "\n")
    problems = doc_problems(doc)
    assert {int(p.split(":")[1]) for p in problems} == set(range(1, len(old) + 1)), problems


def _install_sh_docs() -> set[str]:
    """The docs/ files install.sh copies to /opt/fieldkit/docs (its `for d in ...` loop)."""
    text = (REPO / "systemd/install.sh").read_text()
    names: set[str] = set()
    for var, words, body in re.findall(r"for (\w+) in ([^;\n]+); do\n(.*?)\n[ \t]*done\b", text, re.S):
        if f"docs/${var}" in body:
            names.update(words.split())
    names.update(m.removeprefix("docs/") for m in re.findall(r"(?<![\w/$])docs/[\w.-]+", text))
    return names


def test_install_sh_copies_existing_docs() -> None:
    """install.sh skips a missing doc silently (`[ -f ... ]`), so a moved doc would just vanish."""
    names = _install_sh_docs()
    assert "deploy-pi.md" in names, names
    missing = sorted(n for n in names if not (REPO / "docs" / n).is_file())
    assert not missing, f"systemd/install.sh names docs that do not exist: {missing}"


def test_unit_documentation_is_installed() -> None:
    """Every Documentation=file:///opt/fieldkit/docs/X of a unit is a doc install.sh ships."""
    from tests.helpers.systemd import SYSTEMD, unit_values

    shipped = _install_sh_docs()
    for unit in sorted(SYSTEMD.glob("*.service")):
        for url in " ".join(unit_values(unit, "Documentation")).split():
            name = url.removeprefix("file:///opt/fieldkit/docs/")
            if name != url:
                assert name in shipped and (REPO / "docs" / name).is_file(), (unit.name, url)


def test_every_unit_file_has_its_execstart_checked() -> None:
    """test_systemd_units checks ExecStart against the console scripts for a fixed list of unit
    files; a unit or drop-in added or renamed outside that list would escape it."""
    from tests.helpers.systemd import CAGE_DROPINS, SERVICES, SYSTEMD

    on_disk = {*SYSTEMD.glob("*.service"), *SYSTEMD.glob("*.service.d/*.conf")}
    checked = {*(SYSTEMD / s for s in SERVICES), *CAGE_DROPINS}
    assert on_disk == checked, ("update SERVICES / CAGE_DROPINS in tests/helpers/systemd.py",
                                sorted(map(str, on_disk ^ checked)))


# --- 5. tests are a package ------------------------------------------------------------------------

# Put on sys.path by tests that fake the Pi camera: its picamera2/ and libcamera/ must import as
# top-level packages, so the folder itself is not part of the tests package.
TOP_LEVEL_FAKES = (REPO / "tests" / "fake_picamera2",)


def test_tests_are_a_package() -> None:
    """With tests.helpers.* imports and same-named test files in different folders, every folder
    holding Python under tests/ needs an __init__.py up to tests/ itself."""
    missing = set()
    for py in (REPO / "tests").rglob("*.py"):
        if "__pycache__" in py.parts or any(py.is_relative_to(f) for f in TOP_LEVEL_FAKES):
            continue
        d = py.parent
        while d != REPO:
            if not (d / "__init__.py").is_file():
                missing.add(d.relative_to(REPO).as_posix())
            d = d.parent
    assert not missing, f"folders without __init__.py: {sorted(missing)}"
