"""The local channel between the kiosk and the sync agent (docs/sync.md, "Local channel").

The outbox is where they meet: the kiosk commits sealed records to it, the
agent sends and erases them. This channel only carries what the outbox cannot:
the agent's live state for the home screen, and "Enviar ahora".

A Unix stream socket, `<data dir>/sync.sock`, mode 0600 (only the service
user), served by the agent (`fieldkit-sync run`). JSON lines, UTF-8, one
request and one answer per line, any number per connection:

    -> {"op": "status"}
    <- {"ok": true, "status": {"pending": 3, "oldest_pending_age_s": 41.2, "connection": "online",
        "sent_today": 12, "sent_day": "2027-01-20", ...}}

`sent_today` counts the records acknowledged on `sent_day`, the local date by the
server-corrected clock (the agent's `clock_offset_ms`), by this agent run.
    -> {"op": "send_now"}
    <- {"ok": true, "pending": 3}
    -> {"op": "nonsense"}
    <- {"ok": false, "error": "unknown_op", "detail": "..."}

`LocalChannelClient` is what the kiosk uses; when no agent is listening it
raises `ChannelUnavailable` and the kiosk shows "agente detenido" (the records
stay safe in the outbox either way).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sync.agent.state import now_ms

log = logging.getLogger("fieldkit.sync.channel")

SOCKET_FILE = "sync.sock"
MAX_LINE = 4096                  # bytes per request line
IDLE_TIMEOUT_S = 60.0            # a connection with no request for this long is closed
MAX_CONNECTIONS = 8
_SUN_PATH_MAX = 107              # Linux sockaddr_un.sun_path, minus the NUL


class ChannelError(Exception):
    """The channel could not be served or used (message names the socket)."""


class ChannelUnavailable(ChannelError):
    """No agent is listening on the socket (not running, or no socket yet)."""


def socket_path(data_dir: Path) -> Path:
    return Path(data_dir) / SOCKET_FILE


class AgentLike(Protocol):
    def snapshot(self) -> Any: ...
    def send_now(self) -> None: ...


def status_of(agent: AgentLike) -> dict[str, Any]:
    """The `status` answer: the agent's snapshot as JSON-able data (keys in docs/sync.md)."""
    snap = agent.snapshot()
    st = snap.state
    now = now_ms()
    return {
        "pending": snap.pending,
        "in_flight": snap.in_flight,
        "oldest_pending_age_s": None if snap.oldest_pending_age_s is None
        else round(snap.oldest_pending_age_s, 1),
        "connection": st.connection,
        "transport": st.transport,
        "connection_since_ms": st.since_ms,
        "last_success_ms": st.last_success_ms,
        "last_success_age_s": None if not st.last_success_ms else round((now - st.last_success_ms) / 1000, 1),
        "last_error": st.last_error,
        "acked_total": st.acked_total,
        "sent_day": st.server_day(now),
        "sent_today": st.sent_on(st.server_day(now)),
        "refused_total": st.refused_total,
        "held": st.held,
        "clock_offset_ms": st.clock_offset_ms,
        "agent_pid": os.getpid(),
        "time_ms": now,
    }


