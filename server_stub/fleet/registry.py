"""The device registry's write side: add, revoke. Used by `fieldkit-server admin` and,
later, by enrollment (which will call `add_device` with the CSR it received)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from server_stub.core.store import DeviceEntry, Store
from server_stub.deploy import pki


class RegistryError(ValueError):
    """A registration the server refuses (bad id, foreign certificate, duplicate)."""


@dataclass(frozen=True)
class Registered:
    entry: DeviceEntry
    cert: x509.Certificate | None  # issued from the CSR, or the one given


def _now_ms() -> int:
    return int(time.time() * 1000)


def _check_cert(cert: x509.Certificate, device_id: str, ca_cert: x509.Certificate | None) -> None:
    try:
        cn = pki.cert_common_name(cert)
    except pki.PKIError as e:
        raise RegistryError(str(e)) from None
    if cn != device_id:
        raise RegistryError(f"the certificate's CN is {cn!r}, not {device_id!r}")
    if ca_cert is not None:
        try:
            cert.verify_directly_issued_by(ca_cert)
        except (ValueError, TypeError, Exception) as e:
            raise RegistryError(f"the certificate was not issued by this deployment's CA: {e}") from None


def add_device(
    store: Store,
    device_id: str,
    sign_pub: ed25519.Ed25519PublicKey,
    *,
    ca: pki.Issued | None = None,
    csr_pem: bytes | None = None,
    cert: x509.Certificate | None = None,
    replace: bool = False,
) -> Registered:
    """Register a device (state active). With a CSR, issue its client certificate
    (needs the CA key); with a certificate, check it names the device and comes
    from the CA. Refuses an existing id unless `replace` (re-enrollment)."""
    try:
        pki.validate_device_id(device_id)
    except pki.PKIError as e:
        raise RegistryError(str(e)) from None
    if csr_pem is not None and cert is not None:
        raise RegistryError("give a CSR or a certificate, not both")
    if csr_pem is not None:
        if ca is None or ca.key is None:
            raise RegistryError("issuing a certificate from a CSR needs the CA key (tls.ca_key)")
        try:
            cert = pki.sign_device_csr(ca, csr_pem, device_id).cert
        except pki.PKIError as e:
            raise RegistryError(str(e)) from None
    elif cert is not None:
        _check_cert(cert, device_id, ca.cert if ca else None)
    now = _now_ms()
    pem = cert.public_bytes(serialization.Encoding.PEM).decode() if cert is not None else None
    entry = DeviceEntry(device_id, sign_pub.public_bytes_raw(), pem, "active", now, now)
    if not store.put_device(entry, replace=replace):
        raise RegistryError(f"device {device_id!r} is already registered (use --replace to re-enroll)")
    return Registered(entry, cert)


def revoke_device(store: Store, device_id: str) -> None:
    if not store.set_device_state(device_id, "revoked", _now_ms()):
        raise RegistryError(f"unknown device {device_id!r}")


def device_key(store: Store, device_id: str) -> tuple[ed25519.Ed25519PublicKey, str] | None:
    """(public key, state) of a registered device, or None."""
    d = store.get_device(device_id)
    if d is None:
        return None
    return ed25519.Ed25519PublicKey.from_public_bytes(d.sign_pub), d.state
