"""systemd stops the kiosk with SIGTERM (and SIGKILLs it 10 s later): the real
`fieldkit-kiosk` process, offscreen on a replay camera, quits cleanly with exit 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sync.device.config import load_config
from sync.outbox.outbox import Outbox
from tests.helpers.ui import offline_device, replay_folder

BIN = Path(sys.executable).parent


def test_sigterm_quits_cleanly_with_exit_0(tmp_path: Path) -> None:
    cfg_path = offline_device(tmp_path / "dev")
    frames = tmp_path / "frames"
    replay_folder(frames, repeat=2)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.Popen([str(BIN / "fieldkit-kiosk"), "--camera", f"replay:{frames}", "--config",
                             str(cfg_path), "--windowed"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        cfg = load_config(cfg_path)
        outbox = cfg.device.data_dir / "outbox.db"
        deadline = time.monotonic() + 60
        while not outbox.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert outbox.exists() and proc.poll() is None, proc.communicate(timeout=5)
        time.sleep(2.0)                          # the event loop is running
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=10)  # well inside systemd's 10 s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert time.monotonic() - t0 < 8
    # The outbox was closed properly: it opens again with its key, nothing half-written.
    ob = Outbox.open_with_key_file(outbox, cfg.keys.outbox_key)
    assert ob.counts().unacknowledged == 0
    ob.close()
