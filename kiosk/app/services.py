"""What the kiosk window talks to outside Qt (camera, outbox, local channel), built from the
config, and the coordinator's diagnostics (`diag.*` messages). No Qt here."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardware.camera import Camera, CameraError, CameraState, CameraStatus
from hardware.camera.errors import MESSAGES as CAMERA_CODES
from hardware.storage import free_bytes
from kiosk.capture.save import SaveContext
from kiosk.i18n import render, tr
from sync.agent.freeze import span
from sync.common.msg import Msg
from sync.common.version import UNKNOWN, package_version
from sync.device.command_exec import is_revoked
from sync.device.config import Auxiliary, DeviceConfig

_log = logging.getLogger("fieldkit.kiosk")


@dataclass
class Services:
    """What the window talks to outside Qt; built by kiosk.cli.main from the config."""

    config: DeviceConfig | None
    camera: Camera | None
    save_ctx: SaveContext | None = None
    status: Callable[[], dict[str, Any]] | None = None  # local channel client's status
    send_now: Callable[[], str] | None = None
    # The device's clock in ms (tests pin it); the window adds the agent's measured offset.
    now_ms: Callable[[], int] = lambda: int(time.time() * 1000)
    # Free bytes of the file system holding a folder (tests pin it): home's disk warning and
    # the refusal of a capture that could not be saved. Raises HardwareError when unreadable.
    free_disk: Callable[[Path], int] = free_bytes
    device_text: Msg | str | None = None  # the first run's line: where the config is expected
    config_path: str = ""  # where enrollment writes the config (first run)
    enroll: Callable[..., Any] | None = None  # sync.device.enroll.enroll on a device; None: no enrollment
    # Self-service: asks the server for an activation code (sync.device.activation's
    # request_activation(config, cic, email, seccion, model) -> .ref, .expires_ms, .sent_to, or
    # raises with a `msg`); called on a worker. None: the device cannot ask (not self-service).
    request_activation: Callable[..., Any] | None = None


def camera_msg(code: str) -> Msg:
    """A camera problem (`hardware.camera`'s error code) as the kiosk's message `camera.<code>`;
    hardware keeps its own Spanish table for its logs and command lines."""
    return Msg(f"camera.{code}" if code in CAMERA_CODES else "camera.error")


def camera_status_msg(st: CameraStatus) -> Msg | None:
    """What the capture screen says about the camera's state; None when all is well."""
    if st.error is not None:
        return camera_msg(st.error.code)
    return camera_msg("stopped") if st.state is CameraState.STOPPED else None


def diagnostic(what: str, sv: Services) -> Msg:
    """A coordinator's test (`camera`, `connection`, `storage`, else the version), on a worker
    thread: its one line as a `diag.*` message. Technical words (an exception, the agent's or
    the server's own) go to the log; the line names their kind."""
    if what == "camera":
        return _camera_line(sv)
    if what == "connection":
        return _connection_line(sv)
    if what == "storage":
        return _storage_line(sv)
    return _version_line(sv)


def run_diagnostic(what: str, sv: Services) -> str:
    """`diagnostic` rendered in the language chosen (the coordinator's result line takes text)."""
    return render(diagnostic(what, sv))


def _camera_line(sv: Services) -> Msg:
    if sv.camera is None:
        return Msg("diag.camera.none")
    sv.camera.start()
    try:
        f = sv.camera.latest_frame(3.0, fail_fast=False)
    except CameraError as e:
        _log.warning("camera test failed: %s", e)
        return Msg("diag.camera.error", {"reason": camera_msg(e.code)})
    info = sv.camera.info
    name = f"{info.backend} {info.name}" if info else "?"
    return Msg("diag.camera.ok", {"name": name, "width": f.image.shape[1], "height": f.image.shape[0]})


# The agent's connection states (sync.agent.state.ConnState) as the coordinator reads them.
STATES = {"online": "diag.state.online", "offline": "diag.state.offline",
          "connecting": "diag.state.connecting", "stopped": "diag.state.stopped"}


def agent_error(status: dict[str, Any], revoked: bool) -> Msg:
    """The kind of the agent's last error. Its words (`last_error`: a transport's exception, the
    server's refusal) are free text in no particular language: logged, never shown. The agent
    clears it on connecting, so an error while online is a record the server held back."""
    if revoked:
        return Msg("diag.agent_error.revoked")
    if not status.get("last_error"):
        return Msg("diag.agent_error.none")
    _log.info("agent's last error: %s", status["last_error"])
    online = status.get("connection") == "online"
    return Msg("diag.agent_error.held" if online else "diag.agent_error.connect")


def _connection_line(sv: Services) -> Msg:
    if sv.status is None:
        return Msg("diag.connection.no_agent")
    try:
        st = sv.status()
    except Exception as e:  # the agent not answering is what this test finds out
        _log.warning("connection test: the agent did not answer: %s", e)
        return Msg("diag.connection.no_agent")
    state = str(st.get("connection"))
    transport = str(st.get("transport") or "").upper()
    state_msg = Msg(STATES[state], {"transport": transport}) if state in STATES else \
        Msg("diag.state.unknown", {"state": state})
    age_s = st.get("last_success_age_s")
    last = (Msg("diag.last_sent.never") if age_s is None
            else Msg("diag.last_sent", {"ago": span(int(float(age_s) * 1000))}))
    revoked = sv.config is not None and is_revoked(sv.config)
    pending = st.get("pending")
    return Msg("diag.connection", {"state": state_msg, "pending": "—" if pending is None else pending,
                                   "last": last, "error": agent_error(st, revoked)})


def _storage_line(sv: Services) -> Msg:
    from hardware.storage import storage_status

    if sv.config is None:
        return Msg("diag.storage.none")
    st = storage_status(sv.config.device.data_dir)
    counts = sv.save_ctx.counts() if sv.save_ctx else None
    return Msg("diag.storage_read_only" if st.read_only else "diag.storage",
               {"free": f"{st.free_bytes / 1e9:.1f}", "total": f"{st.total_bytes / 1e9:.1f}",
                "pending": "—" if counts is None else counts.unacknowledged})


def _version_line(sv: Services) -> Msg:
    v = package_version()
    return Msg("diag.version", {
        "version": Msg("diag.unknown") if v == UNKNOWN else v,
        "device": sv.config.device.id if sv.config else Msg("diag.not_enrolled"),
        "qt": __import__("PySide6").__version__})


def auxiliaries(cfg: DeviceConfig) -> list[Auxiliary]:
    """Who may unlock to capture: the config's auxiliaries without the coordinators."""
    return [a for a in cfg.auxiliaries if a.role != "coordinador"]


def coordinators(cfg: DeviceConfig) -> list[Auxiliary]:
    """Who may open the coordinator menu (role "coordinador" in the config or bundle)."""
    return [a for a in cfg.auxiliaries if a.role == "coordinador"]


def camera_spec(spec: str) -> str:
    """`picamera[:N]` is the Pi camera (hardware calls it `pi[:N]`); the rest passes through."""
    kind, sep, arg = spec.partition(":")
    return ("pi" + sep + arg) if kind.lower() == "picamera" else spec


def activation_requester(cfg: DeviceConfig) -> Callable[..., Any] | None:
    """What asks the server for a self-service activation code: on a self-service device,
    `sync.device.activation.request_activation` (HTTPS, mutual TLS); otherwise nothing."""
    if not cfg.self_service.enabled:
        return None
    from sync.device.activation import request_activation

    return request_activation


def services_for(cfg: DeviceConfig | None, cam: Camera | None, config_path: str = "") -> Services:
    """Outbox and the local channel client from the config, around an open camera (no Qt).
    With no config: the first run, which enrolls with `sync.device.enroll.enroll`."""
    if cfg is None:
        from sync.device.enroll import enroll

        return Services(None, cam, device_text=Msg("diag.config_expected", {"path": config_path}),
                        config_path=config_path, enroll=enroll if config_path else None)
    from sync.agent.local_channel import LocalChannelClient

    client = LocalChannelClient.for_data_dir(cfg.device.data_dir)

    def send_now() -> str:
        n = client.send_now()
        return tr("Envío solicitado ({} por enviar).", n) if n is not None else tr("Envío solicitado.")

    return Services(
        cfg,
        cam,
        SaveContext.from_config(cfg),
        client.status,
        send_now,
        device_text=Msg("diag.device", {"id": cfg.device.id}),
        config_path=str(cfg.source),
        request_activation=activation_requester(cfg),
    )


def build_services(cfg: DeviceConfig | None, camera: str, config_path: str = "") -> Services:
    """Camera, outbox and the local channel client from the config (no Qt)."""
    from hardware.camera import open_camera

    return services_for(cfg, open_camera(camera_spec(camera)), config_path)
