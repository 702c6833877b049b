"""Deployment PKI: the CA that pins the fleet's TLS, and the certificates it issues.

Used by `fieldkit-server init` (CA, server certificate, server MQTT identities),
by enrollment (sign a device CSR) and by the tests. Keys are EC P-256 by
default: Mosquitto on Debian 12 (OpenSSL 3.0) and Python's ssl accept it for
both server and client certificates. Device CSRs may also carry Ed25519 keys.

The device certificate's CN is the device id: the broker takes it as the MQTT
username and client id (`use_identity_as_username`), and the ACL patterns
substitute it into topics, so device ids are restricted to characters that are
safe in a topic level and cannot be mistaken for a DNS name (no dots).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from server_stub.deploy.file_modes import replace_keeping_access

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Topic-safe (no / + # or NUL), no dots so OpenSSL never treats it as a hostname
# under the CA's DNS name constraints.
DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# Server identities are "server:<role>"; the colon keeps them out of the device
# id space, so no device can be enrolled under a server's name.
SERVER_ID_RE = re.compile(r"^server:[A-Za-z0-9][A-Za-z0-9_-]{0,55}$")

LOOPBACK_NETS: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)

# Small skew allowance: devices have no RTC and may boot with a clock behind.
_BACKDATE = dt.timedelta(hours=1)


class PKIError(ValueError):
    """A request the PKI refuses (bad id, bad CSR, unsupported key)."""


@dataclass(frozen=True)
class Issued:
    """A certificate with its private key (when the issuer made the key)."""

    cert: x509.Certificate
    key: PrivateKey | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def generate_key() -> ec.EllipticCurvePrivateKey:
    """A new EC P-256 private key (the TLS key type used across the fleet)."""
    return ec.generate_private_key(ec.SECP256R1())


def _sign_hash(key: PrivateKey) -> hashes.SHA256 | None:
    # Ed25519 signs without a separate hash; cryptography wants None for it.
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _check_public_key(pub: object) -> PublicKey:
    if isinstance(pub, ed25519.Ed25519PublicKey):
        return pub
    if isinstance(pub, ec.EllipticCurvePublicKey) and pub.curve.name in (
        "secp256r1",
        "secp384r1",
    ):
        return pub
    raise PKIError(f"unsupported key type for TLS: {type(pub).__name__}")


def validate_device_id(device_id: str) -> str:
    if not DEVICE_ID_RE.fullmatch(device_id):
        raise PKIError(f"invalid device id {device_id!r}: 1-64 of A-Z a-z 0-9 _ -, starting alphanumeric")
    return device_id


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _builder(subject: x509.Name, issuer: x509.Name, pub: PublicKey, days: int) -> x509.CertificateBuilder:
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(pub)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
    )


def make_ca(
    common_name: str = "Apoyo fieldkit CA",
    *,
    organization: str | None = "Apoyo fieldkit",
    permitted_dns: Sequence[str] | None = ("localhost",),
    permitted_ips: Sequence[IPNetwork] | None = LOOPBACK_NETS,
    days: int = 3650,
) -> Issued:
    """A self-signed CA that may sign only end-entity certificates.

    Name constraints limit the DNS names and IP addresses it can vouch for to
    the deployment's own server names; pass the production host names here.
    Both None means no name constraints at all.
    """
    key = generate_key()
    name = _name(common_name, organization)
    b = (
        _builder(name, name, key.public_key(), days)
        # path_length=0: a stolen device cert can never act as an intermediate.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if permitted_dns is not None or permitted_ips is not None:
        subtrees: list[x509.GeneralName] = [x509.DNSName(d) for d in permitted_dns or ()]
        subtrees += [x509.IPAddress(n) for n in permitted_ips or ()]
        b = b.add_extension(
            x509.NameConstraints(permitted_subtrees=subtrees, excluded_subtrees=None),
            critical=True,
        )
    return Issued(b.sign(key, hashes.SHA256()), key)


def _leaf(
    ca: Issued,
    subject: x509.Name,
    pub: PublicKey,
    eku: x509.ObjectIdentifier,
    days: int,
    san: Sequence[x509.GeneralName] = (),
) -> x509.Certificate:
    if ca.key is None:
        raise PKIError("the CA's private key is needed to issue certificates")
    b = (
        _builder(subject, ca.cert.subject, pub, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            # ECDHE suites: the leaf key only signs the handshake.
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(list(san)), critical=False)
    return b.sign(ca.key, _sign_hash(ca.key))


def issue_server_cert(
    ca: Issued,
    dns_names: Sequence[str] = ("localhost",),
    ips: Sequence[str] = ("127.0.0.1", "::1"),
    *,
    days: int = 825,
) -> Issued:
    """The TLS server certificate for the broker and the HTTPS listeners."""
    if not dns_names and not ips:
        raise PKIError("a server certificate needs at least one DNS name or IP")
    key = generate_key()
    san: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    san += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cn = dns_names[0] if dns_names else ips[0]
    cert = _leaf(ca, _name(cn), key.public_key(), ExtendedKeyUsageOID.SERVER_AUTH, days, san)
    return Issued(cert, key)


def device_uri(device_id: str) -> x509.UniformResourceIdentifier:
    """The client certificate's SAN. OpenSSL (Mosquitto) needs only the CN, but
    cryptography's x509.verification ClientVerifier insists on a SAN."""
    return x509.UniformResourceIdentifier(f"urn:fieldkit:device:{device_id}")


