"""Device enrollment: turn a blank device into a fleet member with one code.

API for the kiosk's first-run screen and `fieldkit-kiosk enroll` (docs/enrollment.md):

    enroll(code, server_url=None, config_path=DEFAULT_CONFIG_PATH, *, progress=None,
           timeout_s=20.0) -> EnrollResult
        `code`: what the person typed (any case, with or without dashes) or the QR's
        content (which also carries the server URL and the full CA fingerprint).
        `progress(step, fraction_0_to_1)` is called from the calling thread with the step as
        a message code (`enroll.step.*`: the kiosk renders it from its catalogues, on its UI
        thread; the command line prints `step_text(step)`, Spanish from `STEPS`).
        Raises EnrollError(reason, detail); on any error NOTHING is left on disk. The kiosk
        shows `EnrollError.msg` (the code `enroll.<reason>`, from its catalogues); the command
        line prints `message` (Spanish, from `MESSAGES`, with the server's detail).

The keys are made here and never leave the device (the server gets a CSR and a
public key). Trust comes from the code, not the network: the server's CA must
match the fingerprint carried by the code, and the bundle must carry a MAC made
with a key derived from the code (HKDF) as well as the server's signature.
Files land atomically: everything is built in a private staging folder, moved
into ``<config dir>/device.d``, and the config file is renamed into place last.
The outbox goes to the data dir: ``/var/lib/fieldkit`` with the default config,
``<config dir>/device.d/data`` with any other, or where ``data_dir`` says
(``fieldkit-kiosk enroll --data-dir``); the config's ``device.data_dir`` names it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from sync.common.msg import Msg
from sync.device.config import DEFAULT_CONFIG_PATH, ConfigError, outbox_file, parse_config
from sync.device.config_write import fsync_dir, render_toml, write_private_file
from sync.outbox.keyfile import create_key_file, load_key
from sync.outbox.outbox import Outbox
from sync.wire import enrollment as proto
from sync.wire.config_schema import CONFIG_SCHEMA

Progress = Callable[[Msg, float], None]
STATE_DIR = "device.d"  # next to the config file: keys/ (and data/ for a non-default config)
DEFAULT_DATA_DIR = Path("/var/lib/fieldkit")  # with the default config (systemd/fieldkit.tmpfiles)


def default_data_dir(config_path: Path | str) -> Path | None:
    """Where enrollment puts the outbox when no ``--data-dir`` is given: /var/lib/fieldkit for
    the default config (/etc/fieldkit/device.toml, a real device), else None, meaning
    ``<config dir>/device.d/data`` (tests, the demo, a desktop)."""
    return DEFAULT_DATA_DIR if Path(config_path) == Path(DEFAULT_CONFIG_PATH) else None

# The command line's Spanish, by reason (`fieldkit-kiosk enroll`); the kiosk's screens show the
# same reasons as the codes `enroll.<reason>` from its catalogues (`EnrollError.msg`).
MESSAGES = {
    "bad_code": "El código no es válido: son 20 letras y números en 5 grupos de 4. Revíselo.",
    "no_server": "Falta la dirección del servidor (escanee el QR o indíquela).",
    "already_enrolled": "Este dispositivo ya está inscrito.",
    "network": "No se pudo conectar con el servidor. Revise la red e intente de nuevo.",
    "wrong_server": "Este servidor no es el de su coordinación (la huella de su certificado no coincide "
                    "con la del código). No se guardó nada.",
    "unknown": "El servidor no conoce este código. Revise que lo escribió bien.",
    "expired": "El código de inscripción venció (vale 24 horas). Pida uno nuevo a su coordinador.",
    "used": "Este código de inscripción ya se usó en otro dispositivo. Pida uno nuevo a su coordinador.",
    "cancelled": "La coordinación canceló este código de inscripción. Pida uno nuevo a su coordinador.",
    "tampered": "La respuesta del servidor no es auténtica (sello o firma no válidos). No se guardó nada.",
    "refused": "El servidor rechazó la inscripción",
    "too_many": "Demasiados intentos fallidos. Espere unos minutos.",
    "storage": "No se pudieron guardar los archivos del dispositivo",
}
# The steps of an enrollment as message codes, and their Spanish for the command line's
# progress lines (sync cannot reach the kiosk's catalogues, where the screens find them).
STEPS = {
    "enroll.step.keys": "Generando las claves del dispositivo",
    "enroll.step.connect": "Conectando con el servidor",
    "enroll.step.redeem": "Canjeando el código",
    "enroll.step.verify": "Verificando la respuesta del servidor",
    "enroll.step.install": "Guardando claves y configuración",
    "enroll.step.done": "Listo",
}
_SERVER_ERRORS = {"code_unknown": "unknown", "code_expired": "expired", "code_used": "used",
                  "code_cancelled": "cancelled",
                  "too_many_attempts": "too_many"}


class EnrollError(Exception):
    """`reason`: bad_code, no_server, already_enrolled, network, wrong_server, unknown, expired,
    used, cancelled, tampered, refused, too_many, storage. `message`: Spanish, for the command line (with
    the server's or the file system's detail for refused and storage). `msg`: the screen's
    message code; `detail` (the server's words, an OS error) is for logs, never a screen."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        base = MESSAGES.get(reason, reason)
        self.message = f"{base}: {detail}" if detail and reason in ("refused", "storage") else base
        self.detail = detail
        super().__init__(self.message)

    @property
    def msg(self) -> Msg:
        return Msg(f"enroll.{self.reason}" if self.reason in MESSAGES else "enroll.failed")


def step_text(step: Msg) -> str:
    """A progress step's Spanish line for the command line."""
    return STEPS.get(step.code, step.code)


@dataclass(frozen=True)
class EnrollResult:
    device_id: str
    folio_prefix: str
    config_path: Path
    processes: list[str]
    auxiliaries: list[str]
    self_service: bool = False  # provisioned for self-service: the config has [self_service] enabled


@dataclass
class _Keys:
    tls: ec.EllipticCurvePrivateKey
    csr_pem: bytes
    sign: ed25519.Ed25519PrivateKey
    sign_raw: bytes


def _make_keys() -> _Keys:
    tls = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, proto.CSR_PLACEHOLDER_CN)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(tls, hashes.SHA256())
    sign = ed25519.Ed25519PrivateKey.generate()
    return _Keys(tls, csr.public_bytes(serialization.Encoding.PEM), sign,
                 sign.public_key().public_bytes_raw())


