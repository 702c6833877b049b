"""The architecture's rules, read from the code (docs/architecture.md, "Allowed arrows").

Every import of the four packages is read with `ast`, at any depth (an import inside a
function is still an arrow), and checked against the allowed arrows; the import graph
of modules and of subsystem folders must have no circle; every subsystem folder holds
a handful of modules.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("kiosk", "hardware", "sync", "server_stub")

# Between packages: who may import whom (prefixes of dotted module names).
PACKAGE_ARROWS = {
    "kiosk": ("kiosk", "hardware", "sync"),
    # heartbeats say battery and free disk; the agent has no business with the camera
    "sync": ("sync", "hardware.identity", "hardware.power", "hardware.storage", "hardware.errors"),
    "server_stub": ("server_stub", "sync.wire", "sync.common"),
    "hardware": ("hardware",),
}
# Inside packages: a subsystem whose imports of ours are narrower than its package's.
INNER_ARROWS = {
    "sync.wire": ("sync.wire",),                    # the format shared with the server stands alone
    "sync.common": ("sync.common",),
    "kiosk.vision": ("kiosk.vision",),              # pure: numpy in, data out
    "kiosk.mrz": ("kiosk.mrz",),                    # the MRZ stands alone, pure too
    "kiosk.cardread": ("kiosk.cardread", "kiosk.vision", "kiosk.mrz"),  # reads a card from both, pure
    # shows and forwards
    "kiosk.ui": ("kiosk.ui", "kiosk.i18n", "kiosk.capture.signature", "sync.wire.record"),
    # the catalogues: every layer renders through them, so they lean on nothing but the message type
    "kiosk.i18n": ("kiosk.i18n", "sync.common.msg"),
}
# Third-party modules a subsystem must not use.
FORBIDDEN_EXTERNAL = {
    "kiosk.ui": ("sqlite3", "sqlcipher3", "psycopg", "socket", "ssl", "paho", "requests", "http",
                 "urllib.request", "picamera2"),   # no SQL, sockets or camera drivers
    "kiosk.vision": ("PySide6", "sqlite3", "sqlcipher3", "psycopg", "socket", "ssl", "http", "urllib.request",
                     "paho", "requests", "picamera2"),
    "kiosk.mrz": ("PySide6", "sqlite3", "sqlcipher3", "psycopg", "socket", "ssl", "http", "urllib.request",
                  "paho", "requests", "picamera2"),
    "kiosk.cardread": ("PySide6", "sqlite3", "sqlcipher3", "psycopg", "socket", "ssl", "http",
                       "urllib.request", "paho", "requests", "picamera2"),
    "kiosk.capture": ("PySide6",),                 # the capture logic runs without Qt
    "kiosk.i18n": ("PySide6", "re"),               # gettext only; no sentence is matched
    "sync.wire": ("sqlite3", "sqlcipher3", "psycopg", "paho", "requests", "socket", "ssl", "http",
                  "urllib.request", "PySide6"),
}
# Only the server opens envelopes: device code never imports the private-key side.
SERVER_ONLY = {"sync.wire.envelope_open": ("server_stub", "sync.wire.envelope_open")}
# Subsystem folders hold a handful of modules; a folder of screens may hold a few more.
FOLDER_SIZE = (3, 15)
FOLDER_SIZE_EXCEPTIONS = {"kiosk/ui": 20}


@dataclass(frozen=True)
class Arrow:
    source: str
    target: str
    where: str


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> Iterator[Path]:
    for pkg in PACKAGES:
        yield from sorted((REPO / pkg).rglob("*.py"))


DYNAMIC_IMPORTS = {"import_module", "__import__", "find_spec"}


def imports_of(path: Path) -> Iterator[tuple[str, int]]:
    """Dotted names imported by `path` (`from a.b import c` gives `a.b.c`), with line numbers.
    A module named in a string to importlib counts too (`importlib.import_module("x.y")`)."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                mod = module_name(path)
                package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:
                yield f"{base}.{alias.name}", node.lineno
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in DYNAMIC_IMPORTS and isinstance(node.args[0].value, str):
                yield node.args[0].value, node.lineno


def arrows() -> list[Arrow]:
    out = []
    for path in source_files():
        src = module_name(path)
        for name, line in imports_of(path):
            out.append(Arrow(src, name, f"{path.relative_to(REPO)}:{line}"))
    return out


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def subsystem_of(module: str, table: dict[str, tuple[str, ...]]) -> str | None:
    hits = [k for k in table if within(module, (k,))]
    return max(hits, key=len) if hits else None


