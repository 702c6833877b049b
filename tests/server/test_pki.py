"""server_stub.deploy.pki: certificate profiles, CSR enrollment, CRL, PEM files."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from server_stub.deploy import pki


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    return pki.make_ca("test CA")


def ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.Extension:
    return cert.extensions.get_extension_for_class(kind)  # type: ignore[type-var]


def test_ca_profile(ca: pki.Issued) -> None:
    c = ca.cert
    bc = ext(c, x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = ext(c, x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert not ku.value.digital_signature
    nc = ext(c, x509.NameConstraints)
    assert nc.critical
    assert x509.DNSName("localhost") in nc.value.permitted_subtrees
    assert x509.IPAddress(ipaddress.ip_network("127.0.0.0/8")) in nc.value.permitted_subtrees
    assert isinstance(ca.key, ec.EllipticCurvePrivateKey) and ca.key.curve.name == "secp256r1"
    c.verify_directly_issued_by(c)


def test_ca_without_name_constraints() -> None:
    c = pki.make_ca(permitted_dns=None, permitted_ips=None).cert
    with pytest.raises(x509.ExtensionNotFound):
        ext(c, x509.NameConstraints)


def test_server_cert_verifies_for_localhost_and_loopback(ca: pki.Issued) -> None:
    s = pki.issue_server_cert(ca)
    san = ext(s.cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    assert list(ext(s.cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert ext(s.cert, x509.BasicConstraints).value.ca is False
    store = Store([ca.cert])
    for name in (
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ):
        PolicyBuilder().store(store).build_server_verifier(name).verify(s.cert, [])
    with pytest.raises(VerificationError):
        verifier = PolicyBuilder().store(store).build_server_verifier(x509.DNSName("other.example"))
        verifier.verify(s.cert, [])


def test_name_constraints_stop_certs_for_foreign_hosts(ca: pki.Issued) -> None:
    rogue = pki.issue_server_cert(ca, ["bank.example"], [])
    verifier = PolicyBuilder().store(Store([ca.cert])).build_server_verifier(x509.DNSName("bank.example"))
    with pytest.raises(VerificationError, match="name constraint"):
        verifier.verify(rogue.cert, [])


def test_enrollment_csr_to_client_cert(ca: pki.Issued) -> None:
    key, csr = pki.make_csr("dev-0042")
    issued = pki.sign_device_csr(ca, csr, "dev-0042")
    assert issued.key is None  # the private key never leaves the device
    cert = issued.cert
    assert pki.cert_common_name(cert) == "dev-0042"
    assert cert.public_key() == key.public_key()
    assert list(ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert ext(cert, x509.KeyUsage).value.digital_signature
    cert.verify_directly_issued_by(ca.cert)
    verified = PolicyBuilder().store(Store([ca.cert])).build_client_verifier().verify(cert, [])
    assert verified.subjects == [pki.device_uri("dev-0042")]


def test_cn_comes_from_the_enrollment_not_the_csr(ca: pki.Issued) -> None:
    _, csr = pki.make_csr("dev-0001")  # the device asks to be dev-0001 ...
    cert = pki.sign_device_csr(ca, csr, "dev-0002").cert  # ... its code binds dev-0002
    assert pki.cert_common_name(cert) == "dev-0002"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME) == []


def test_ed25519_csr_accepted(ca: pki.Issued) -> None:
    _key, csr = pki.make_csr("dev-ed", ed25519.Ed25519PrivateKey.generate())
    cert = pki.sign_device_csr(ca, csr, "dev-ed").cert
    assert isinstance(cert.public_key(), ed25519.Ed25519PublicKey)


def test_tampered_or_garbage_csr_refused(ca: pki.Issued) -> None:
    # A CSR signed by one key but carrying another's public key: no proof of possession.
    k1, k2 = pki.generate_key(), pki.generate_key()
    good = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dev-0001")])
    )
    csr = good.sign(k1, pki.hashes.SHA256())
    der = bytearray(csr.public_bytes(pki.serialization.Encoding.DER))
    pub1 = k1.public_key().public_bytes(
        pki.serialization.Encoding.DER, pki.serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pub2 = k2.public_key().public_bytes(
        pki.serialization.Encoding.DER, pki.serialization.PublicFormat.SubjectPublicKeyInfo
    )
    i = der.index(pub1)
    der[i : i + len(pub1)] = pub2
    forged = x509.load_der_x509_csr(bytes(der)).public_bytes(pki.serialization.Encoding.PEM)
    with pytest.raises(pki.PKIError, match="signature"):
        pki.sign_device_csr(ca, forged, "dev-0001")
    with pytest.raises(pki.PKIError, match="malformed"):
        pki.sign_device_csr(ca, b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", "dev-0001")


def test_unsupported_key_type_refused(ca: pki.Issued) -> None:
    key = ec.generate_private_key(ec.SECP521R1())
    _, csr = pki.make_csr("dev-0001", key)
    with pytest.raises(pki.PKIError, match="unsupported key"):
        pki.sign_device_csr(ca, csr, "dev-0001")


@pytest.mark.parametrize(
    "bad", ["", "a/b", "dev+", "dev#", "dev.01", "-dev", "dev 1", "server:ingest", "x" * 65, "dev\x00"]
)
def test_device_ids_must_be_topic_safe(ca: pki.Issued, bad: str) -> None:
    with pytest.raises(pki.PKIError, match="invalid device id"):
        pki.make_csr(bad)
    _, csr = pki.make_csr("dev-0001")
    with pytest.raises(pki.PKIError):
        pki.sign_device_csr(ca, csr, bad)


def test_server_identity(ca: pki.Issued) -> None:
    ident = pki.issue_server_identity(ca, "server:ingest-2")
    assert pki.cert_common_name(ident.cert) == "server:ingest-2"
    assert list(ext(ident.cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    for bad in ("ingest", "server:", "server:a/b", "server:+"):
        with pytest.raises(pki.PKIError):
            pki.issue_server_identity(ca, bad)


def test_crl_lists_revoked_serials(ca: pki.Issued) -> None:
    dev = pki.issue_device_cert(ca, "dev-0009")
    crl = pki.make_crl(ca, [dev.cert.serial_number, dev.cert.serial_number])
    assert crl.is_signature_valid(ca.key.public_key())  # type: ignore[union-attr]
    assert crl.get_revoked_certificate_by_serial_number(dev.cert.serial_number) is not None
    assert len(crl) == 1
    assert crl.next_update_utc is not None and crl.next_update_utc > crl.last_update_utc


def test_issuing_needs_the_ca_key(ca: pki.Issued) -> None:
    public_only = pki.Issued(ca.cert)
    with pytest.raises(pki.PKIError, match="private key"):
        pki.issue_server_cert(public_only)
    with pytest.raises(pki.PKIError, match="private key"):
        pki.make_crl(public_only)


def test_pem_round_trip_and_key_permissions(tmp_path: Path, ca: pki.Issued) -> None:
    dev = pki.issue_device_cert(ca, "dev-0001")
    cert_path, key_path = pki.write_issued(dev, tmp_path / "d" / "dev.crt", tmp_path / "d" / "dev.key")
    assert key_path is not None
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert not list(tmp_path.glob("d/*.tmp"))
    assert pki.load_cert(cert_path) == dev.cert
    loaded = pki.load_key(key_path)
    assert loaded.public_key() == dev.cert.public_key()
    # Rewriting an existing key with loose permissions tightens them.
    key_path.chmod(0o644)
    pki.write_key(key_path, loaded)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    ca_cert, ca_key = pki.write_issued(ca, tmp_path / "ca.crt", tmp_path / "ca.key")
    assert ca_key is not None
    again = pki.load_ca(ca_cert, ca_key)
    assert pki.issue_device_cert(again, "dev-0002").cert.issuer == ca.cert.subject
    crl_path = pki.write_crl(tmp_path / "ca.crl", pki.make_crl(ca))
    assert x509.load_pem_x509_crl(crl_path.read_bytes()).issuer == ca.cert.subject


def test_validity_is_backdated_for_clockless_devices(ca: pki.Issued) -> None:
    dev = pki.issue_device_cert(ca, "dev-0001", days=10)
    c = dev.cert
    assert c.not_valid_before_utc < c.not_valid_after_utc
    assert (c.not_valid_after_utc - c.not_valid_before_utc).days == 10