def _pem_key(k: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())


def _fetch_ca(base: str, code: proto.EnrollCode, timeout_s: float) -> bytes:
    # No trust yet: fetch the CA unverified, then accept it only if it matches the code.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = requests.get(base + "/v1/enroll/ca", verify=False, timeout=timeout_s)
    except requests.RequestException as e:
        raise EnrollError("network", str(e)) from None
    try:
        ca = x509.load_pem_x509_certificate(r.content) if r.status_code == 200 else None
    except ValueError:
        ca = None
    if ca is None or not code.matches_ca(ca.public_bytes(serialization.Encoding.DER)):
        raise EnrollError("wrong_server")
    return ca.public_bytes(serialization.Encoding.PEM)


def enroll_request(code: proto.EnrollCode, keys: _Keys) -> dict[str, Any]:
    """The body of `POST /v1/enroll` (docs/enrollment.md); `config_schema` lets the server send
    only config keys this device knows (sync/wire/config_schema.py)."""
    return {
        "v": proto.PROTOCOL_VERSION, "code_id": code.code_id(), "csr": keys.csr_pem.decode(),
        "sign_pub": keys.sign_raw.hex(), "config_schema": CONFIG_SCHEMA,
        "request_mac": proto.request_mac(code.mac_key(), keys.csr_pem, keys.sign_raw)}


