"""Redeeming an enrollment code: `POST /v1/enroll` on its own listener (no client cert).

The device sends ``code_id`` (HKDF of the code; the code itself never travels),
a CSR whose CN is the placeholder ``fieldkit-enroll`` (the server assigns the
id), its Ed25519 public key, and ``request_mac`` (HMAC with the code's key).
The server claims the code atomically, registers the device with
``registry.add_device`` (certificate from the CSR), and answers with the
bundle, signed with the server key and MACed with the code's key.

A retry with the same device keys (a lost response) gets the same bundle: it is
the same enrollment, not a second use. A self-service code makes a self-service device
(``fleet_devices.self_service = 1``, coordinators at most; the bundle says ``"self_service": true`` and
its config carries ``[self_service]``). Protocol: docs/enrollment.md.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from server_stub.core.asgi import (
    Receive,
    Scope,
    Send,
    json_object,
    not_http,
    read_body,
    respond,
    send_json,
)
from server_stub.core.config import ServerConfig
from server_stub.core.store import Store
from server_stub.deploy import keys, pki
from server_stub.fleet import tables as fleet
from server_stub.fleet.command_issue import cut_to_schema, device_config, self_service_for
from server_stub.fleet.enrollment_codes import ensure_schema
from server_stub.fleet.registry import RegistryError, add_device
from sync.wire import enrollment as proto
from sync.wire.config_schema import KEYS_BY_SCHEMA, reported_schema
from sync.wire.folio import ALPHABET as FOLIO_ALPHABET

MAX_REQUEST = 64 * 1024
_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
# The first device-config schema with [self_service]: an older device would enroll as a kiosk
# with no auxiliaries, which nobody could unlock.
SELF_SERVICE_SCHEMA = min(v for v, keys in KEYS_BY_SCHEMA.items() if "self_service" in keys)


@dataclass(frozen=True)
class Refusal(Exception):
    status: int
    error: str
    message: str  # Spanish, shown to the person enrolling


CANCELLED = "la coordinación canceló este código de inscripción; pida uno nuevo a su coordinador"


class Enroller:
    def __init__(self, store: Store, cfg: ServerConfig, ca: pki.Issued,
                 sign_key: ed25519.Ed25519PrivateKey) -> None:
        self.store, self.cfg, self.ca, self.sign_key = store, cfg, ca, sign_key
        self.ca_pem = ca.cert.public_bytes(serialization.Encoding.PEM)
        self.seal_line = cfg.keys.seal_public.read_text()
        self.seal_suite = keys.load_seal_public(cfg.keys.seal_public).suite.name
        self.sign_pub_pem = keys.ed25519_public_pem(sign_key.public_key())
        ensure_schema(store)

    def redeem(self, req: dict[str, Any], now_ms: int | None = None) -> bytes:
        """Bundle bytes, or raises Refusal."""
        now = fleet.now_ms() if now_ms is None else now_ms
        code_id, csr_pem, sign_pub, mac = _fields(req)
        rows = self.store.query("SELECT mac_key, auxiliaries, expires_ms, state, device_id, key_binding, "
                                "bundle, self_service FROM enrollment_codes WHERE code_id = ?", (code_id,))
        if not rows:
            raise Refusal(404, "code_unknown", "código de inscripción desconocido")
        mac_key, aux_json, expires, state, device_id, bound, bundle, self_service = rows[0]
        mac_key = bytes(mac_key)
        if not hmac.compare_digest(proto.request_mac(mac_key, csr_pem, sign_pub), mac):
            raise Refusal(400, "bad_request_mac", "la solicitud no corresponde al código")
        spki = _check_csr(csr_pem)
        binding = proto.key_binding(spki, sign_pub)
        if state == "cancelled":
            raise Refusal(410, "code_cancelled", CANCELLED)
        if state == "redeemed":
            if not hmac.compare_digest(binding, bound or ""):
                raise Refusal(409, "code_used", "el código ya se usó en otro dispositivo")
            if bundle is not None:
                return bytes(bundle)  # a retry after a lost response: the same enrollment
        else:
            if int(expires) <= now:
                raise Refusal(410, "code_expired", "el código de inscripción venció")
            if self_service and reported_schema(req) < SELF_SERVICE_SCHEMA:  # before the code is spent
                raise Refusal(400, "self_service_unsupported", "este dispositivo no tiene el modo de "
                                                               "autoservicio; actualice su programa")
            if self_service and not self.cfg.device_https_url():
                raise Refusal(503, "no_https", "el servidor no da una dirección HTTPS a los dispositivos "
                                               "de autoservicio; avise a la coordinación")
            device_id = self._claim(code_id, binding, json.loads(aux_json), now, bool(self_service),
                                    reported_schema(req))
        return self._finish(code_id, str(device_id), csr_pem, sign_pub, mac_key, binding, now,
                            reported_schema(req))

    def _claim(self, code_id: str, binding: str, aux_ids: list[str], now: int, self_service: bool,
               config_schema: int) -> str:
        s = self.store
        with s.tx() as conn:
            # FOR UPDATE: a cancellation committed while this waited is seen (PostgreSQL reads
            # each statement's snapshot); SQLite's write transaction already excludes it.
            lock = " FOR UPDATE" if s.kind == "postgresql" else ""
            row = conn.execute(s.sql("SELECT state, key_binding, device_id FROM enrollment_codes "
                                     f"WHERE code_id = ?{lock}"), (code_id,)).fetchone()
            if row[0] == "cancelled":  # cancelled from the dashboard meanwhile
                raise Refusal(410, "code_cancelled", CANCELLED)
            if row[0] == "redeemed":  # lost a race with another redeemer
                if row[1] != binding:
                    raise Refusal(409, "code_used", "el código ya se usó en otro dispositivo")
                return str(row[2])
            device_id = "fk-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))
            while True:
                prefix = "".join(secrets.choice(FOLIO_ALPHABET) for _ in range(4))
                if not conn.execute(s.sql("SELECT 1 FROM fleet_devices WHERE folio_prefix = ?"),
                                    (prefix,)).fetchone():
                    break
            # The schema its request reported: config updates before its first heartbeat use it.
            conn.execute(s.sql("INSERT INTO fleet_devices (device_id, folio_prefix, auxiliaries, code_id, "
                               "enrolled_ms, self_service, config_schema) VALUES (?, ?, ?, ?, ?, ?, ?)"),
                         (device_id, prefix, json.dumps(aux_ids), code_id, now,
                          1 if self_service else 0, config_schema))
            conn.execute(s.sql("UPDATE enrollment_codes SET state = 'redeemed', device_id = ?, "
                               "key_binding = ?, redeemed_ms = ? WHERE code_id = ?"),
                         (device_id, binding, now, code_id))
        return device_id

    def _finish(self, code_id: str, device_id: str, csr_pem: bytes, sign_pub: bytes, mac_key: bytes,
                binding: str, now: int, config_schema: int) -> bytes:
        prefix, aux_json = self.store.query("SELECT folio_prefix, auxiliaries FROM fleet_devices "
                                            "WHERE device_id = ?", (device_id,))[0]
        try:
            reg = add_device(self.store, device_id, ed25519.Ed25519PublicKey.from_public_bytes(sign_pub),
                             ca=self.ca, csr_pem=csr_pem, replace=True)
        except RegistryError as e:
            raise Refusal(400, "bad_csr", f"solicitud de certificado no válida: {e}") from None
        assert reg.cert is not None
        serves = self_service_for(self.store, device_id)
        # Only config keys the device's schema knows: its strict loader checks the bundle.
        config = cut_to_schema(device_config(self.store, json.loads(aux_json), serves), config_schema,
                               device_id)[0]
        extra = {"self_service": True} if serves is not None else {}
        body = proto.canonical_json({
            "v": proto.PROTOCOL_VERSION, "device_id": device_id, "folio_prefix": prefix,
            "issued_ms": now, "code_id": code_id, "key_binding": binding,
            "client_cert": reg.cert.public_bytes(serialization.Encoding.PEM).decode(),
            "ca_cert": self.ca_pem.decode(), "server_seal_public": self.seal_line,
            "server_sign_public": self.sign_pub_pem.decode(), "seal_suite": self.seal_suite,
            "https_url": self.cfg.device_https_url(), "mqtt_url": self.cfg.device_mqtt_url(),
            "config": config, **extra,
        })
        bundle = proto.pack_bundle(body, self.sign_key.sign(proto.BUNDLE_CONTEXT + body),
                                   proto.bundle_mac(mac_key, body))
        with self.store.tx() as conn:
            conn.execute(self.store.sql("UPDATE enrollment_codes SET bundle = ? WHERE code_id = ?"),
                         (bundle, code_id))
        return bundle


def _fields(req: dict[str, Any]) -> tuple[str, bytes, bytes, str]:
    try:
        if req.get("v") != proto.PROTOCOL_VERSION:
            raise ValueError("versión")
        code_id, csr, pub, mac = (req[k] for k in ("code_id", "csr", "sign_pub", "request_mac"))
        if not all(isinstance(v, str) for v in (code_id, csr, pub, mac)):
            raise ValueError("tipos")
        sign_pub = bytes.fromhex(pub)
        if len(code_id) != 64 or len(sign_pub) != 32 or len(mac) != 64:
            raise ValueError("tamaños")
        bytes.fromhex(code_id + mac)
    except (KeyError, ValueError, AttributeError) as e:
        raise Refusal(400, "bad_request", f"solicitud mal formada ({e})") from None
    return code_id.lower(), csr.encode(), sign_pub, mac.lower()


def _check_csr(csr_pem: bytes) -> bytes:
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError:
        raise Refusal(400, "bad_csr", "solicitud de certificado mal formada") from None
    if not csr.is_signature_valid:
        raise Refusal(400, "bad_csr", "la solicitud de certificado no está firmada por su clave")
    cns = [a.value for a in csr.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)]
    if cns != [proto.CSR_PLACEHOLDER_CN]:
        raise Refusal(400, "csr_names_other_device",
                      f"la solicitud de certificado nombra a {cns[0] if cns else '(nadie)'!r}; "
                      "el servidor asigna el id del dispositivo")
    return csr.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


class EnrollApp:
    """`GET /v1/enroll/ca`, `POST /v1/enroll`, `GET /v1/health`; no client certificate.
    Failed redemptions are limited per client address (guessing codes is the attack)."""

    MAX_FAILURES, WINDOW_S = 20, 600.0

    def __init__(self, enroller: Enroller) -> None:
        self.enroller = enroller
        self._fails: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _limited(self, peer: str, failed: bool = False) -> bool:
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._fails.get(peer, []) if now - t < self.WINDOW_S]
            if failed:
                recent.append(now)
            self._fails[peer] = recent
            return len(recent) >= self.MAX_FAILURES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if await not_http(scope, receive, send):
            return
        path, method = scope["path"], scope["method"]
        if path == "/v1/enroll/ca" and method == "GET":
            await respond(send, 200, self.enroller.ca_pem, "application/x-pem-file")
        elif path == "/v1/health" and method == "GET":
            await send_json(send, 200, {"ok": True, "time_ms": int(time.time() * 1000)})
        elif path == "/v1/enroll" and method == "POST":
            await self._enroll(scope, receive, send)
        else:
            await send_json(send, 404, {"error": "not_found"})

    async def _enroll(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = (scope.get("client") or ("?", 0))[0]
        if self._limited(peer):
            busy = {"error": "too_many_attempts", "message": "demasiados intentos; espere"}
            await send_json(send, 429, busy, [(b"retry-after", str(int(self.WINDOW_S)).encode())])
            return
        body = await read_body(receive, MAX_REQUEST)
        if body is None:
            await send_json(send, 413, {"error": "too_large", "message": "solicitud demasiado grande"})
            return
        req = json_object(body)
        if req is None:
            await send_json(send, 400, {"error": "bad_request", "message": "se esperaba JSON"})
            return
        try:
            bundle = await asyncio.to_thread(self.enroller.redeem, req)
        except Refusal as r:
            self._limited(peer, failed=r.error in ("code_unknown", "bad_request_mac"))
            await send_json(send, r.status, {"error": r.error, "message": r.message})
            return
        await respond(send, 200, bundle, "application/json")
