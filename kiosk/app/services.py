"""What the kiosk window talks to outside Qt (camera, outbox, local channel), built from the
config, and the coordinator's diagnostics. No Qt here."""

from __future__ import annotations

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
from sync.common.msg import Msg
from sync.common.version import UNKNOWN, package_version
from sync.device.config import Auxiliary, DeviceConfig


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
    device_text: str = ""
    config_path: str = ""  # where enrollment writes the config (first run)
    enroll: Callable[..., Any] | None = None  # sync.device.enroll.enroll on a device; None: no enrollment


def camera_msg(code: str) -> Msg:
    """A camera problem (`hardware.camera`'s error code) as the kiosk's message `camera.<code>`;
    hardware keeps its own Spanish table for its logs and command lines."""
    return Msg(f"camera.{code}" if code in CAMERA_CODES else "camera.error")


def camera_status_msg(st: CameraStatus) -> Msg | None:
    """What the capture screen says about the camera's state; None when all is well."""
    if st.error is not None:
        return camera_msg(st.error.code)
    return camera_msg("stopped") if st.state is CameraState.STOPPED else None


def run_diagnostic(what: str, sv: Services) -> str:
    """Coordinator diagnostics, on a worker thread: one line of Spanish text."""
    if what == "camera":
        if sv.camera is None:
            return "Cámara: no configurada."
        sv.camera.start()
        try:
            f = sv.camera.latest_frame(3.0, fail_fast=False)
        except CameraError as e:
            return f"Cámara: ERROR. {render(camera_msg(e.code))}"
        info = sv.camera.info
        name = f"{info.backend} {info.name}" if info else ""
        return f"Cámara: bien ({name}, {f.image.shape[1]}x{f.image.shape[0]})."
    if what == "connection":
        if sv.status is None:
            return "Conexión: el agente de sincronización no responde."
        return "Conexión: " + ", ".join(f"{k}={v}" for k, v in sv.status().items())
    if what == "storage":
        from hardware.storage import storage_status

        if sv.config is None:
            return "Almacenamiento: sin configuración."
        st = storage_status(sv.config.device.data_dir)
        counts = sv.save_ctx.counts() if sv.save_ctx else None
        text = f"Almacenamiento: {st.free_bytes / 1e9:.1f} GB libres de {st.total_bytes / 1e9:.1f} GB" + (
            " (SÓLO LECTURA)" if st.read_only else ""
        )
        return text + (f"; por enviar {counts.unacknowledged}" if counts else "")
    v = package_version()
    v = "desconocida" if v == UNKNOWN else v
    dev = sv.config.device.id if sv.config else "no inscrito"
    return f"Versión {v}; dispositivo {dev}; Qt {__import__('PySide6').__version__}."



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


def services_for(cfg: DeviceConfig | None, cam: Camera | None, config_path: str = "") -> Services:
    """Outbox and the local channel client from the config, around an open camera (no Qt).
    With no config: the first run, which enrolls with `sync.device.enroll.enroll`."""
    if cfg is None:
        from sync.device.enroll import enroll

        return Services(None, cam, device_text=f"Configuración esperada en: {config_path}",
                        config_path=config_path, enroll=enroll if config_path else None)
    from sync.agent.local_channel import LocalChannelClient

    client = LocalChannelClient.for_data_dir(cfg.device.data_dir)

    def send_now() -> str:
        n = client.send_now()
        return tr("Envío solicitado ({} por enviar).").format(n) if n is not None else tr("Envío solicitado.")

    return Services(
        cfg,
        cam,
        SaveContext.from_config(cfg),
        client.status,
        send_now,
        device_text=f"Dispositivo {cfg.device.id}",
        config_path=str(cfg.source),
    )


def build_services(cfg: DeviceConfig | None, camera: str, config_path: str = "") -> Services:
    """Camera, outbox and the local channel client from the config (no Qt)."""
    from hardware.camera import open_camera

    return services_for(cfg, open_camera(camera_spec(camera)), config_path)
