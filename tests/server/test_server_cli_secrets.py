"""`fieldkit-server` as an operator types it: `--config` on either side of the sub-command,
Spanish help, a busy port as one line, and PINs that never travel in argv (subprocesses)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server_stub.cli.main import main
from server_stub.core.config import load_config
from server_stub.core.store import open_store
from server_stub.fleet import tables as fleet
from sync.common.pin import verify_pin

PROCESS, ASPIRANT = "df-01", "asp-1"
# Words of the English help these commands had; none is Spanish (option and command names are
# skipped or not listed).
ENGLISH = {"the", "of", "and", "or", "with", "from", "to", "this", "default", "repeat", "show",
           "message", "exit", "usage", "options", "arguments", "only", "records", "pending", "now",
           "when", "its", "for", "by", "an", "is", "replace", "register", "read", "written"}


def cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    """The CLI with no terminal: stdin is what the test gives, else empty."""
    return subprocess.run([sys.executable, "-m", "server_stub.cli", *args], input=stdin or "",
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A deployment on free ports with one process and its aspirant; returns server.toml."""
    monkeypatch.delenv("FIELDKIT_AUX_PIN", raising=False)
    monkeypatch.delenv("FIELDKIT_SERVER_CONFIG", raising=False)
    root = tmp_path / "dep"
    assert main(["init", str(root), "--suite", "x25519", "--https-port", str(free_port()),
                 "--enroll-port", str(free_port())]) == 0
    cfg = str(root / "server.toml")
    assert main(["--config", cfg, "process", "define", "--id", PROCESS, "--kind", "diputacion_federal",
                 "--start", "2027-01-01", "--end", "2027-02-28"]) == 0
    assert main(["process", "add-aspirant", "--config", cfg, "--process", PROCESS, "--id", ASPIRANT,
                 "--entidad", "9", "--distrito", "1"]) == 0
    return root / "server.toml"


def stored_hash(cfg: Path, aux_id: str) -> str:
    store = open_store(load_config(cfg).store_url())
    try:
        return {a.aux_id: a.pin_hash for a in fleet.list_auxiliaries(store)}[aux_id]
    finally:
        store.close()


def one_line(r: subprocess.CompletedProcess[str]) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


# --- --config ------------------------------------------------------------------------------

def test_config_before_or_after_the_subcommand_and_from_the_environment(deployment: Path) -> None:
    cfg = str(deployment)
    before, after = cli("--config", cfg, "process", "list"), cli("process", "list", "--config", cfg)
    env = cli("process", "list", env={"FIELDKIT_SERVER_CONFIG": cfg})
    for r in (before, after, env):
        assert r.returncode == 0, r.stderr
        assert [p["id"] for p in json.loads(r.stdout)] == [PROCESS]
    nested = cli("--config", cfg, "admin", "auxiliary-list")
    assert nested.returncode == 0 and json.loads(nested.stdout) == [], nested.stderr
    # The sub-command's own copy wins over the one before it (it is typed last).
    r = cli("--config", cfg, "process", "list", "--config", str(deployment.parent / "nope.toml"))
    assert r.returncode == 2 and "nope.toml" in one_line(r)


# --- help ----------------------------------------------------------------------------------

def _english_words(text: str) -> set[str]:
    kept = [t for t in text.split() if not t.startswith(("-", "$", "[", "{", "/", "'"))
            and "_" not in t and "/" not in t]
    return {w for w in re.findall(r"[a-z]+", " ".join(kept)) if w in ENGLISH}


@pytest.mark.parametrize("argv", [[], ["serve"], ["roll"], ["roll", "import"], ["process", "define"],
                                  ["verify"], ["dashboard-user"], ["admin", "add-device"],
                                  ["admin", "auxiliary-add"], ["admin", "auxiliary-pin"]])
def test_help_is_spanish(argv: list[str]) -> None:
    r = cli(*argv, "--help")
    assert r.returncode == 0 and r.stdout.startswith("uso: fieldkit-server"), r.stdout + r.stderr
    assert "muestra esta ayuda" in r.stdout
    assert _english_words(r.stdout) == set(), r.stdout


