"""TLS contexts for verified delivery and the evidence a session leaves."""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509


@dataclass(frozen=True)
class TLSEvidence:
    """Evidence about the next hop from a completed TLS handshake."""

    version: str
    cipher: str
    cert_subject: str
    cert_issuer: str
    cert_fingerprint_sha256: str


def verified_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """Return a client context that requires TLS 1.2 or newer and a certificate valid for the host.

    Trust anchors are the system store plus *ca_file*, if given.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def evidence(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> TLSEvidence:
    """Read the negotiated version, cipher and peer certificate from a finished handshake."""
    cipher = ssl_object.cipher()
    der = ssl_object.getpeercert(binary_form=True)
    subject = issuer = fingerprint = ""
    if der:
        certificate = x509.load_der_x509_certificate(der)
        subject = certificate.subject.rfc4514_string()
        issuer = certificate.issuer.rfc4514_string()
        fingerprint = hashlib.sha256(der).hexdigest()
    return TLSEvidence(
        version=ssl_object.version() or "",
        cipher=cipher[0] if cipher else "",
        cert_subject=subject,
        cert_issuer=issuer,
        cert_fingerprint_sha256=fingerprint,
    )
