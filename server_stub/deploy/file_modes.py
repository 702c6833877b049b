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

`exposed_files` is what `check-config` and `serve` refuse: a store, key or config file, or an
acuse receipt (.eml), that another user can read, each with the command that fixes it. The one
key the broker shares may be 0640 with the group of the user the deployment's broker config
drops to (`deployment_broker`).
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


def _lookup(name: str) -> BrokerUser:
    """KeyError: no such user."""
    pw = pwd.getpwnam(name)
    try:
        group = grp.getgrgid(pw.pw_gid).gr_name
    except KeyError:
        group = str(pw.pw_gid)
    return BrokerUser(name, pw.pw_uid, pw.pw_gid, group)


def broker_user(requested: str | None) -> BrokerUser | None:
    """Whom to share the broker's files with; None when the broker reads them as their owner
    (we are not root, so the broker runs as us; or it runs as root). KeyError: no such user."""
    name = requested or BROKER_DEFAULT_USER
    if os.geteuid() != 0 or name == "root":
        return None
    return _lookup(name)


def broker_conf_user(conf: Path) -> str:
    """The user Mosquitto drops to with config `conf`: its last `user` line, else Mosquitto's
    default (also when the file is missing or unreadable: a broker configured elsewhere)."""
    name = BROKER_DEFAULT_USER
    try:
        text = conf.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return name
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "user":  # init writes at most one
            name = words[1]
    return name


def deployment_broker(conf: Path) -> BrokerUser | None:
    """The broker user a deployment was made for, read from the broker config `init` wrote
    (`mosquitto.conf`, `user` line; `init --broker-user` puts it there). None when that is
    root or no such user exists: then no group may read the broker's files.

    Why the config and not the group the broker's files have now: the `user` line is what
    the broker actually drops to, and its group comes from the user database; a file's group is
    metadata a stray `chgrp -R` changes, and taking it would let one mis-grouped file vouch for
    the others."""
    name = broker_conf_user(conf)
    if name == "root":
        return None
    try:
        return _lookup(name)
    except KeyError:
        return None


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
    except BaseException:
        with contextlib.suppress(OSError):  # no half-written .tmp left behind
            os.unlink(tmp)
        raise


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


def _who(mode: int) -> str:
    g, o = bool(mode & 0o070), bool(mode & 0o007)
    return "group and others" if g and o else "others" if o else "its group"


def exposed(path: Path, *, broker: BrokerUser | None = None, broker_may_read: bool = False) -> str | None:
    """One line if another user may read or write `path` (a missing file is not a problem).
    `broker_may_read`: `path` is also the broker's (its TLS key), so 0640 with the group of
    `broker` (the deployment's broker user, `deployment_broker`) is what init made, and fine."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    mode = stat.S_IMODE(st.st_mode)
    if not mode & 0o077:
        return None
    shown = Path(os.path.abspath(path))
    q = shlex.quote(str(shown))
    if broker_may_read and broker is not None and not mode & 0o037 and st.st_gid == broker.gid:
        return None  # 0640 with the broker user's group: what init gives the broker's TLS key
    fix = f"chmod 600 {q}"
    if broker_may_read and broker is not None:
        fix += (f" (or, if Mosquitto reads it as user {broker.name}: "
                f"chgrp {shlex.quote(broker.group)} {q} && chmod 640 {q})")
    return f"{shown}: mode {mode:04o}, open to {_who(mode)}; it must be 0600; fix: {fix}"


RECEIPT_SUFFIXES = (".eml", ".eml.tmp")


def exposed_receipts(folder: Path) -> str | None:
    """One line if another user may read or write an acuse de recibo under `folder` (the
    outbox: one .eml per record, with the citizen's name, e-mail address and folio), with one
    command for the folder. The old server wrote them 0644; an upgrade keeps them."""
    open_modes: list[tuple[str, int]] = []
    for dirpath, _dirs, files in os.walk(folder):  # a missing folder: nothing
        for name in files:
            if not name.endswith(RECEIPT_SUFFIXES):
                continue
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except FileNotFoundError:  # delivered or replaced meanwhile
                continue
            if stat.S_ISREG(st.st_mode) and st.st_mode & 0o077:
                open_modes.append((name, stat.S_IMODE(st.st_mode)))
    if not open_modes:
        return None
    shown = Path(os.path.abspath(folder))
    union = 0
    for _name, m in open_modes:
        union |= m
    first, first_mode = min(open_modes)
    n = len(open_modes)
    return (f"{shown}: {n} acuse file{'s' if n > 1 else ''} (.eml: citizens' names, e-mail "
            f"addresses and folios) open to {_who(union)}, e.g. {first} mode {first_mode:04o}; "
            f"they must be 0600; fix: chmod -R go= {shlex.quote(str(shown))}")


def exposed_files(config: Path, store_url: str, private_keys: Iterable[Path],
                  broker_keys: Iterable[Path] = (), *, broker: BrokerUser | None = None,
                  receipts: Path | None = None) -> list[str]:
    """The config, the SQLite store and its -wal/-shm, private keys and acuse receipts
    (folder `receipts`) that others may read. `broker_keys`: keys the broker may also read
    (0640 with the group of `broker`, the deployment's broker user, is allowed)."""
    files = [config]
    if store_url.startswith("sqlite:"):
        db = Path(store_url.removeprefix("sqlite:"))
        files += [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    files += list(private_keys)
    problems = [p for f in dict.fromkeys(files) if (p := exposed(f)) is not None]
    problems += [p for f in dict.fromkeys(broker_keys)
                 if (p := exposed(f, broker=broker, broker_may_read=True)) is not None]
    if receipts is not None and (p := exposed_receipts(receipts)) is not None:
        problems.append(p)
    return problems