def make_csr(device_id: str, key: PrivateKey | None = None) -> tuple[PrivateKey, bytes]:
    """Device side of enrollment: a key (kept by the caller) and a PEM CSR."""
    validate_device_id(device_id)
    key = key or generate_key()
    csr = x509.CertificateSigningRequestBuilder().subject_name(_name(device_id)).sign(key, _sign_hash(key))
    return key, csr.public_bytes(serialization.Encoding.PEM)


def sign_device_csr(ca: Issued, csr_pem: bytes, device_id: str, *, days: int = 825) -> Issued:
    """Server side of enrollment: a client certificate for `device_id`.

    The CN comes from the caller (the enrollment code's binding), never from
    the CSR's subject; the CSR only proves possession of the key.
    """
    validate_device_id(device_id)
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise PKIError(f"malformed CSR: {exc}") from exc
    if not csr.is_signature_valid:
        raise PKIError("CSR signature does not verify")
    pub = _check_public_key(csr.public_key())
    cert = _leaf(ca, _name(device_id), pub, ExtendedKeyUsageOID.CLIENT_AUTH, days, [device_uri(device_id)])
    return Issued(cert)


def issue_device_cert(ca: Issued, device_id: str, *, days: int = 825) -> Issued:
    """Key + client certificate in one step (tests, demo, bench fleets)."""
    key, csr = make_csr(device_id)
    return Issued(sign_device_csr(ca, csr, device_id, days=days).cert, key)


def issue_server_identity(ca: Issued, name: str = "server:ingest", *, days: int = 825) -> Issued:
    """Client certificate for the server's own MQTT connections (ingest, acks)."""
    if not SERVER_ID_RE.fullmatch(name):
        raise PKIError(f"invalid server identity {name!r}: expected 'server:<role>'")
    key = generate_key()
    uri = x509.UniformResourceIdentifier(f"urn:fieldkit:server:{name.removeprefix('server:')}")
    cert = _leaf(ca, _name(name), key.public_key(), ExtendedKeyUsageOID.CLIENT_AUTH, days, [uri])
    return Issued(cert, key)


def make_crl(
    ca: Issued,
    revoked_serials: Iterable[int] = (),
    *,
    days: int = 30,
) -> x509.CertificateRevocationList:
    """A CRL for the broker's `crlfile`. OpenSSL refuses every client once the
    CRL's nextUpdate passes, so reissue it well within `days`."""
    if ca.key is None:
        raise PKIError("the CA's private key is needed to sign a CRL")
    now = _now()
    b = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(now - _BACKDATE)
        .next_update(now + dt.timedelta(days=days))
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    for serial in sorted(set(revoked_serials)):
        b = b.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(now - dt.timedelta(seconds=1))
            .build()
        )
    return b.sign(ca.key, _sign_hash(ca.key))


def cert_common_name(cert: x509.Certificate) -> str:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(attrs) != 1:
        raise PKIError("certificate must have exactly one CN")
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode()


# --- PEM I/O -----------------------------------------------------------------


def _write_private(path: Path, data: bytes) -> None:
    # Create with 0600 from the start (no window where the key is world-readable).
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_key(path: str | os.PathLike[str], key: PrivateKey) -> Path:
    """PKCS#8 PEM, unencrypted (services load it unattended), mode 0600."""
    p = Path(path)
    _write_private(
        p,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    return p


def write_cert(path: str | os.PathLike[str], *certs: x509.Certificate) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return p


def write_crl(path: str | os.PathLike[str], crl: x509.CertificateRevocationList) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    # The broker may read it at any moment (never half a file), as its own user: keep the
    # group and mode of the file it replaces.
    replace_keeping_access(p, crl.public_bytes(serialization.Encoding.PEM))
    return p


def load_key(path: str | os.PathLike[str]) -> PrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise PKIError(f"{path}: unsupported key type {type(key).__name__}")
    return key


def load_cert(path: str | os.PathLike[str]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def load_ca(cert_path: str | os.PathLike[str], key_path: str | os.PathLike[str]) -> Issued:
    return Issued(load_cert(cert_path), load_key(key_path))


def write_issued(
    issued: Issued,
    cert_path: str | os.PathLike[str],
    key_path: str | os.PathLike[str] | None = None,
) -> tuple[Path, Path | None]:
    """Write a certificate and, when present and a path is given, its key."""
    c = write_cert(cert_path, issued.cert)
    k = write_key(key_path, issued.key) if key_path is not None and issued.key else None
    return c, k
