"""Device-side hardening: what the device writes is private whatever the umask (the outbox,
its -wal/-shm, the data dir the outbox makes, the agent's state file and its local socket)."""

from __future__ import annotations

import os
import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.agent.local_channel import SOCKET_FILE, LocalChannelClient
from sync.agent.settings import STATE_FILE
from sync.agent.state import AgentState, save_state
from sync.outbox.keyfile import create_key_file
from sync.outbox.outbox import Outbox
from tests.helpers.agent import make_device, wait_until
from tests.helpers.mqtt import PKIPaths
from tests.helpers.server import IngestServer


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_outbox_db_wal_shm_and_its_new_dir_are_private(tmp_path: Path, permissive_umask: None) -> None:
    key = create_key_file(tmp_path / "outbox.key")
    data = tmp_path / "var" / "data"
    ob = Outbox.create(data / "outbox.db", key, "dev-umask", "7KQ2")
    try:
        for _ in range(3):
            ob.next_batch(1, retry_after_s=None)  # the connection is live: -wal and -shm exist
        files = {p.name: _mode(p) for p in data.iterdir()}
        assert {"outbox.db", "outbox.db-wal", "outbox.db-shm"} <= set(files), files
        assert all(m == 0o600 for m in files.values()), {k: oct(v) for k, v in files.items()}
        assert _mode(data) == 0o700
    finally:
        ob.close()
    # A folder that already exists is the caller's; the outbox does not change it.
    shared = tmp_path / "existing"
    shared.mkdir(mode=0o750)
    os.chmod(shared, 0o750)
    Outbox.create(shared / "outbox.db", key, "dev-umask", "7KQ2").close()
    assert _mode(shared) == 0o750 and _mode(shared / "outbox.db") == 0o600


def test_state_file_is_0600_even_over_a_wide_leftover(tmp_path: Path, permissive_umask: None) -> None:
    path = tmp_path / STATE_FILE
    leftover = path.with_name(path.name + f".{os.getpid()}.tmp")
    leftover.write_text("{}")
    os.chmod(leftover, 0o666)
    save_state(path, AgentState(connection="offline"))
    assert _mode(path) == 0o600
    assert not leftover.exists()


def test_running_agent_state_file_and_socket_are_private(
        tmp_path: Path, ingest_server: IngestServer, pki: PKIPaths,
        permissive_umask: None) -> None:
    """A real `fieldkit-sync run` started with umask 0 (it inherits it): the data dir the
    outbox makes, the outbox files, sync-state.json and sync.sock are still private."""
    dev = make_device(tmp_path / "dev", ingest_server, pki.device(2))
    try:
        data = dev.settings.outbox_path.parent
        # Let the outbox make its own folder this time.
        shutil.rmtree(data)
        key = (dev.root / "keys" / "outbox.key")
        from sync.outbox.keyfile import load_key

        Outbox.create(dev.settings.outbox_path, load_key(key), dev.id, "7KQ2").close()
        ids = dev.put(2)
        dev.spawn()
        sock = data / SOCKET_FILE
        assert wait_until(lambda: sock.exists() and (data / STATE_FILE).exists(), 20), dev.log_text()
        assert wait_until(lambda: dev.unacked() == 0, 30), dev.log_text()
        assert set(ids) <= ingest_server.stored_ids()
        st = LocalChannelClient.for_data_dir(data).status()
        assert st["connection"] == "online"
        time.sleep(0.2)
        modes = {p.name: _mode(p) for p in data.iterdir()}
        assert stat.S_ISSOCK(os.lstat(sock).st_mode)
        assert modes[SOCKET_FILE] == 0o600, modes
        assert modes[STATE_FILE] == 0o600, modes
        assert all(m == 0o600 for n, m in modes.items() if n.startswith("outbox.db")), modes
        assert _mode(data) == 0o700
    finally:
        dev.close()