def _redeem(base: str, ca_file: Path, code: proto.EnrollCode, keys: _Keys, timeout_s: float) -> bytes:
    req = enroll_request(code, keys)
    last: Exception | None = None
    for _ in range(3):  # a lost response is retried with the same keys: the same enrollment
        try:
            s = requests.Session()
            s.trust_env = False  # the pinned CA only, no environment CA bundle or proxy
            r = s.post(base + "/v1/enroll", json=req, verify=str(ca_file), timeout=timeout_s)
            break
        except requests.exceptions.SSLError:
            raise EnrollError("wrong_server") from None
        except requests.RequestException as e:
            last = e
    else:
        raise EnrollError("network", str(last))
    if r.status_code == 200:
        return r.content
    try:
        err = r.json()
    except ValueError:
        err = {}
    kind = _SERVER_ERRORS.get(str(err.get("error")))
    raise EnrollError(kind or "refused", str(err.get("message") or f"HTTP {r.status_code}"))


def _verify(data: bytes, code: proto.EnrollCode, keys: _Keys) -> dict[str, Any]:
    try:
        body, sig, mac = proto.unpack_bundle(data)
    except (ValueError, KeyError, TypeError):
        raise EnrollError("tampered") from None
    if not hmac.compare_digest(proto.bundle_mac(code.mac_key(), body), mac):
        raise EnrollError("tampered")
    try:
        b = json.loads(body)
        ca = x509.load_pem_x509_certificate(b["ca_cert"].encode())
        cert = x509.load_pem_x509_certificate(b["client_cert"].encode())
        spub = serialization.load_pem_public_key(b["server_sign_public"].encode())
    except (ValueError, KeyError, TypeError, AttributeError):
        raise EnrollError("tampered") from None
    if not code.matches_ca(ca.public_bytes(serialization.Encoding.DER)):
        raise EnrollError("wrong_server")
    if not isinstance(spub, ed25519.Ed25519PublicKey):
        raise EnrollError("tampered")
    try:
        spub.verify(sig, proto.BUNDLE_CONTEXT + body)
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError):
        raise EnrollError("tampered") from None
    spki = keys.tls.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if (b.get("code_id") != code.code_id() or b.get("key_binding") != proto.key_binding(spki, keys.sign_raw)
            or cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo) != spki
            or len(cn) != 1 or cn[0].value != b.get("device_id")):
        raise EnrollError("tampered")  # a bundle for other keys or another device
    return dict(b)


def config_data(b: dict[str, Any], data_dir: str) -> dict[str, Any]:
    """The device TOML as data (paths relative to the config file). A self-service bundle's
    config carries its ``[self_service]`` table (checked with the rest by the config's loader)."""
    k = f"{STATE_DIR}/keys"
    c = b.get("config") or {}
    ss = dict(c.get("self_service") or {})
    if b.get("self_service") is True:  # the bundle's own flag says the same as its config table
        ss["enabled"] = True
    extra = {"self_service": ss} if ss else {}
    return {
        "locale": "es",
        "device": {"id": b["device_id"], "folio_prefix": b["folio_prefix"], "data_dir": data_dir},
        "server": {"https_url": b.get("https_url", ""), "mqtt_url": b.get("mqtt_url", ""),
                   "transport": "auto", "seal_suite": b.get("seal_suite", "mlkem768-x25519")},
        "keys": {"ca": f"{k}/ca.pem", "client_cert": f"{k}/device.crt", "client_key": f"{k}/device.key",
                 "signing_key": f"{k}/device-sign.key", "outbox_key": f"{k}/outbox.key",
                 "server_seal_public": f"{k}/server-seal.pub", "server_sign_public": f"{k}/server-sign.pub"},
        "freeze": c.get("freeze") or {},
        "processes": c.get("processes") or [], "auxiliaries": c.get("auxiliaries") or [],
        "secciones": c.get("secciones") or [], **extra,
    }