@dataclass
class LocalChannelServer:
    """Serves `status` and `send_now` for one agent on a Unix socket (threads, daemon)."""

    path: Path
    agent: AgentLike
    status: Callable[[AgentLike], dict[str, Any]] = status_of

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> LocalChannelServer:
        p = self.path
        if len(os.fsencode(p)) > _SUN_PATH_MAX:
            raise ChannelError(f"la ruta del socket {p} es demasiado larga (máximo {_SUN_PATH_MAX} bytes)")
        self._clear_stale(p)
        # Bind under a temporary name, restrict it, then rename into place: the socket is
        # never reachable with wider permissions, whatever the umask.
        tmp = p.with_name(f".{p.name}.{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind(str(tmp))
            os.chmod(tmp, 0o600)
            s.listen(MAX_CONNECTIONS)
            os.replace(tmp, p)
        except OSError as e:
            s.close()
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise ChannelError(f"no se pudo abrir el socket {p}: {e}") from e
        # accept() blocks (no timeout to poll: this thread sleeps for days); close() wakes it
        # with shutdown(), which makes a blocked accept() on Linux return EINVAL.
        self._sock = s
        self._thread = threading.Thread(target=self._accept_loop, name="fieldkit-channel", daemon=True)
        self._thread.start()
        log.info("canal local en %s", p)
        return self

    @staticmethod
    def _clear_stale(p: Path) -> None:
        try:
            mode = p.lstat().st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise ChannelError(f"{p} existe y no es un socket; no se toca")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(str(p))
        except (ConnectionRefusedError, FileNotFoundError):
            p.unlink(missing_ok=True)  # left by an agent that died
            return
        except OSError as e:
            raise ChannelError(f"no se pudo comprobar el socket {p}: {e}") from e
        finally:
            probe.close()
        raise ChannelError(f"otro agente ya atiende el socket {p}")

    def close(self) -> None:
        self._stopping.set()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            with contextlib.suppress(OSError):
                self.path.unlink()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> LocalChannelServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                if self._stopping.is_set():
                    return
                time.sleep(0.1)
                continue
            with self._lock:
                if len(self._conns) >= MAX_CONNECTIONS:
                    conn.close()
                    continue
                self._conns.add(conn)
            threading.Thread(target=self._serve, args=(conn,), name="fieldkit-channel-conn",
                             daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(IDLE_TIMEOUT_S)
        buf = b""
        try:
            while not self._stopping.is_set():
                while b"\n" not in buf:
                    if len(buf) > MAX_LINE:
                        conn.sendall(_line({"ok": False, "error": "too_long"}))
                        return
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    buf += chunk
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    conn.sendall(_line(self.handle(line)))
        except OSError:
            return
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()

    def handle(self, line: bytes) -> dict[str, Any]:
        """One request line -> the answer object (never raises)."""
        try:
            req = json.loads(line)
            op = req.get("op") if isinstance(req, dict) else None
        except (ValueError, UnicodeDecodeError):
            return {"ok": False, "error": "bad_request", "detail": "not a JSON object"}
        try:
            if op == "status":
                return {"ok": True, "status": self.status(self.agent)}
            if op == "send_now":
                self.agent.send_now()
                return {"ok": True, "pending": self.agent.snapshot().pending}
        except Exception as e:  # the agent's trouble is reported, not fatal to the channel
            log.warning("canal local: %s falló: %s", op, e)
            return {"ok": False, "error": "agent_error", "detail": str(e)}
        return {"ok": False, "error": "unknown_op", "detail": f"unknown op {op!r}; known: status, send_now"}


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


class LocalChannelClient:
    """The kiosk's side. One short connection per call; thread-safe; never blocks long."""

    def __init__(self, path: Path | str, timeout_s: float = 2.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s

    @classmethod
    def for_data_dir(cls, data_dir: Path, timeout_s: float = 2.0) -> LocalChannelClient:
        return cls(socket_path(data_dir), timeout_s)

    def request(self, op: str) -> dict[str, Any]:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout_s)
        try:
            try:
                s.connect(str(self.path))
            except (FileNotFoundError, ConnectionRefusedError) as e:
                raise ChannelUnavailable(f"el agente de sincronización no atiende {self.path}") from e
            s.sendall(_line({"op": op}))
            buf = b""
            while b"\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    raise ChannelError(f"el agente cerró la conexión en {self.path}")
                buf += chunk
        except TimeoutError as e:
            raise ChannelError(f"el agente no respondió a tiempo en {self.path}") from e
        except OSError as e:
            raise ChannelUnavailable(f"no se pudo hablar con el agente en {self.path}: {e}") from e
        finally:
            s.close()
        try:
            answer = json.loads(buf.split(b"\n", 1)[0])
        except ValueError as e:
            raise ChannelError(f"respuesta no válida del agente: {e}") from e
        if not isinstance(answer, dict) or not answer.get("ok"):
            raise ChannelError(f"el agente respondió con error: {answer}")
        return answer

    def status(self) -> dict[str, Any]:
        """The agent's live status (pending, oldest age, last sync, transport, connection)."""
        return dict(self.request("status")["status"])

    def send_now(self) -> int | None:
        """Ask the agent to try at once (skips its backoff); the pending count it saw."""
        return self.request("send_now").get("pending")
