"""Enrollment wire format shared by the device (`sync.device.enroll`) and the server
(`server_stub.fleet.enrollment`). Byte-level description: docs/enrollment.md.

- Code: 12 random Crockford base32 characters (60 bits, the secret) followed by
  8 characters that are the first 40 bits of the SHA-256 of the deployment CA
  certificate (DER), printed in groups of four: ``7KQ2-M9XB-T4RP-3HDA-0ZCW``.
- The QR carries ``fieldkit-enroll:v1?code=<code>&ca=<64 hex>&server=<https url>``:
  the full CA fingerprint, no other secret than the code.
- Only values *derived* from the secret travel: ``code_id`` (lookup) and
  ``request_mac``. The bundle is authenticated twice: Ed25519 by the server's
  signing key, and HMAC-SHA256 with ``mac_key`` = HKDF(secret).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32 (as folios)
SECRET_CHARS = 12
FP_CHARS = 8
HKDF_SALT = b"fieldkit/v1/enroll"
BUNDLE_CONTEXT = b"fieldkit/v1/enroll-bundle\x00"
REQUEST_CONTEXT = b"fieldkit/v1/enroll-request\x00"
URI_SCHEME = "fieldkit-enroll"
CSR_PLACEHOLDER_CN = "fieldkit-enroll"  # the device does not know its id yet: the server assigns it
PROTOCOL_VERSION = 1
_CROCKFORD_FIX = str.maketrans({"I": "1", "L": "1", "O": "0", "U": "V"})


class CodeFormatError(ValueError):
    """Not a well-formed enrollment code or QR content."""


@dataclass(frozen=True)
class EnrollCode:
    secret: str  # 12 Crockford characters
    fp_prefix: str  # 8 Crockford characters of the CA fingerprint
    ca_fingerprint: str | None = None  # full SHA-256 hex, when read from the QR
    server_url: str | None = None  # from the QR

    @property
    def display(self) -> str:
        s = self.secret + self.fp_prefix
        return "-".join(s[i:i + 4] for i in range(0, len(s), 4))

    def code_id(self) -> str:
        return _hkdf(self.secret, b"code-id").hex()

    def mac_key(self) -> bytes:
        return _hkdf(self.secret, b"bundle-mac")

    def matches_ca(self, ca_der: bytes) -> bool:
        fp = hashlib.sha256(ca_der).hexdigest()
        if self.ca_fingerprint is not None and not hmac.compare_digest(fp, self.ca_fingerprint):
            return False
        return hmac.compare_digest(fp_chars(fp), self.fp_prefix)


def _hkdf(secret: str, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, HKDF_SALT, info).derive(secret.encode("ascii"))


def fp_chars(fp_hex: str) -> str:
    """First 40 bits of a SHA-256 hex fingerprint as 8 Crockford characters."""
    n = int(fp_hex[:10], 16)
    return "".join(ALPHABET[(n >> (35 - 5 * i)) & 31] for i in range(FP_CHARS))


def new_code(ca_der: bytes, server_url: str | None = None) -> EnrollCode:
    secret = "".join(secrets.choice(ALPHABET) for _ in range(SECRET_CHARS))
    fp = hashlib.sha256(ca_der).hexdigest()
    return EnrollCode(secret, fp_chars(fp), fp, server_url)


def _normalise(text: str) -> str:
    return "".join(c for c in text.upper().translate(_CROCKFORD_FIX) if c not in "- \t")


def parse_code(text: str) -> EnrollCode:
    """A typed code (groups, any case, I/L/O tolerated) or the QR's URI."""
    text = text.strip()
    if text.lower().startswith(URI_SCHEME + ":"):
        q = parse_qs(urlsplit(text).query)
        code = parse_code(q.get("code", [""])[0])
        fp = q.get("ca", [""])[0].lower()
        if len(fp) != 64 or any(c not in "0123456789abcdef" for c in fp) or fp_chars(fp) != code.fp_prefix:
            raise CodeFormatError("la huella del servidor en el QR no es válida")
        server = q.get("server", [""])[0] or None
        return EnrollCode(code.secret, code.fp_prefix, fp, server)
    s = _normalise(text)
    if len(s) != SECRET_CHARS + FP_CHARS or any(c not in ALPHABET for c in s):
        raise CodeFormatError("el código debe tener 20 caracteres (5 grupos de 4)")
    return EnrollCode(s[:SECRET_CHARS], s[SECRET_CHARS:])


def qr_uri(code: EnrollCode) -> str:
    assert code.ca_fingerprint is not None
    uri = f"{URI_SCHEME}:v1?code={code.display}&ca={code.ca_fingerprint}"
    return uri + (f"&server={quote(code.server_url, safe=':/')}" if code.server_url else "")


def key_binding(csr_spki_der: bytes, sign_pub_raw: bytes) -> str:
    """What binds a redemption to one device: its TLS key and its signing key."""
    return hashlib.sha256(csr_spki_der + b"\x00" + sign_pub_raw).hexdigest()


def request_mac(mac_key: bytes, csr_pem: bytes, sign_pub_raw: bytes) -> str:
    return hmac.new(mac_key, REQUEST_CONTEXT + csr_pem + b"\x00" + sign_pub_raw, "sha256").hexdigest()


def bundle_mac(mac_key: bytes, body: bytes) -> bytes:
    return hmac.new(mac_key, BUNDLE_CONTEXT + body, "sha256").digest()


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def pack_bundle(body: bytes, sig: bytes, mac: bytes) -> bytes:
    return canonical_json({"body": _b64(body), "mac": _b64(mac), "sig": _b64(sig), "v": PROTOCOL_VERSION})


def unpack_bundle(data: bytes) -> tuple[bytes, bytes, bytes]:
    """(body, sig, mac); raises ValueError on anything malformed."""
    outer = json.loads(data)
    if not isinstance(outer, dict) or outer.get("v") != PROTOCOL_VERSION:
        raise ValueError("versión de paquete desconocida")
    body, sig, mac = (base64.b64decode(outer[k], validate=True) for k in ("body", "sig", "mac"))
    if len(sig) != 64 or len(mac) != 32:
        raise ValueError("firma o sello de tamaño incorrecto")
    return body, sig, mac


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")
