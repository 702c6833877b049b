"""Who may read a deployment's files: private to the server's user by construction.

The store holds every opened record (names, CIC, e-mail), password hashes and enrollment-code
keys; the config holds the MQTT share-group secret and the SMTP and PostgreSQL passwords. So:

- `fieldkit-server` runs with umask 077 (`server_stub/cli/main.py`): whatever it creates is
  0600 (folders 0700) whatever umask the shell or the unit handed it.
- `fieldkit-server init` sets every path of the deployment explicitly (`secure_deployment`),
  so the modes do not depend on the caller's umask either: files 0600, folders 0700.
- The one exception is what Mosquitto needs after it drops to its own user (root starts it,
  as Debian's unit does, and it switches to `user`, default `mosquitto`): it reads its config,
  its ACL, the CA certificate and the server certificate and key *after* dropping privileges
  (so do its SIGHUP reloads), and it writes its log, pid file and persistence folder. Those it
  reads get the broker user's group and 0640, the folders holding them 0750 and the
  deployment folder 0710 (pass through, no listing); those it writes are its own, 0600 / 0700.
  A broker started by a non-root user does not switch user and reads the files as their
  owner, so nothing is shared then.

`exposed_files` is what `check-config` and `serve` refuse: a store, key or config file that
another user can read, each with the command that fixes it.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shlex
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
SHARED_FILE = 0o640  # read by the broker's group
SHARED_DIR = 0o750  # a folder holding files the broker reads
PASS_DIR = 0o710  # the deployment folder: the broker's group may pass through, not list it
# Mosquitto's default `user` (it switches to it when started as root with no `user` line).
BROKER_DEFAULT_USER = "mosquitto"


@dataclass(frozen=True)
class BrokerUser:
    """The user Mosquitto runs as after dropping privileges, and its group."""

    name: str
    uid: int
    gid: int
    group: str


@dataclass(frozen=True)
class BrokerPaths:
    reads: Sequence[Path] = ()  # files it reads: config, ACL, CA cert, server cert and key
    writes: Sequence[Path] = ()  # files it writes in a folder it cannot write: log, pid file
    owns: Sequence[Path] = ()  # folders it writes in: persistence


def broker_user(requested: str | None) -> BrokerUser | None:
    """Whom to share the broker's files with; None when the broker reads them as their owner
    (we are not root, so the broker runs as us; or it runs as root). KeyError: no such user."""
    name = requested or BROKER_DEFAULT_USER
    if os.geteuid() != 0 or name == "root":
        return None
    pw = pwd.getpwnam(name)
    try:
        group = grp.getgrgid(pw.pw_gid).gr_name
    except KeyError:
        group = str(pw.pw_gid)
    return BrokerUser(name, pw.pw_uid, pw.pw_gid, group)


def write_private_text(path: Path, text: str) -> Path:
    """Create (or overwrite) `path` 0600 from its first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, PRIVATE_FILE)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fd, PRIVATE_FILE)
        fh.write(text)
    return path


