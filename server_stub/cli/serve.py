"""`fieldkit-server serve`: the HTTPS API and the MQTT worker(s) of one config, together."""

from __future__ import annotations

import errno
import logging
import signal
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType

from server_stub.core.asgi import HttpsServer
from server_stub.core.config import ServerConfig
from server_stub.core.store import Store, open_store
from server_stub.dashboard.alerts import Thresholds
from server_stub.dashboard.digest import DigestWorker
from server_stub.deploy import keys, pki
from server_stub.fleet.endpoints import FleetEndpoints
from server_stub.fleet.enrollment import EnrollApp, Enroller
from server_stub.fleet.revocation import apply_broker_acl
from server_stub.ingest import acuse as acusemod
from server_stub.ingest.https_api import RecordsApp
from server_stub.ingest.ingest import Ingestor
from server_stub.ingest.mqtt_worker import MqttWorker
from server_stub.verify import processes
from server_stub.verify.verify import Verifier

log = logging.getLogger("fieldkit.server")


class ServeError(RuntimeError):
    """The server cannot start with this config (missing key, unknown identity...)."""


class PortBusyError(ServeError):
    """A port this server listens on is held by another process (a second `serve`, say)."""


def check_port_free(what: str, host: str, port: int) -> None:
    """PortBusyError (or ServeError) naming the port when `serve` could not listen on it.

    Asked before anything starts, so a second `serve` says so in one line: uvicorn would log
    its own error in a thread and leave us a bare "did not start". Bound the way uvicorn binds
    (one family from the host's spelling, SO_REUSEADDR), then let go at once.
    """
    if port == 0:  # the kernel picks a free one
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise PortBusyError(f"el puerto {port} ({what}, {host}) ya lo ocupa otro proceso "
                                    "(¿otro «fieldkit-server serve» en marcha?)") from None
            raise ServeError(f"no se puede escuchar en {host}:{port} ({what}): {e.strerror}") from None


@dataclass
class RunningServer:
    config: ServerConfig
    store: Store
    ingestor: Ingestor
    https: HttpsServer | None = None
    workers: list[MqttWorker] = field(default_factory=list)
    # Verification, acuse de recibo and the dashboard (all optional).
    verifier: Verifier | None = None
    acuse: acusemod.AcuseWorker | None = None
    digest: DigestWorker | None = None  # the alerts e-mailed to coordinators ([alerts] digest_to)
    dashboard: HttpsServer | None = None
    enroll: HttpsServer | None = None  # enrollment listener (no client certs), if configured

    def listeners(self) -> list[tuple[str, HttpsServer]]:
        """The HTTPS listeners this server opens, each with what it is for (Spanish)."""
        named = [("API HTTPS", self.https), ("inscripción", self.enroll), ("tablero", self.dashboard)]
        return [(what, s) for what, s in named if s is not None]

    def start(self, timeout: float = 15.0) -> None:
        for what, srv in self.listeners():  # before anything starts: nothing to undo
            check_port_free(what, srv.host, int(srv.config.port))
        if self.https is not None:
            _start_listener("API HTTPS", self.https, timeout)
        if self.enroll is not None:
            _start_listener("inscripción", self.enroll, timeout)
        for w in self.workers:
            w.start()
        if self.verifier is not None:
            self.verifier.start()
        if self.acuse is not None:
            self.acuse.start()
        if self.digest is not None:
            self.digest.start()
        if self.dashboard is not None:
            _start_listener("tablero", self.dashboard, timeout)

    def wait_ready(self, timeout: float = 15.0) -> bool:
        """True once every MQTT worker has its shared subscription."""
        return all(w.wait_ready(timeout) for w in self.workers)

    def stop(self) -> None:
        for w in self.workers:
            w.stop()
        if self.https is not None:
            self.https.stop()
        if self.dashboard is not None:
            self.dashboard.stop()
        if self.enroll is not None:
            self.enroll.stop()
        if self.acuse is not None:
            self.acuse.stop()
        if self.digest is not None:
            self.digest.stop()
        if self.verifier is not None:
            self.verifier.stop()
        self.store.close()


def _start_listener(what: str, srv: HttpsServer, timeout: float) -> None:
    try:
        srv.start(timeout)
    except RuntimeError:  # taken between the check and the bind: uvicorn has logged why
        raise ServeError(f"no arrancó el servicio {what} en {srv.host}:{srv.config.port}") from None


