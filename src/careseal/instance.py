"""Create a new instance: folders, keys, certificate, configuration, database and first account."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from careseal.vault import keyring

CONFIG_TEMPLATE = """\
# CareSeal configuration, written by 'careseal init'. Paths are relative to
# this file's folder unless absolute. CARESEAL_DATABASE_URL and
# CARESEAL_STORAGE_URL in the environment override [database] and [storage].

# Name used in EHLO, Received headers and DSNs, and the MX domain for replies.
hostname = "{hostname}"
# Address patients and staff use to reach the web pages.
public_url = "{public_url}"

[database]
# sqlite:relative/path, sqlite:///absolute/path or postgresql://user@host:port/dbname
url = "{database_url}"

[storage]
# Sealed (encrypted) message content. file:relative/path, file:///absolute/path
# or s3://bucket/prefix for an S3-compatible bucket, created beforehand.
url = "file:blobs"
# file: only. Refuse new mail with a 452 reply when less than this much disk
# space is free.
min_free_mb = 100
# s3:// only. Leave endpoint_url empty for AWS, and access_key_id empty to
# take credentials from the AWS_* environment variables, ~/.aws or an
# instance role. The secret stays in a file of its own (mode 0600).
# endpoint_url = "https://s3.clinic.example:9000"
# region = "us-east-1"
# access_key_id = ""
# secret_access_key_file = "/etc/careseal/s3.secret"
# ca_file = ""               # a private CA for the endpoint's certificate
# addressing_style = "auto"  # auto, path or virtual; path suits most non-AWS servers

[keys]
# Key-encryption keys. Keep this folder out of database backups, and back it
# up separately: without it no stored message can be read.
dir = "keys"

[submission]
# Port for staff mail clients and the clinic's mail server (STARTTLS and AUTH required).
listen = "{submission_listen}"
tls_cert = "tls/submission.crt"
tls_key = "tls/submission.key"
# Largest message accepted, in bytes or with K, M or G.
max_message_size = "25M"
max_recipients = 100

[mx]
# Inbound MX for patients' replies to tracked Reply-To addresses; point the
# MX record of each domain below at this listener.
listen = "{mx_listen}"
domains = ["{hostname}"]

[web]
listen = "{web_listen}"

[delivery]
# tls-or-escrow: verified TLS where the recipient's server offers it, else
#   keep the message encrypted here and send a pickup notice for the portal.
# verified-tls: deliver only over TLS 1.2+ with a certificate verified for
#   the next hop; otherwise defer, then bounce. Never plaintext.
# escrow: always keep the message here and send a pickup notice.
policy = "tls-or-escrow"
# Extra trust anchors (PEM) for next-hop certificates, for private CAs.
ca_file = ""
# TCP port of next hops found through MX records.
port = 25
# Apply recipient domains' MTA-STS policies (RFC 8461): where a domain
# publishes one in enforce mode, only the MX hosts it lists get mail.
mta_sts = true
# How long a message's sealed content is kept after its last delivery ended,
# for checking patients' replies for quoted text. Escrowed content follows
# [escrow] expiry instead.
keep_content = "30d"
# Deliveries attempted at once by each worker process.
concurrency = 8
# Delay before each retry; the last one repeats until max_queue_age.
retry_schedule = ["5m", "10m", "20m", "40m", "1h"]
max_queue_age = "5d"
# How long a worker owns a claimed delivery; a crashed worker's claims return after it.
lease = "10m"
# Network timeout for each SMTP step.
timeout = "60s"

[delivery.routes]
# Next hop per recipient domain instead of its MX records. The certificate
# is checked against this host (a name or an IP address).
# "clinic.example.test" = "mail.clinic.example.test:25"

[practice]
# Name shown to patients on pickup notices and portal pages.
name = "{practice_name}"
# Sender address of pickup notices and one-time codes.
notices_from = "no-reply@{hostname}"

[escrow]
# A subject containing this keyword sends the message by escrow; the
# keyword is removed from the subject. Empty turns the keyword off.
secure_keyword = "[secure]"
# How long an escrowed message can be picked up.
expiry = "30d"
# Language of notices and pages when the patient has not chosen one: en or es.
default_language = "en"
# Remind a patient who has not opened the message this long before it
# expires ("0" turns reminders off).
reminder_before = "3d"
# Tell the sender (by mail, without PHI) when the recipient first opens it.
notify_sender_on_open = false

