"""The project's Mosquitto as a process, for tests, the demo and `fieldkit-server init`'s checks.

`Broker.create` writes the config (server_stub/deploy/broker.py) on a free port and
`start()` waits until a full mutual-TLS handshake succeeds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import replace
from pathlib import Path

from server_stub.deploy.broker import BrokerConfig, BrokerError, BrokerTLS, write_config


def find_mosquitto() -> Path:
    for cand in ("/usr/sbin/mosquitto", shutil.which("mosquitto")):
        if cand and os.access(cand, os.X_OK):
            return Path(cand)
    raise BrokerError("mosquitto not found (Debian: apt-get install mosquitto)")


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Broker:
    """A mosquitto process with the project's config.

    `restart()` keeps the port and the persistence directory, so persistent
    sessions and queued QoS 1 messages survive it (mosquitto saves its
    database on SIGTERM; `kill()` skips that, like a crash).
    """

    def __init__(
        self,
        config: BrokerConfig,
        *,
        probe_cert: tuple[Path, Path] | None = None,
        binary: Path | None = None,
    ) -> None:
        self.config = config
        self.binary = binary or find_mosquitto()
        # Client cert+key used to check readiness (a full mutual-TLS handshake).
        self.probe_cert = probe_cert
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(
        cls,
        workdir: Path,
        tls: BrokerTLS,
        *,
        port: int | None = None,
        probe_cert: tuple[Path, Path] | None = None,
        **options: object,
    ) -> Broker:
        """Config on `port`, or a free loopback port when None."""
        host = str(options.pop("host", "127.0.0.1"))
        cfg = BrokerConfig(
            tls=tls,
            workdir=Path(workdir),
            port=port or free_port(host),
            host=host,
            **options,  # type: ignore[arg-type]
        )
        return cls(cfg, probe_cert=probe_cert)

    # --- properties ---------------------------------------------------------

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def port(self) -> int:
        return self.config.port

    @property
    def url(self) -> str:
        return f"mqtts://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.config.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # --- lifecycle ----------------------------------------------------------

    def start(self, timeout: float = 15.0, *, _retries: int = 3) -> None:
        if self.running:
            return
        write_config(self.config)
        stderr = os.fdopen(os.open(self.config.workdir / "mosquitto.stderr",
                                   os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600), "ab")
        self.proc = subprocess.Popen(
            [str(self.binary), "-c", str(self.config.conf_path)],
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            start_new_session=True,  # keep terminal signals (Ctrl-C) to us
        )
        stderr.close()
        try:
            self._wait_ready(timeout)
        except BrokerError:
            self.kill()
            if _retries > 0 and self._port_taken():
                # Lost a race for the port: wait for it to free (a restart must
                # keep its port), then try again.
                time.sleep(0.5)
                self.start(timeout, _retries=_retries - 1)
                return
            raise

    def _port_taken(self) -> bool:
        err = self.config.workdir / "mosquitto.stderr"
        text = self.log_text() + (err.read_text(errors="replace") if err.exists() else "")
        return "Address already in use" in text

    def _probe_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.config.tls.cafile))
        if self.probe_cert:
            ctx.load_cert_chain(str(self.probe_cert[0]), str(self.probe_cert[1]))
        return ctx

    def _wait_ready(self, timeout: float) -> None:
        ctx = self._probe_context()
        deadline = time.monotonic() + timeout
        delay = 0.01
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise BrokerError(f"mosquitto exited with {self.proc.returncode}\n{self._diagnostics()}")
            try:
                with (
                    socket.create_connection((self.host, self.port), timeout=2) as raw,
                    ctx.wrap_socket(raw, server_hostname=self.host) as tls,
                ):
                    tls.do_handshake()
                    return
            except (OSError, ssl.SSLError) as exc:
                last = exc
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
        raise BrokerError(f"mosquitto not ready after {timeout}s ({last})\n{self._diagnostics()}")

    def _diagnostics(self) -> str:
        err = self.config.workdir / "mosquitto.stderr"
        tail = self.log_text().splitlines()[-20:]
        if err.exists():
            tail += err.read_text(errors="replace").splitlines()[-20:]
        return "\n".join(tail)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: mosquitto saves its persistence database and exits."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: a crash; whatever was not autosaved is lost."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.proc = None

    def restart(self, timeout: float = 15.0, *, crash: bool = False) -> None:
        """Same port, same persistence directory."""
        if crash:
            self.kill()
        else:
            self.stop()
        self.start(timeout)

    def reload(self) -> None:
        """SIGHUP: mosquitto re-reads the config and the ACL file."""
        if self.proc is None or self.proc.poll() is not None:
            raise BrokerError("broker not running")
        write_config(self.config)
        self.proc.send_signal(signal.SIGHUP)

    def with_tls(self, tls: BrokerTLS) -> None:
        """Swap TLS files (e.g. add a CRL); takes effect at the next (re)start."""
        self.config = replace(self.config, tls=tls)

    def __enter__(self) -> Broker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.stop()