def replace_keeping_access(path: Path, data: bytes) -> None:
    """Atomically replace `path`, keeping its owner, group and mode (the broker re-reads its
    ACL as its own user on SIGHUP); a new file is 0600."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        st: os.stat_result | None = path.stat()
    except FileNotFoundError:
        st = None
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        if st is not None:
            with contextlib.suppress(OSError):  # another owner: only root may give it away
                os.fchown(fd, st.st_uid, st.st_gid)
            with contextlib.suppress(OSError):  # not root: at least the group, if we are in it
                os.fchown(fd, -1, st.st_gid)
        os.fchmod(fd, stat.S_IMODE(st.st_mode) if st is not None else PRIVATE_FILE)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _set(path: Path, mode: int, uid: int = -1, gid: int = -1) -> None:
    if uid != -1 or gid != -1:
        os.chown(path, uid, gid, follow_symlinks=False)
    os.chmod(path, mode)


def secure_deployment(root: Path, broker: BrokerUser | None, paths: BrokerPaths) -> None:
    """Set owner, group and mode of `root` and everything under it (symlinks left alone).

    broker None: every file 0600, every folder 0700. Otherwise the broker's paths are shared
    as the module docstring says; files in `paths.writes` are created empty if missing."""
    root = root.absolute()
    reads = {p.absolute() for p in paths.reads} if broker else set()
    writes = {p.absolute() for p in paths.writes} if broker else set()
    owns = {p.absolute() for p in paths.owns} if broker else set()
    if broker is not None:
        for p in writes:
            if not p.exists():
                write_private_text(p, "")
    holders = {p.parent for p in reads | writes | owns}
    on_the_way = {d for p in holders for d in (p, *p.parents) if d == root or root in d.parents}

    def owned_by_broker(p: Path) -> bool:
        return p in writes or any(p == d or d in p.parents for d in owns)

    for dirpath, _dirs, files in os.walk(root):
        d = Path(dirpath)
        if broker is not None and owned_by_broker(d):
            _set(d, PRIVATE_DIR, broker.uid, broker.gid)
        elif broker is not None and d in on_the_way:
            _set(d, PASS_DIR if d == root else SHARED_DIR, gid=broker.gid)
        else:
            _set(d, PRIVATE_DIR)
        for name in files:
            f = d / name
            if f.is_symlink():
                continue
            if broker is not None and owned_by_broker(f):
                _set(f, PRIVATE_FILE, broker.uid, broker.gid)
            elif broker is not None and f in reads:
                _set(f, SHARED_FILE, gid=broker.gid)
            else:
                _set(f, PRIVATE_FILE)


def unreachable_by(root: Path, broker: BrokerUser) -> list[str]:
    """Folders above `root` the broker's user cannot pass through, each with a fix."""
    groups = set(os.getgrouplist(broker.name, broker.gid))
    out = []
    for d in reversed(root.absolute().parents):
        st = d.stat()
        if st.st_uid == broker.uid:
            ok = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid in groups:
            ok = bool(st.st_mode & stat.S_IXGRP)
        else:
            ok = bool(st.st_mode & stat.S_IXOTH)
        if not ok:
            q = shlex.quote(str(d))
            out.append(f"{d}: mode {stat.S_IMODE(st.st_mode):04o}, Mosquitto (user {broker.name}) "
                       f"cannot reach {root}; fix: chmod o+x {q} (or chgrp {broker.group} {q} && "
                       f"chmod g+x {q})")
    return out


# --- what check-config and serve refuse ----------------------------------------------------


def _mosquitto_gid() -> int | None:
    try:
        return grp.getgrnam(BROKER_DEFAULT_USER).gr_gid
    except KeyError:
        return None


def _who(mode: int) -> str:
    g, o = bool(mode & 0o070), bool(mode & 0o007)
    return "group and others" if g and o else "others" if o else "its group"


def exposed(path: Path, *, broker_may_read: bool = False) -> str | None:
    """One line if another user may read or write `path` (a missing file is not a problem)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    mode = stat.S_IMODE(st.st_mode)
    if not mode & 0o077:
        return None
    shown = Path(os.path.abspath(path))
    q = shlex.quote(str(shown))
    if broker_may_read and not mode & 0o037 and st.st_gid == _mosquitto_gid():
        return None  # 0640 with group mosquitto: what init gives the broker's TLS key
    fix = f"chmod 600 {q}"
    if broker_may_read:
        fix += (f" (or, if Mosquitto reads it as user {BROKER_DEFAULT_USER}: "
                f"chgrp {BROKER_DEFAULT_USER} {q} && chmod 640 {q})")
    return f"{shown}: mode {mode:04o}, open to {_who(mode)}; it must be 0600; fix: {fix}"


def exposed_files(config: Path, store_url: str, private_keys: Iterable[Path],
                  broker_keys: Iterable[Path] = ()) -> list[str]:
    """The config, the SQLite store and its -wal/-shm, and private keys that others may read.
    `broker_keys`: keys the broker may also read (0640 with group mosquitto is allowed)."""
    files = [config]
    if store_url.startswith("sqlite:"):
        db = Path(store_url.removeprefix("sqlite:"))
        files += [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    files += list(private_keys)
    problems = [p for f in dict.fromkeys(files) if (p := exposed(f)) is not None]
    problems += [p for f in dict.fromkeys(broker_keys) if (p := exposed(f, broker_may_read=True)) is not None]
    return problems