def test_a_usage_error_is_one_spanish_line() -> None:
    r = cli("process", "define", "--kind", "nada")
    line = one_line(r)
    assert r.returncode == 2 and "valor no válido: 'nada'" in line and "--help" in line, line


# --- a busy port ---------------------------------------------------------------------------

@pytest.fixture
def running_server(deployment: Path) -> Iterator[Path]:
    log = deployment.parent / "first.log"
    with log.open("w") as out:
        p = subprocess.Popen([sys.executable, "-m", "server_stub.cli", "serve", "--no-mqtt",
                              "--config", str(deployment)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while "fieldkit-server ready" not in log.read_text(errors="replace"):
            assert p.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield deployment
    finally:
        p.terminate()
        p.wait(30)


def test_a_second_serve_names_the_busy_port_in_one_line(running_server: Path) -> None:
    cfg = load_config(running_server)
    r = cli("serve", "--no-mqtt", "--config", str(running_server))
    line = one_line(r)
    assert r.returncode == 1 and r.stdout == "", r.stdout
    assert f"el puerto {cfg.https.port} (API HTTPS, 127.0.0.1) ya lo ocupa otro proceso" in line, line


def test_a_socket_on_the_enrollment_port_is_named(deployment: Path) -> None:
    port = load_config(deployment).fleet.enroll_port
    assert port is not None
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        r = cli("serve", "--no-mqtt", "--config", str(deployment))
    line = one_line(r)
    assert r.returncode == 1 and f"el puerto {port} (inscripción, 127.0.0.1)" in line, line


# --- PINs ----------------------------------------------------------------------------------

def add(cfg: Path, aux_id: str, *extra: str, stdin: str | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return cli("admin", "auxiliary-add", "--config", str(cfg), "--id", aux_id, "--name", "AUX",
               "--process", PROCESS, *extra, stdin=stdin, env=env)


def test_pin_from_the_environment_or_stdin(deployment: Path) -> None:
    r = add(deployment, "aux-env", env={"FIELDKIT_AUX_PIN": "482913"})
    assert r.returncode == 0, r.stderr
    assert "generated_pin" not in json.loads(r.stdout) and "482913" not in r.stdout + r.stderr
    assert verify_pin("482913", stored_hash(deployment, "aux-env"))
    r = add(deployment, "aux-in", "--pin-stdin", stdin="135790\n")
    assert r.returncode == 0 and "generated_pin" not in json.loads(r.stdout), r.stderr
    assert verify_pin("135790", stored_hash(deployment, "aux-in"))
    r = cli("admin", "auxiliary-pin", "--config", str(deployment), "--id", "aux-in", "--pin-stdin",
            stdin="97531\n")
    assert r.returncode == 0 and json.loads(r.stdout) == {"id": "aux-in", "config_updates": []}, r.stderr
    assert verify_pin("97531", stored_hash(deployment, "aux-in"))


def test_a_new_auxiliary_without_a_pin_gets_a_generated_one_shown_once(deployment: Path) -> None:
    r = add(deployment, "aux-gen")
    assert r.returncode == 0, r.stderr
    pin = json.loads(r.stdout)["generated_pin"]
    assert re.fullmatch(r"\d{6}", pin) and verify_pin(pin, stored_hash(deployment, "aux-gen"))
    assert "PIN generado para aux-gen" in one_line(r) and pin not in r.stderr
    assert (r.stdout + r.stderr).count(pin) == 1
    # Nothing given and no terminal: an existing auxiliary is not re-keyed behind one's back.
    for again in (add(deployment, "aux-gen"),
                  cli("admin", "auxiliary-pin", "--config", str(deployment), "--id", "aux-gen")):
        assert again.returncode == 2 and "falta el PIN de aux-gen" in one_line(again)
    assert verify_pin(pin, stored_hash(deployment, "aux-gen"))


def test_bad_or_missing_pins_are_one_line(deployment: Path) -> None:
    for bad in ("12a4", "123", "1234567890123"):
        r = add(deployment, "aux-bad", "--pin-stdin", stdin=f"{bad}\n")
        assert r.returncode == 2 and "de 4 a 12 dígitos" in one_line(r) and bad not in r.stderr
    r = add(deployment, "aux-bad", "--pin-stdin")
    assert r.returncode == 2 and "--pin-stdin" in one_line(r)
    r = cli("admin", "auxiliary-pin", "--config", str(deployment), "--id", "nadie", "--pin-stdin",
            stdin="1234\n")
    assert r.returncode == 1 and "no existe el auxiliar 'nadie'" in one_line(r)


@pytest.mark.parametrize("argv", [["--pin", "246810"], ["--pin=246810"]])
def test_pin_on_the_command_line_is_refused_without_echoing_it(deployment: Path, argv: list[str]) -> None:
    r = add(deployment, "aux-argv", *argv)
    line = one_line(r)
    assert r.returncode == 2 and "--pin ya no existe" in line and "246810" not in line, line
    r = cli("admin", "auxiliary-list", "--config", str(deployment))
    assert [a["id"] for a in json.loads(r.stdout)] == []


def test_pin_asked_twice_at_a_terminal(deployment: Path) -> None:
    def read_until(fd: int, seen: bytes, wanted: bytes) -> bytes:
        while wanted not in seen:
            ready, _, _ = select.select([fd], [], [], 30)  # a missing prompt fails, never hangs
            assert ready, seen
            seen += os.read(fd, 1024)
        return seen

    def at_terminal(first: str, second: str) -> tuple[int, str]:
        """auxiliary-add on a real pseudo-terminal (its controlling terminal, as an operator's
        shell), answering its two prompts."""
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(sys.executable, [sys.executable, "-m", "server_stub.cli", "admin", "auxiliary-add",
                                      "--config", str(deployment), "--id", "aux-tty", "--name", "AUX",
                                      "--process", PROCESS])
        seen = b""
        try:
            seen = read_until(fd, seen, b"PIN nuevo de aux-tty")
            os.write(fd, first.encode() + b"\n")
            seen = read_until(fd, seen, b"repita el PIN: ")
            os.write(fd, second.encode() + b"\n")
            while select.select([fd], [], [], 30)[0]:
                try:
                    chunk = os.read(fd, 1024)
                except OSError:  # EIO: the child has gone and closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
        finally:
            _, status = os.waitpid(pid, 0)
            os.close(fd)
        return os.waitstatus_to_exitcode(status), seen.decode(errors="replace")

    code, out = at_terminal("864209", "864200")
    assert code == 2 and "no coinciden" in out, out
    code, out = at_terminal("864209", "864209")
    assert code == 0 and json.loads(out[out.index("{"):])["id"] == "aux-tty", out
    assert "864209" not in out  # getpass: nothing echoed
    assert verify_pin("864209", stored_hash(deployment, "aux-tty"))


# --- the demo ------------------------------------------------------------------------------

_ARGVS: list[list[str]] | None = None  # set while a test listens: an audit hook cannot be removed


def _record_argv(event: str, args: tuple[object, ...]) -> None:
    if event == "subprocess.Popen" and _ARGVS is not None:
        _ARGVS.append([os.fsdecode(a) for a in args[1]])  # type: ignore[attr-defined]


def test_the_demo_puts_no_pin_where_ps_shows_it(tmp_path: Path) -> None:
    """Every argv the demo hands the kernel (what `ps` shows) while it builds its server and
    device, seen through the interpreter's own audit event for each child started."""
    global _ARGVS
    from kiosk.demo.deployment import DEMO_PIN, provision_device, start_server
    from kiosk.demo.procs import Procs

    (tmp_path / "logs").mkdir()
    procs = Procs(tmp_path / "logs")
    sys.addaudithook(_record_argv)
    _ARGVS = []
    try:
        dep = start_server(tmp_path, procs, want_mqtt=False, roll_rows=20)
        provision_device(dep, "https")
        seen, _ARGVS = _ARGVS, None
    finally:
        _ARGVS = None
        procs.stop_all()
    assert any(a[1:3] == ["admin", "add-device"] for a in seen), seen  # the server was driven
    for argv in seen:
        assert not any(DEMO_PIN in a or a.startswith("--pin") for a in argv), argv