def build_server(
    cfg: ServerConfig,
    *,
    fault: str | None = None,
    identities: Sequence[str] | None = None,
    https: bool = True,
    mqtt: bool = True,
    background: bool = True,
    dashboard: bool = True,
) -> RunningServer:
    """Load keys, open the store, and wire the listeners; nothing is started yet.

    `identities` picks which of `[mqtt].identities` this process runs (default: all),
    so several processes can share one config, one identity each.
    """
    try:
        seal = [keys.load_seal_private(p) for p in cfg.keys.seal_keys]
        sign = keys.load_sign_private(cfg.keys.sign_key)
    except keys.KeyFileError as e:
        raise ServeError(str(e)) from None
    store = open_store(cfg.store_url())
    if (n := processes.settle_zones(store, cfg.deployment.timezone)):
        log.info("%d processes had no time zone: they take the deployment's, %s", n, cfg.deployment.timezone)
    ingestor = Ingestor(store, seal, sign, fault=fault, max_wrong=cfg.self_service.max_wrong)
    server = RunningServer(cfg, store, ingestor)
    if https and cfg.https.enabled:
        server.https = HttpsServer(RecordsApp(ingestor, fleet=FleetEndpoints(store, cfg)),
                                   host=cfg.https.host, port=cfg.https.port,
                                   certfile=cfg.tls.server_cert, keyfile=cfg.tls.server_key,
                                   ca_cert=cfg.tls.ca_cert)
    if mqtt and cfg.mqtt.enabled:
        known = {i.name: i for i in cfg.mqtt.identities}
        chosen = list(identities) if identities else list(known)
        for name in chosen:
            if name not in known:
                store.close()
                raise ServeError(f"la identidad MQTT {name!r} no está en [mqtt].identities")
            ident = known[name]
            server.workers.append(MqttWorker(
                ingestor, host=cfg.mqtt.host, port=cfg.mqtt.port, ca_cert=cfg.tls.ca_cert,
                identity=name, cert=ident.cert, key=ident.key, share_group=cfg.mqtt.share_group,
                session_expiry_s=cfg.mqtt.session_expiry_s, max_batch=cfg.mqtt.max_batch))
    from server_stub.fleet import enrollment_codes

    enrollment_codes.configure(cfg)
    if https and cfg.fleet.enroll_port is not None:
        ca_key = cfg.tls.ca_key
        if ca_key is None or not ca_key.exists():
            store.close()
            raise ServeError("[fleet].enroll_port necesita tls.ca_key (aquí se emiten los certificados "
                             "de los dispositivos)")
        enroller = Enroller(store, cfg, pki.load_ca(cfg.tls.ca_cert, ca_key), sign)
        server.enroll = HttpsServer(EnrollApp(enroller), host=cfg.fleet.enroll_host,
                                    port=cfg.fleet.enroll_port,
                                    certfile=cfg.tls.server_cert, keyfile=cfg.tls.server_key,
                                    ca_cert=cfg.tls.ca_cert, require_client_cert=False)
    if server.https is None and not server.workers:
        store.close()
        raise ServeError("nada que servir: HTTPS y MQTT están desactivados")
    _add_verification(server, cfg, background=background, dashboard=dashboard)
    return server


def _add_verification(server: RunningServer, cfg: ServerConfig, *, background: bool, dashboard: bool) -> None:
    """Verification and acuse workers (idempotent, safe in every process), and the dashboard."""
    store = server.store
    if background and cfg.verify.enabled:
        # Its rounds also settle records a crash or a failed check left unchecked.
        server.verifier = Verifier(store, batch=cfg.verify.batch, interval_s=cfg.verify.interval_s,
                                   default_tz=cfg.deployment.timezone,
                                   settle=server.ingestor.settle_unsettled)
    a = cfg.acuse
    transport = acusemod.make_transport(a.mode, folder=a.outbox_dir, host=a.smtp_host, port=a.smtp_port,
                                        sender=a.sender, starttls=a.smtp_starttls, username=a.smtp_user,
                                        password=a.smtp_password)
    if background and transport is not None:
        server.acuse = acusemod.AcuseWorker(store, transport, a.sender, interval_s=a.interval_s,
                                            retry_min_s=a.retry_min_s, retry_max_s=a.retry_max_s,
                                            default_tz=cfg.deployment.timezone)
    if background and transport is not None and cfg.alerts.digest_to:
        al = cfg.alerts
        server.digest = DigestWorker(store, transport, a.sender, al.digest_to,
                                     every_s=al.digest_every_hours * 3600, thresholds=Thresholds.of(al),
                                     tz_name=cfg.deployment.timezone)
    if dashboard and cfg.dashboard.enabled:
        from server_stub.admin.site import dashboard_app

        server.dashboard = HttpsServer(dashboard_app(store, config=cfg), host=cfg.dashboard.host,
                                       port=cfg.dashboard.port,
                                       certfile=cfg.tls.server_cert, keyfile=cfg.tls.server_key,
                                       ca_cert=cfg.tls.ca_cert, require_client_cert=False)


def serve_forever(server: RunningServer) -> None:
    """Run until SIGTERM or SIGINT, then stop cleanly."""
    done = threading.Event()

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        done.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if server.workers and server.config.fleet.broker_acl is not None:
            # The ACL is this server's own file: rewritten at every start, so topics a newer
            # version uses (the resend query's) are granted after an upgrade, revocations kept.
            log.info("ACL del broker: %s", apply_broker_acl(server.config, server.store))
        server.start()
        if not server.wait_ready(10):
            log.warning("MQTT aún sin suscripción (¿broker caído?); los trabajadores siguen intentando")
        where = [server.https.url] if server.https else []
        where += [f"inscripción {server.enroll.url}"] if server.enroll else []
        where += [f"tablero {server.dashboard.url}"] if server.dashboard else []
        where += [f"mqtt {w.identity}@{w.host}:{w.port}" for w in server.workers]
        log.info("en servicio: %s", ", ".join(where))
        # The first words are a marker that tests, benches and scripts wait for: kept as they are.
        print("fieldkit-server ready: " + ", ".join(where), flush=True)
        done.wait()
    finally:
        server.stop()
        for s, h in old.items():
            signal.signal(s, h)
