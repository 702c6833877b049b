"""What the sync agent needs from the device config, and its tunable numbers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from sync.common.version import package_version
from sync.device.config import DeviceConfig
from sync.transport.base import TLSFiles
from sync.wire.ack import AckVerifier

STATE_FILE = "sync-state.json"


@dataclass(frozen=True)
class AgentOptions:
    """Timings (seconds) and windows; the defaults are what a device runs (docs/sync.md)."""

    backoff_initial_s: float = 1.0
    backoff_cap_s: float = 30.0
    ack_timeout_s: float = 20.0      # MQTT: resend an envelope whose ack has not come
    poll_s: float = 1.0              # online: look for records the kiosk saved meanwhile
    heartbeat_s: float = 60.0        # MQTT retained status / HTTPS health check
    prefer_retry_s: float = 300.0    # on HTTPS fallback, try MQTT again after this
    netwatch_s: float = 2.0          # offline: how often to look for a network change
    offline_summary_s: float = 3600.0  # offline: one "still offline" log line per hour
    connect_timeout_s: float = 10.0
    http_read_timeout_s: float = 30.0
    mqtt_window: int = 32            # envelopes awaiting their ack at once
    https_window: int = 16
    # Envelope bytes sent and awaiting their ack at once (at least one envelope, however
    # large): what a cut can make go again. ~2 s of a 1 Mbit/s uplink, a few records.
    window_bytes: int = 256 * 1024
    resend_query: bool = True        # ask the server what it holds before resending a body
    query_wait_s: float = 15.0       # no answer by then: send the bodies anyway
    state_save_s: float = 5.0        # at most one state-file write per this, while busy


@dataclass(frozen=True)
class AgentSettings:
    device_id: str
    outbox_path: Path
    outbox_key: Path
    state_path: Path
    tls: TLSFiles
    server_sign_public: Path
    mqtt_url: str = ""
    https_url: str = ""
    transport: str = "auto"  # "auto" (MQTT, then HTTPS), "mqtt" or "https"
    app_version: str = "0.1.0"

    @classmethod
    def from_config(cls, cfg: DeviceConfig) -> AgentSettings:
        data = cfg.device.data_dir
        return cls(
            device_id=cfg.device.id,
            outbox_path=cfg.device.outbox_path,
            outbox_key=cfg.keys.outbox_key,
            state_path=data / STATE_FILE,
            tls=TLSFiles(cfg.keys.ca, cfg.keys.client_cert, cfg.keys.client_key),
            server_sign_public=cfg.keys.server_sign_public,
            mqtt_url=cfg.server.mqtt_url,
            https_url=cfg.server.https_url,
            transport=cfg.server.transport,
            app_version=package_version(),
        )

    def transport_order(self) -> list[str]:
        if self.transport == "mqtt":
            return ["mqtt"]
        if self.transport == "https":
            return ["https"]
        return [n for n, url in (("mqtt", self.mqtt_url), ("https", self.https_url)) if url]

    def verifier(self) -> AckVerifier:
        """Trusts only the server's ack key from provisioning (PEM SubjectPublicKeyInfo)."""
        key = serialization.load_pem_public_key(self.server_sign_public.read_bytes())
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise ValueError(f"{self.server_sign_public}: not an Ed25519 public key")
        return AckVerifier(self.device_id, [key])