[contact.departments]
# The public secure contact page (/contact) lets anyone who proves their
# email address send the practice a secure message. List the departments it
# offers; with none, the page is off.
# "Front desk" = "frontdesk@clinic.example"

[dkim]
# Pickup notices are DKIM-signed. Publish the TXT record that 'careseal init'
# printed at <selector>._domainkey.<domain>.
domain = "{hostname}"
selector = "careseal"
key_file = "keys/dkim.key"

[replies]
# Set Reply-To on messages delivered by TLS to an address of this gateway's
# MX ([mx] domains), so patients' plain replies come back through it.
track = true
# Add a short notice to those messages: replies by email may not be
# secure, with a link to reply securely through the portal.
notice = true
# After a patient replies by plain email, send all later mail to them by escrow.
switch_to_escrow = false
# Forward only the new text of a reply, without the quoted original or the
# attached reply; the banner still states whether the reply quoted it.
strip_quoted = false
# At most one automatic response per patient address in this period.
autoresponse_interval = "7d"

[policy]
# Subjects that look like PHI are kept out of pickup notices and DSNs; with
# phi_escrow = true such messages also go by escrow. Patterns are Python
# regular expressions; the defaults catch record numbers, dates of birth,
# US social security numbers and ICD-10 codes. Add drug names to match too.
# phi_patterns = [...]
drug_names = []
phi_escrow = false

[audit]
# How long audit events are kept; 'careseal audit prune' removes older ones
# behind a signed anchor. At least 1y; HIPAA documentation needs 6y.
retention = "6y"

[dns]
# Resolvers for MX and address lookups, as "ip" or "ip:port". Empty uses the
# system's resolvers.
nameservers = []
timeout = 5.0

[logging]
level = "INFO"
# "text" or "json"
format = "text"
"""


@dataclass(frozen=True)
class InitOptions:
    directory: Path
    hostname: str
    admin_email: str
    admin_password: str | None = None
    submission_listen: str = "0.0.0.0:587"
    mx_listen: str = "0.0.0.0:25"
    web_listen: str = "127.0.0.1:8025"
    database_url: str = "sqlite:careseal.db"
    practice_name: str = ""
    public_url: str = ""


def write_files(options: InitOptions) -> Path:
    """Create the folder, keys, certificate and configuration; return the configuration path.

    Raises FileExistsError if a configuration is already there, so an
    instance's keys are never overwritten.
    """
    directory = options.directory.resolve()
    config_path = directory / "careseal.toml"
    if config_path.exists():
        raise FileExistsError(f"{config_path} already exists; choose an empty folder or keep that instance")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    keys_dir = directory / "keys"
    keyring.create_key(keys_dir)
    _write_private(keys_dir / "secret_key", secrets.token_urlsafe(50).encode("ascii") + b"\n")

    _write_private(keys_dir / "dkim.key", dkim_private_key())
    _write_private(keys_dir / "audit.key", audit_signing_key())

    tls_dir = directory / "tls"
    tls_dir.mkdir(exist_ok=True, mode=0o700)
    certificate, key = self_signed_certificate(options.hostname)
    (tls_dir / "submission.crt").write_bytes(certificate)
    _write_private(tls_dir / "submission.key", key)

    config_path.write_text(CONFIG_TEMPLATE.format(
        hostname=options.hostname,
        database_url=options.database_url,
        submission_listen=options.submission_listen,
        mx_listen=options.mx_listen,
        web_listen=options.web_listen,
        practice_name=(options.practice_name or options.hostname).replace('"', "'"),
        public_url=(options.public_url or f"https://{options.hostname}").rstrip("/").replace('"', ""),
    ), encoding="utf-8")
    return config_path


def self_signed_certificate(hostname: str, days: int = 825) -> tuple[bytes, bytes]:
    """Return a PEM certificate and PEM private key (P-256) for *hostname*."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    alt_names: list[x509.GeneralName] = [x509.DNSName(hostname), x509.DNSName("localhost"),
                                         x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                         x509.IPAddress(ipaddress.ip_address("::1"))]
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return (
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()),
    )


def dkim_private_key() -> bytes:
    """Return a new 2048-bit RSA key in PEM, the size RFC 8301 requires verifiers to accept."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def audit_signing_key() -> bytes:
    """Return a new Ed25519 key in PEM for signing audit checkpoints."""
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def dkim_dns_record(private_pem: bytes) -> str:
    """Return the TXT record value that publishes the public half of a DKIM key."""
    key = serialization.load_pem_private_key(private_pem, password=None)
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode("ascii")


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
