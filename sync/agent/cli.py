"""`fieldkit-sync`: the sync agent (`run`) and its report (`status [--json]`)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

from sync.agent.settings import AgentSettings
from sync.agent.state import load_state, now_ms, pid_alive
from sync.common.logs import setup_logging
from sync.device.config_cli import add_config_argument, load_config_or_exit
from sync.wire.errors import SyncError

PROG = "fieldkit-sync"


def status_report(settings: AgentSettings, transport_mode: str) -> dict[str, Any]:
    """The `status --json` object (keys and units in docs/cli.md). Raises SyncError."""
    from sync.outbox.outbox import Outbox

    report: dict[str, Any] = {"device_id": settings.device_id, "transport_mode": transport_mode,
                              "outbox": "missing", "pending": 0, "in_flight": 0,
                              "oldest_pending_age_s": None}
    if settings.outbox_path.exists():
        _quiet_sqlcipher()
        # Read-only: never contend with the agent or the kiosk for the write lock.
        with Outbox.open_with_key_file(settings.outbox_path, settings.outbox_key,
                                       readonly=True) as ob:
            c = ob.counts()
            report.update(outbox="ok", pending=c.unacknowledged, in_flight=c.in_flight,
                          oldest_pending_age_s=_round(ob.oldest_pending_age_s()))
    st = load_state(settings.state_path)
    running = st is not None and st.connection != "stopped" and pid_alive(st.pid)
    now = now_ms()
    report.update(
        agent_pid=st.pid if st is not None and running else None,
        connection=st.connection if st is not None and running else "stopped",
        transport=st.transport if st is not None else None,
        connection_since_ms=st.since_ms if st is not None and running else None,
        last_success_ms=st.last_success_ms if st else None,
        last_success_age_s=_round((now - st.last_success_ms) / 1000)
        if st and st.last_success_ms else None,
        last_success_server_ms=st.last_success_server_ms if st else None,
        last_error=st.last_error if st else None,
        clock_offset_ms=st.clock_offset_ms if st else None,
        clock_source=st.clock_source if st else None,
        state_updated_ms=st.updated_ms if st else None,
    )
    return report


def _quiet_sqlcipher() -> None:
    """SQLCipher's log level is process-wide: silence it before the first open, so a wrong
    key is our one-line error and not HMAC log lines on stderr."""
    import sqlcipher3

    conn = sqlcipher3.connect(":memory:")
    try:
        conn.execute("PRAGMA cipher_log_level = NONE")
    finally:
        conn.close()


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def cmd_status(ns: argparse.Namespace) -> int:
    cfg = load_config_or_exit(PROG, ns.config)
    try:
        report = status_report(AgentSettings.from_config(cfg), cfg.server.transport)
    except (SyncError, OSError) as e:
        print(f"{PROG}: no se pudo leer la bandeja de salida: {e}", file=sys.stderr)
        return 1
    report["config"] = str(cfg.source)
    if ns.json:
        print(json.dumps(report))
    else:
        for k, v in report.items():
            print(f"{k}: {'-' if v is None else v}")
    return 0


def cmd_run(ns: argparse.Namespace) -> int:
    from sync.agent import sdnotify
    from sync.agent.agent import SyncAgent

    cfg = load_config_or_exit(PROG, ns.config)
    setup_logging(ns.verbose)
    interval = sdnotify.watchdog_interval_s()
    last_ping = [0.0]

    def tick() -> None:
        if interval is not None and time.monotonic() - last_ping[0] >= interval:
            sdnotify.notify("WATCHDOG=1")
            last_ping[0] = time.monotonic()

    try:
        agent = SyncAgent(AgentSettings.from_config(cfg), on_tick=tick, config=cfg)  # config: commands
    except (SyncError, OSError, ValueError) as e:
        print(f"{PROG}: no se pudo iniciar el agente: {e}", file=sys.stderr)
        return 1

    def on_term(_sig: int, _frame: object) -> None:
        sdnotify.notify("STOPPING=1")
        agent.request_stop()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    # SIGUSR1 = "send now" (e.g. from the kiosk after a save): skip the backoff wait.
    signal.signal(signal.SIGUSR1, lambda _s, _f: agent.send_now())
    channel = _start_channel(agent, cfg.device.data_dir)
    sdnotify.notify("READY=1")
    try:
        agent.run()
    except SyncError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    finally:
        if channel is not None:
            channel.close()
    return 0


def _start_channel(agent: Any, data_dir: Path) -> Any:
    """The kiosk's local channel (status, send now) on <data dir>/sync.sock; the agent runs
    without it (with a warning) if the socket cannot be served."""
    from sync.agent.local_channel import ChannelError, LocalChannelServer, socket_path

    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        return LocalChannelServer(socket_path(data_dir), agent).start()
    except (ChannelError, OSError) as e:
        logging.getLogger("fieldkit.sync").warning("sin canal local: %s", e)
        return None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Agente de sincronización del kit de campo.")
    add_config_argument(p)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("status", help="registros pendientes, última sincronización, conexión")
    add_config_argument(s, sub=True)
    s.add_argument("--json", action="store_true", help="salida JSON (docs/cli.md)")
    s.set_defaults(func=cmd_status)
    r = sub.add_parser("run", help="ejecuta el agente (servicio); SIGTERM lo detiene limpiamente")
    add_config_argument(r, sub=True)
    r.add_argument("-v", "--verbose", action="store_true", help="registro detallado (depuración)")
    r.set_defaults(func=cmd_run)
    return p


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    return int(ns.func(ns))


if __name__ == "__main__":
    sys.exit(main())
