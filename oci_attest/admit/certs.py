"""``attest admit certs``: a CA and a serving certificate for the webhook's Service.

The API server calls the webhook at ``https://<service>.<namespace>.svc``, checking the
certificate against the ``caBundle`` in the webhook configuration. This makes both with
``cryptography``: an ECDSA P-256 CA that signs only this certificate, and a serving certificate
whose SANs are every name the Service answers to. The private keys are written 0600 and never
printed; the CA's key is not kept at all (nothing else should ever be signed with it), so a
rotation is a new run and a new caBundle.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from oci_attest.errors import InputError


@dataclass(frozen=True)
class ServingCertificate:
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    @property
    def ca_bundle(self) -> str:
        """What goes in the webhook configuration's ``clientConfig.caBundle``."""
        return base64.b64encode(self.ca_pem).decode()


def service_names(service: str, namespace: str) -> list[str]:
    return [service, f"{service}.{namespace}", f"{service}.{namespace}.svc",
            f"{service}.{namespace}.svc.cluster.local"]


def make_serving_certificate(service: str, namespace: str, *, days: int = 365,
                             extra_names: tuple[str, ...] = ()) -> ServingCertificate:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                            f"attest admit CA for {service}.{namespace}")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=days))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names = [*service_names(service, namespace), *extra_names]
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            import ipaddress

            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[2])]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return ServingCertificate(
        ca_pem=ca.public_bytes(pem), cert_pem=cert.public_bytes(pem),
        key_pem=key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


def write_certificate(certificate: ServingCertificate, directory: Path) -> None:
    """``ca.crt``, ``tls.crt`` and ``tls.key`` (0600), the names a kubernetes.io/tls Secret
    uses; each written to a temporary name and renamed, so a reader never sees half a key."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, data, mode in (("ca.crt", certificate.ca_pem, 0o644),
                                 ("tls.crt", certificate.cert_pem, 0o644),
                                 ("tls.key", certificate.key_pem, 0o600)):
            temporary = directory / f".{name}.tmp"
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            os.chmod(temporary, mode)
            os.replace(temporary, directory / name)
    except OSError as error:
        raise InputError(f"cannot write certificates to {directory}: {error.strerror}") from None
