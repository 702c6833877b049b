"""The units in systemd/: systemd-analyze verify and security (offline, in a throwaway root
where every ExecStart path exists), ExecStart against pyproject's console scripts, the
hardening and power-loss settings, the kiosk's hand-over to its failure screen, and
tmpfiles.d applied to a root."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.systemd import (
    CAGE_DROPIN,
    CAGE_DROPINS,
    FAILURE_CAGE_DROPIN,
    FAILURE_UNIT,
    SERVICES,
    SYSTEMD,
    UNITS,
    VENV_BIN,
    analyze,
    console_scripts,
    exec_argv,
    fieldkit_program,
    make_unit_root,
    security_score,
    unit_values,
)

# Exposure (0 = locked down, 10 = none) that `systemd-analyze security --offline` gives today;
# a change that loosens a unit fails here and has to say why.
MAX_EXPOSURE = {"fieldkit-sync.service": 1.1, "fieldkit-server.service": 1.1,
                "fieldkit-kiosk.service": 1.5, FAILURE_UNIT: 1.2}


@pytest.fixture(scope="module")
def unit_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_unit_root(tmp_path_factory.mktemp("units") / "root")


@pytest.fixture(scope="module")
def cage_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_unit_root(tmp_path_factory.mktemp("units-cage") / "root", cage=True)


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_verify_is_clean(unit_root: Path, unit: str) -> None:
    p = analyze("verify", f"--root={unit_root}", unit)
    # verify exits 0 on unknown keys too: any line it prints is a finding.
    assert p.returncode == 0 and p.stdout == "" and p.stderr == "", p.stdout + p.stderr


@pytest.mark.parametrize("unit", ["fieldkit-kiosk.service", FAILURE_UNIT])
def test_verify_with_the_cage_dropin(cage_root: Path, unit: str) -> None:
    p = analyze("verify", f"--root={cage_root}", unit)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    dump = analyze("cat-config", f"--root={cage_root}", f"systemd/system/{unit}")
    assert dump.returncode == 0 or "display.conf" in dump.stdout


def test_verify_notices_a_missing_program(tmp_path: Path) -> None:
    """The check has teeth: with the console script absent, verify fails."""
    root = make_unit_root(tmp_path / "root", missing=(VENV_BIN + "fieldkit-sync",))
    p = analyze("verify", f"--root={root}", "fieldkit-sync.service")
    assert p.returncode != 0 and "fieldkit-sync is not executable" in p.stderr


@pytest.mark.parametrize("unit_file", [*(SYSTEMD / u for u in SERVICES), *CAGE_DROPINS],
                         ids=lambda p: p.name)
def test_execstart_runs_a_console_script(unit_file: Path) -> None:
    scripts = console_scripts()
    starts = unit_values(unit_file, "ExecStart")
    assert len(starts) == 1, starts
    prog = fieldkit_program(exec_argv(starts[0]))
    assert prog is not None, starts
    assert prog.removeprefix(VENV_BIN) in scripts, (prog, sorted(scripts))


def test_execstart_arguments_match_the_clis() -> None:
    """The arguments the units pass are ones the programs take."""
    from sync.agent.cli import build_parser as sync_parser

    argv = exec_argv(unit_values(SYSTEMD / "fieldkit-sync.service", "ExecStart")[0])
    ns = sync_parser().parse_args(argv[1:])
    assert ns.cmd == "run" and ns.config == "/etc/fieldkit/device.toml"
    argv = exec_argv(unit_values(SYSTEMD / "fieldkit-server.service", "ExecStart")[0])
    assert argv[1:] == ["serve", "--config", "/srv/fieldkit/server.toml"]
    out = subprocess.run([str(Path(sys.executable).parent / "fieldkit-server"), "serve", "--help"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--config" in out.stdout
    # The kiosk runs with no --config: a missing default config means "not enrolled"
    # (first-run screen); an explicit --config that is missing is an error.
    from kiosk.cli.main import build_parser as kiosk_parser

    defaults = dict(v.split("=", 1) for e in unit_values(SYSTEMD / "fieldkit-kiosk.service", "Environment")
                    for v in e.split())
    for f in (SYSTEMD / "fieldkit-kiosk.service", CAGE_DROPIN):
        argv = exec_argv(unit_values(f, "ExecStart")[0])
        argv = argv[argv.index(VENV_BIN + "fieldkit-kiosk"):]
        assert "--config" not in argv
        argv = [defaults.get(a[2:-1], a) if a.startswith("${") else a for a in argv]
        ns = kiosk_parser().parse_args(argv[1:])
        assert ns.func.__name__ == "cmd_run" and ns.config is None
        assert (ns.camera, ns.size) == ("picamera", "800x480")
    # The failure screen reads the same default config (no --config) and opens no camera.
    for f in (SYSTEMD / FAILURE_UNIT, FAILURE_CAGE_DROPIN):
        argv = exec_argv(unit_values(f, "ExecStart")[0])
        argv = argv[argv.index(VENV_BIN + "fieldkit-kiosk"):]
        assert "--config" not in argv and "--camera" not in argv
        argv = [defaults.get(a[2:-1], a) if a.startswith("${") else a for a in argv]
        ns = kiosk_parser().parse_args(argv[1:])
        assert ns.func.__name__ == "cmd_failure_screen" and ns.config is None and ns.size == "800x480"


@pytest.mark.parametrize("unit", SERVICES)
def test_security_exposure(unit_root: Path, unit: str) -> None:
    score, table = security_score(unit_root, unit)
    print(f"{unit}: exposure {score}\n{table}")
    assert score <= MAX_EXPOSURE[unit], table


HARDENING = {
    "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
    "CapabilityBoundingSet": None, "LimitCORE": "0", "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
    "LockPersonality": "yes", "RestrictSUIDSGID": "yes", "RestrictNamespaces": "yes",
    "SystemCallArchitectures": "native", "MemorySwapMax": "0", "KillMode": "mixed",
    "UMask": "0077", "User": "fieldkit",
}


@pytest.mark.parametrize("unit", SERVICES)
def test_hardening_and_power_loss_settings(unit: str) -> None:
    f = SYSTEMD / unit
    for key, want in HARDENING.items():
        got = unit_values(f, key)
        if want is None:  # set to the empty list (no capabilities at all)
            assert key + "=" in f.read_text().splitlines(), key
            assert got == [], (key, got)
        else:
            assert got and got[-1] == want, (unit, key, got)
    assert unit_values(f, "MemoryMax"), unit
    assert unit_values(f, "RestrictAddressFamilies"), unit
    assert unit_values(f, "SystemCallFilter")[0] == "@system-service"
    rw = [p.lstrip("-") for p in " ".join(unit_values(f, "ReadWritePaths")).split()]
    assert (rw == []) if unit == FAILURE_UNIT else rw, (unit, rw)  # the failure screen writes nothing
    assert all(p.startswith(("/var/lib/fieldkit", "/etc/fieldkit", "/run/fieldkit", "/srv/fieldkit"))
               for p in rw), rw
    # A stop never waits long: SQLite in WAL with synchronous=FULL needs no clean shutdown,
    # so a short TimeoutStopSec before SIGKILL is safe (and a power cut is the same case).
    assert int(unit_values(f, "TimeoutStopSec")[0]) <= 30
    assert unit_values(f, "Restart") == ["on-failure"]


def test_sync_unit_watchdog_settings() -> None:
    f = SYSTEMD / "fieldkit-sync.service"
    assert unit_values(f, "Type") == ["notify"]
    assert unit_values(f, "NotifyAccess") == ["main"]
    wd = int(unit_values(f, "WatchdogSec")[0])
    # The agent's loop ticks between bounded steps (sync/agent/agent.py: before each transport's
    # open() in _connect, before each record in _send). The longest step (defaults in
    # sync/agent/settings.py and sync/transport/dns.py): an HTTPS request after a fresh
    # lookup, DNS + TCP/TLS connect + read; an MQTT open is DNS + connect + handshake +
    # CONNACK/SUBACK (one shared budget).
    from sync.agent.settings import AgentOptions
    from sync.transport.dns import DNS_TIMEOUT_S

    o = AgentOptions()
    https_step = DNS_TIMEOUT_S + o.connect_timeout_s + o.http_read_timeout_s
    mqtt_step = DNS_TIMEOUT_S + 3 * o.connect_timeout_s
    longest = max(https_step, mqtt_step)
    assert longest <= 60, longest  # the bound docs/sync.md promises
    # It pings when a tick finds half WatchdogSec gone since the last ping, so two pings
    # are at most WatchdogSec / 2 + one step apart.
    assert wd / 2 + longest < wd, (wd, longest)
    assert wd <= 120, wd  # a hung agent is restarted within two minutes
    assert "PYTHONFAULTHANDLER=1" in " ".join(unit_values(f, "Environment"))


def test_kiosk_unit_owns_tty1_and_reads_env_file() -> None:
    f = SYSTEMD / "fieldkit-kiosk.service"
    assert unit_values(f, "TTYPath") == ["/dev/tty1"]
    assert "getty@tty1.service" in unit_values(f, "Conflicts")
    assert unit_values(f, "EnvironmentFile") == ["-/etc/fieldkit/kiosk.env"]
    assert unit_values(f, "SupplementaryGroups") == ["video input render"]
    env = " ".join(unit_values(f, "Environment"))
    assert "QT_QPA_PLATFORM=eglfs" in env
    # The env file template documents the rotation knobs for both display modes.
    tmpl = (SYSTEMD / "kiosk.env").read_text()
    for knob in ("QT_QPA_EGLFS_ROTATION", "QT_QPA_EVDEV_TOUCHSCREEN_PARAMETERS", "FIELDKIT_CAGE_ARGS",
                 "FIELDKIT_CAMERA"):
        assert knob in tmpl
    assert "QT_QPA_PLATFORM=wayland" in " ".join(unit_values(CAGE_DROPIN, "Environment"))
    assert unit_values(CAGE_DROPIN, "PAMName") == ["fieldkit-kiosk"]


def test_kiosk_gives_up_after_a_few_tries_and_hands_over_to_the_failure_screen() -> None:
    """A crash the app cannot catch restarts it a few times, then the unit fails and OnFailure=
    starts the failure screen's unit; a stop while the app shows its own failure screen
    (exit 4) is clean, and bad usage (exit 2) is not retried."""
    from kiosk.app.failure import EXIT_STARTUP_FAILED
    from kiosk.cli.main import EXIT_USAGE

    kiosk = SYSTEMD / "fieldkit-kiosk.service"
    assert unit_values(kiosk, "OnFailure") == [FAILURE_UNIT]
    interval = int(unit_values(kiosk, "StartLimitIntervalSec")[-1])
    burst = int(unit_values(kiosk, "StartLimitBurst")[-1])
    assert interval > 0 and 2 <= burst <= 5, (interval, burst)  # 0 would mean "never give up"
    # All the tries fit in the interval, even if each one takes a minute to crash.
    assert (burst - 1) * (int(unit_values(kiosk, "RestartSec")[0]) + 60) < interval
    assert str(EXIT_STARTUP_FAILED) in unit_values(kiosk, "SuccessExitStatus")
    assert str(EXIT_USAGE) in unit_values(kiosk, "RestartPreventExitStatus")
    failure = SYSTEMD / FAILURE_UNIT
    conflicts = " ".join(unit_values(failure, "Conflicts")).split()
    assert "fieldkit-kiosk.service" in conflicts and "getty@tty1.service" in conflicts
    # Ordered, so that starting the kiosk stops the screen before it starts (Conflicts= alone
    # would run both at once on tty1).
    assert "fieldkit-kiosk.service" in " ".join(unit_values(failure, "After")).split()
    assert "[Install]" not in failure.read_text()  # never enabled: only OnFailure= starts it
    assert int(unit_values(failure, "StartLimitIntervalSec")[-1]) > 0
    assert not unit_values(failure, "OnFailure")
    # The same display, settings file and tty as the kiosk; no camera device, no network.
    for key in ("TTYPath", "EnvironmentFile", "User", "SupplementaryGroups", "StandardInput"):
        assert unit_values(failure, key) == unit_values(kiosk, key), key
    assert "QT_QPA_PLATFORM=eglfs" in " ".join(unit_values(failure, "Environment"))
    allowed = " ".join(unit_values(failure, "DeviceAllow"))
    assert "video4linux" not in allowed and "media" not in allowed
    assert "AF_INET" not in " ".join(unit_values(failure, "RestrictAddressFamilies"))
    for dropin in CAGE_DROPINS:
        assert unit_values(dropin, "PAMName") == ["fieldkit-kiosk"], dropin


def test_tmpfiles_makes_the_directories_owned_right(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n"
                                     "fieldkit:x:990:990::/var/lib/fieldkit:/usr/sbin/nologin\n")
    (root / "etc/group").write_text("root:x:0:\nfieldkit:x:990:\n")
    for d in ("var/lib", "run"):
        (root / d).mkdir(parents=True)
    p = subprocess.run(["systemd-tmpfiles", f"--root={root}", "--create",
                        str(SYSTEMD / "fieldkit.tmpfiles")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    want = {"etc/fieldkit": 0o750, "etc/fieldkit/keys": 0o700, "var/lib/fieldkit": 0o700,
            "run/fieldkit": 0o750}
    for d, mode in want.items():
        st = (root / d).stat()
        assert stat.S_IMODE(st.st_mode) == mode, (d, oct(st.st_mode))
        assert (st.st_uid, st.st_gid) == (990, 990), d


def test_system_config_files_say_what_the_docs_say() -> None:
    sysctl = (SYSTEMD / "sysctl-fieldkit.conf").read_text()
    assert "kernel.core_pattern=|/bin/false" in sysctl and "fs.suid_dumpable=0" in sysctl
    core = (SYSTEMD / "coredump-fieldkit.conf").read_text()
    assert "Storage=none" in core and "ProcessSizeMax=0" in core
    journal = (SYSTEMD / "journald-fieldkit.conf").read_text()
    assert "MaxRetentionSec=14day" in journal and "SystemMaxUse=64M" in journal
    doc = (SYSTEMD.parent / "docs" / "deploy-pi.md").read_text()
    for needle in ("MaxRetentionSec=14day", "LimitCORE=0", "WatchdogSec=120", "data=ordered",
                   "synchronous=FULL", "zram"):
        assert needle in doc, needle