def _install(cfg_path: Path, b: dict[str, Any], keys: _Keys, ca_pem: bytes,
             data_dir: Path | None = None) -> None:
    """Build everything in a 0700 staging folder, then rename into place (config last).
    ``data_dir`` (absolute): the outbox goes there instead of ``device.d/data``."""
    root = cfg_path.parent
    made: Path | None = None  # an outbox made outside the staging folder
    stage = root / f".enroll-{secrets.token_hex(4)}"
    os.mkdir(stage, 0o700)
    try:
        kd, dd = stage / "keys", stage / "data"
        os.mkdir(kd, 0o700)
        os.mkdir(dd, 0o700)
        write_private_file(kd / "ca.pem", ca_pem, 0o644)
        write_private_file(kd / "device.crt", b["client_cert"].encode(), 0o644)
        write_private_file(kd / "device.key", _pem_key(keys.tls))
        write_private_file(kd / "device-sign.key", _pem_key(keys.sign))
        write_private_file(kd / "server-seal.pub", b["server_seal_public"].encode(), 0o644)
        write_private_file(kd / "server-sign.pub", b["server_sign_public"].encode(), 0o644)
        create_key_file(kd / "outbox.key")
        text = render_toml(config_data(b, str(data_dir) if data_dir else f"{STATE_DIR}/data"))
        parse_config(text, root / cfg_path.name)  # validate before anything is visible
        key = load_key(kd / "outbox.key")
        if data_dir is None:
            Outbox.create(outbox_file(dd), key, b["device_id"], b["folio_prefix"]).close()
        else:
            os.rmdir(dd)
            target = outbox_file(data_dir)
            if target.exists():  # records of an earlier enrollment: never overwritten
                raise OSError(f"{target} ya existe (¿datos de una inscripción anterior?)")
            # Outbox.create makes a missing data dir 0700, and the file 0600.
            Outbox.create(target, key, b["device_id"], b["folio_prefix"]).close()
            made = target
        write_private_file(stage / "device.toml", text.encode())
        final = root / STATE_DIR
        if final.exists():  # leftover of an enrollment that never wrote its config
            shutil.rmtree(final)
        os.rename(kd.parent, final)  # stage -> device.d (keys, data and the config inside)
        os.rename(final / "device.toml", cfg_path)
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if not cfg_path.exists():
            shutil.rmtree(root / STATE_DIR, ignore_errors=True)
            if made is not None:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{made}{suffix}").unlink(missing_ok=True)
        raise


def enroll(code: str, server_url: str | None = None, config_path: Path | str = DEFAULT_CONFIG_PATH, *,
           progress: Progress | None = None, timeout_s: float = 20.0,
           data_dir: Path | str | None = None) -> EnrollResult:
    """``data_dir``: where the outbox goes, written into the config's ``device.data_dir``
    (absolute). None: ``default_data_dir(config_path)``."""
    say = progress or (lambda _t, _f: None)
    data = Path(data_dir).absolute() if data_dir is not None else default_data_dir(config_path)
    try:
        c = proto.parse_code(code)
    except proto.CodeFormatError:
        raise EnrollError("bad_code") from None
    base = (server_url or c.server_url or "").rstrip("/")
    if not base.startswith("https://"):
        raise EnrollError("no_server")
    cfg_path = Path(config_path)
    if cfg_path.exists():
        raise EnrollError("already_enrolled")
    say(Msg("enroll.step.keys"), 0.1)
    keys = _make_keys()
    say(Msg("enroll.step.connect"), 0.3)
    ca_pem = _fetch_ca(base, c, timeout_s)
    say(Msg("enroll.step.redeem"), 0.5)
    cfg_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_tmp = cfg_path.parent / f".enroll-ca-{secrets.token_hex(4)}.pem"
    try:
        ca_tmp.write_bytes(ca_pem)
        bundle = _redeem(base, ca_tmp, c, keys, timeout_s)
    finally:
        ca_tmp.unlink(missing_ok=True)
    say(Msg("enroll.step.verify"), 0.7)
    b = _verify(bundle, c, keys)
    say(Msg("enroll.step.install"), 0.85)
    try:
        _install(cfg_path, b, keys, ca_pem, data)
    except ConfigError as e:
        raise EnrollError("refused", f"configuración no válida: {e}") from None
    except OSError as e:
        raise EnrollError("storage", str(e)) from None
    say(Msg("enroll.step.done"), 1.0)
    return EnrollResult(b["device_id"], b["folio_prefix"], cfg_path,
                        [p["id"] for p in b["config"].get("processes", [])],
                        [a["id"] for a in b["config"].get("auxiliaries", [])],
                        bool(config_data(b, "").get("self_service", {}).get("enabled")))


def ca_fingerprint(pem: bytes) -> str:
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()