def ours(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


def violations(all_arrows: list[Arrow]) -> list[str]:
    bad = []
    for a in all_arrows:
        if ours(a.target):
            allowed = PACKAGE_ARROWS[a.source.split(".")[0]]
            if not within(a.target, allowed):
                bad.append(f"{a.where}: {a.source} -> {a.target} (package arrow not allowed)")
            inner = subsystem_of(a.source, INNER_ARROWS)
            if inner is not None and not within(a.target, INNER_ARROWS[inner]):
                only = INNER_ARROWS[inner]
                bad.append(f"{a.where}: {a.source} -> {a.target} ({inner} imports only {only})")
            for private, users in SERVER_ONLY.items():
                if within(a.target, (private,)) and not within(a.source, users):
                    bad.append(f"{a.where}: {a.source} -> {a.target} (server only)")
        else:
            sub = subsystem_of(a.source, FORBIDDEN_EXTERNAL)
            if sub is not None and within(a.target, FORBIDDEN_EXTERNAL[sub]):
                bad.append(f"{a.where}: {a.source} -> {a.target} (not in {sub})")
    return bad


def module_graph(all_arrows: list[Arrow]) -> dict[str, set[str]]:
    """Module -> the modules of ours it imports (a `from pkg import name` resolves to the
    longest existing module prefix)."""
    modules = {module_name(p) for p in source_files()}
    graph: dict[str, set[str]] = defaultdict(set)
    for a in all_arrows:
        if not ours(a.target):
            continue
        t = a.target
        while t and t not in modules:
            t = t.rpartition(".")[0]
        if t and t != a.source and not within(a.source, (t,)):
            graph[a.source].add(t)
    return graph


def folder_of(module: str) -> str:
    """`sync.wire.record` -> `sync.wire`; a top-level module stands for itself."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 or (REPO / Path(*parts)).is_dir() else module


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    nodes = set(graph) | {t for ts in graph.values() for t in ts}
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


@pytest.fixture(scope="module")
def all_arrows() -> list[Arrow]:
    return arrows()


def test_every_import_follows_the_allowed_arrows(all_arrows: list[Arrow]) -> None:
    assert len(all_arrows) > 500  # the reader sees the code (relative imports resolved too)
    assert violations(all_arrows) == []


def test_no_circle_between_modules(all_arrows: list[Arrow]) -> None:
    assert circles(module_graph(all_arrows)) == []


def test_no_circle_between_subsystem_folders(all_arrows: list[Arrow]) -> None:
    folders: dict[str, set[str]] = defaultdict(set)
    for src, targets in module_graph(all_arrows).items():
        for t in targets:
            if folder_of(src) != folder_of(t):
                folders[folder_of(src)].add(folder_of(t))
    assert circles(folders) == []


def test_the_checker_catches_what_it_should() -> None:
    """Each rule fires on a made-up arrow, so a typo in a table cannot pass everything."""
    made_up = [
        Arrow("server_stub.ingest.ingest", "sync.outbox.outbox.Outbox", "x:1"),
        Arrow("sync.wire.record", "sync.device.config", "x:2"),
        Arrow("kiosk.vision.card", "sync.wire.record.Check", "x:3"),
        Arrow("kiosk.ui.home", "kiosk.capture.save", "x:4"),
        Arrow("kiosk.ui.home", "sqlcipher3", "x:5"),
        Arrow("kiosk.capture.flow", "PySide6.QtCore", "x:6"),
        Arrow("kiosk.capture.save", "sync.wire.envelope_open.ServerPrivateKey", "x:7"),
        Arrow("hardware.power", "sync.wire.ids", "x:8"),
        Arrow("sync.agent.status", "hardware.camera.worker", "x:9"),
        Arrow("sync.wire.envelope", "urllib.request", "x:10"),
    ]
    assert [v.split(":")[1] for v in violations(made_up)] == [str(i) for i in range(1, 11)]
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_a_module_named_to_importlib_is_an_arrow(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("import importlib\n\ndef f():\n    return importlib.import_module('sync.outbox.outbox')\n")
    assert ("sync.outbox.outbox", 4) in list(imports_of(src))


def test_subsystem_folders_hold_a_handful_of_modules() -> None:
    for pkg in PACKAGES:
        top = [p for p in (REPO / pkg).glob("*.py") if p.name != "__init__.py"]
        assert len(top) <= FOLDER_SIZE[1], f"{pkg}/ has {len(top)} loose modules"
        for folder in sorted(p for p in (REPO / pkg).iterdir() if (p / "__init__.py").exists()):
            rel = str(folder.relative_to(REPO))
            n = len([p for p in folder.glob("*.py") if p.name != "__init__.py"])
            n += len([p for p in folder.iterdir() if (p / "__init__.py").exists()])
            lo, hi = FOLDER_SIZE[0], FOLDER_SIZE_EXCEPTIONS.get(rel, FOLDER_SIZE[1])
            assert lo <= n <= hi, f"{rel}/ holds {n} modules (want {lo}-{hi})"
            nested = [p for p in folder.iterdir() if p.is_dir() and (p / "__init__.py").exists()]
            assert not nested, f"{rel}/ nests packages {nested}: one level deep"
