"""A fleet for tests: the real server (records HTTPS + MQTT worker + enrollment listener),
the real broker with revocation wired to its ACL file and pid, one process, one aspirant,
auxiliaries, and devices enrolled through `sync.device.enroll` exactly as the kiosk does."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from server_stub.core.config import load_config
from server_stub.deploy import keys
from server_stub.deploy.broker_process import Broker, free_port
from server_stub.fleet import tables as fleet
from server_stub.fleet.enrollment_codes import IssuedCode, issue_enrollment_code
from server_stub.fleet.revocation import RevokeReport, revoke
from server_stub.verify import processes as procmod
from sync.agent.agent import SyncAgent
from sync.agent.settings import AgentOptions, AgentSettings
from sync.device.config import DeviceConfig
from sync.device.config import load_config as load_device_config
from sync.device.enroll import EnrollResult, enroll
from sync.outbox.keyfile import load_key
from sync.outbox.outbox import Outbox
from sync.wire.sealing import Sealer
from tests.helpers.agent import FAST, wait_until
from tests.helpers.outbox import tiny_record
from tests.helpers.server import IngestServer

PROCESS, ASPIRANT = "ci-2027-df-0901", "asp-0001"
__all__ = ["FAST", "Fleet", "FleetDevice", "wait_until"]


@dataclass
class FleetDevice:
    __test__ = False
    result: EnrollResult
    agents: list[SyncAgent] = field(default_factory=list)
    _seed: int = 0

    @property
    def id(self) -> str:
        return self.result.device_id

    @property
    def config(self) -> DeviceConfig:
        return load_device_config(self.result.config_path)

    def outbox(self) -> Outbox:
        cfg = self.config
        return Outbox.open(cfg.device.data_dir / "outbox.db", load_key(cfg.keys.outbox_key))

    def capture(self, n: int = 1) -> list[str]:
        """Save n records as the kiosk does (sync's API), returning their folios."""
        cfg = self.config
        sign = keys.load_sign_private(cfg.keys.signing_key)
        sealer = Sealer(self.id, sign, keys.load_seal_public(cfg.keys.server_seal_public))
        folios = []
        with self.outbox() as ob:
            for _ in range(n):
                self._seed += 1
                folios.append(ob.put(tiny_record(self.id, seed=self._seed, image_bytes=300), sealer).folio)
        return folios

    def agent(self, options: AgentOptions = FAST, transport: str | None = None) -> SyncAgent:
        cfg = self.config
        settings = AgentSettings.from_config(cfg)
        if transport is not None:
            from dataclasses import replace

            settings = replace(settings, transport=transport)
        a = SyncAgent(settings, options, config=cfg)
        self.agents.append(a)
        a.start()
        return a

    def files(self) -> list[Path]:
        root = self.result.config_path.parent
        return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []

    def close(self) -> None:
        for a in self.agents:
            a.stop(10)


class Fleet:
    __test__ = False

    def __init__(self, root: Path, make_server: Callable[..., IngestServer], broker: Broker, *,
                 extra_config: str = "", store_url: str | None = None) -> None:
        self.root, self.broker = root, broker
        self.server = make_server(start=False, store_url=store_url)
        self.enroll_port = free_port()
        self.pid_file = root / "mosquitto.pid"
        with self.server.config_path.open("a") as f:
            f.write(f"[fleet]\nenroll_port = {self.enroll_port}\n"
                    f'broker_acl = "{broker.config.acl_path}"\nbroker_pid_file = "{self.pid_file}"\n'
                    + extra_config)
        root.mkdir(parents=True, exist_ok=True)
        if broker.proc is not None:  # what Mosquitto's pid_file would hold (revocation SIGHUPs it)
            self.pid_file.write_text(f"{broker.proc.pid}\n")
        self.server.config = load_config(self.server.config_path)
        self.server.start()
        self.cfg = self.server.config
        self.store = self.server.store
        self.sign_key = keys.load_sign_private(self.cfg.keys.sign_key)
        now = int(time.time() * 1000)
        procmod.define_process(self.store, PROCESS, "diputacion_federal", "Diputación federal 01 (MUESTRA)",
                               now - 86_400_000, now + 30 * 86_400_000)
        procmod.add_aspirant(self.store, PROCESS, ASPIRANT, "ASPIRANTE MUESTRA", entidad=9,
                             distrito_federal=1)
        fleet.put_auxiliary(self.store, "aux-0001", "AUXILIAR UNO", "123456", [PROCESS])
        fleet.put_auxiliary(self.store, "aux-0002", "AUXILIAR DOS", "654321", [PROCESS])
        fleet.put_auxiliary(self.store, "coord-01", "COORDINADORA", "999999", [PROCESS], role="coordinador")
        self.devices: list[FleetDevice] = []

    @property
    def enroll_url(self) -> str:
        return f"https://127.0.0.1:{self.enroll_port}"

    def code(self, auxiliaries: list[str] | None = None, **kw: object) -> IssuedCode:
        return issue_enrollment_code(self.store, self.cfg, auxiliaries or ["aux-0001", "aux-0002"],
                                     server_url=self.enroll_url, **kw)  # type: ignore[arg-type]

    def enroll(self, name: str, code: IssuedCode | None = None) -> FleetDevice:
        c = code or self.code()
        dev = FleetDevice(enroll(c.uri, config_path=self.root / name / "device.toml"))
        self.devices.append(dev)
        return dev

    def revoke(self, device_id: str) -> RevokeReport:
        assert self.broker.proc is not None
        self.pid_file.write_text(f"{self.broker.proc.pid}\n")
        return revoke(self.store, self.cfg, device_id)

    def heartbeat(self, device_id: str) -> fleet.Heartbeat | None:
        return fleet.get_heartbeat(self.store, device_id)

    def close(self) -> None:
        for d in self.devices:
            d.close()
