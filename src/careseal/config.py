"""Load and validate the CareSeal TOML configuration.

The file is the operator contract. Every key has a default except
``hostname``. Every problem raises a :class:`ConfigError` that names the key
and what is wrong with it, so start-up stops with a message an operator can
act on.
``CARESEAL_DATABASE_URL`` and ``CARESEAL_STORAGE_URL`` override the file.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

DEFAULT_CONFIG_NAME = "careseal.toml"

POLICIES = ("verified-tls", "tls-or-escrow", "escrow", "plain-consented")
PLANNED_POLICIES: tuple[str, ...] = ()
LANGUAGES = ("en", "es")

# In the spirit of Postfix: first retry after about 5 minutes, backing off
# to about an hour between attempts, give up after 5 days in the queue.
DEFAULT_RETRY_SCHEDULE = (300, 600, 1200, 2400, 3600)
DEFAULT_MAX_QUEUE_AGE = 5 * 86400

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdy]?)\s*$")
# A year counts as 365 days.
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)


class ConfigError(Exception):
    """An invalid or missing configuration value, named by its dotted key."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class Endpoint:
    """A host and TCP port, as written ``host:port`` or ``[v6]:port``."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class DatabaseConfig:
    url: str
    engine: str  # "sqlite" or "postgresql"
    name: str
    user: str = ""
    password: str = ""
    host: str = ""
    port: int | None = None


@dataclass(frozen=True)
class S3Config:
    """Location and credentials of the S3-compatible bucket for sealed blobs.

    Empty credentials and endpoint fall back to boto3's own sources (the
    AWS_* environment variables, ~/.aws, an instance role), as in other S3 tools.
    """

    bucket: str
    prefix: str
    endpoint_url: str
    region: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    ca_file: Path | None
    addressing_style: str


@dataclass(frozen=True)
class StorageConfig:
    url: str
    path: Path | None  # the folder of file: storage, None for s3://
    min_free_bytes: int
    s3: S3Config | None = None


@dataclass(frozen=True)
class SubmissionConfig:
    listen: Endpoint
    tls_cert: Path
    tls_key: Path
    max_message_size: int
    max_recipients: int


@dataclass(frozen=True)
class MXConfig:
    listen: Endpoint
    domains: tuple[str, ...]


@dataclass(frozen=True)
class WebConfig:
    listen: Endpoint


@dataclass(frozen=True)
class DeliveryConfig:
    policy: str
    ca_file: Path | None
    routes: dict[str, Endpoint]
    port: int
    concurrency: int
    retry_schedule: tuple[int, ...]
    max_queue_age: int
    lease: int
    timeout: int
    mta_sts: bool = True
    keep_content: int = 30 * 86400  # seconds a finished message's sealed content is kept


@dataclass(frozen=True)
class DNSConfig:
    nameservers: tuple[Endpoint, ...]
    timeout: float


@dataclass(frozen=True)
class LoggingConfig:
    level: str
    format: str


@dataclass(frozen=True)
class PracticeConfig:
    name: str
    notices_from: str


@dataclass(frozen=True)
class EscrowConfig:
    secure_keyword: str
    expiry: int
    default_language: str
    reminder_before: int
    notify_sender_on_open: bool


@dataclass(frozen=True)
class PolicyConfig:
    phi_patterns: tuple[str, ...]
    drug_names: tuple[str, ...]
    phi_escrow: bool


DEFAULT_PHI_PATTERNS = (
    r"(?i)\bMRN[:#\s-]*\d{4,}",                                   # medical record numbers
    r"\b(0?[1-9]|1[0-2])[/-](0?[1-9]|[12]\d|3[01])[/-](19|20)\d{2}\b",  # dates such as 03/14/1962
    r"\b\d{3}-\d{2}-\d{4}\b",                                      # US social security numbers
    r"\b[A-TV-Z]\d{2}\.\d{1,4}\b",                                   # ICD-10 codes with a decimal part
)


@dataclass(frozen=True)
class RepliesConfig:
    track: bool
    notice: bool
    switch_to_escrow: bool
    strip_quoted: bool
    autoresponse_interval: int


@dataclass(frozen=True)
class AuditConfig:
    retention: int


@dataclass(frozen=True)
class ContactConfig:
    departments: dict[str, str]


@dataclass(frozen=True)
class DKIMConfig:
    domain: str
    selector: str
    key_file: Path


@dataclass(frozen=True)
class Config:
    """A validated configuration; paths are absolute."""

    path: Path
    hostname: str
    public_url: str
    data_dir: Path
    database: DatabaseConfig
    storage: StorageConfig
    keys_dir: Path
    submission: SubmissionConfig
    mx: MXConfig
    web: WebConfig
    delivery: DeliveryConfig
    dns: DNSConfig
    logging: LoggingConfig
    practice: PracticeConfig
    escrow: EscrowConfig
    dkim: DKIMConfig
    contact: ContactConfig
    audit: AuditConfig
    replies: RepliesConfig
    policy: PolicyConfig
    secret_key: str = field(repr=False, default="")


def is_hostname(value: str) -> bool:
    """Return True if *value* is a syntactically valid DNS host name."""
    return bool(_HOSTNAME.match(value))


def find_config_path(explicit: str | None = None) -> Path:
    """Return the configuration path: *explicit*, then ``$CARESEAL_CONFIG``, then ``./careseal.toml``."""
    if explicit:
        return Path(explicit).resolve()
    from_env = os.environ.get("CARESEAL_CONFIG")
    if from_env:
        return Path(from_env).resolve()
    return Path(DEFAULT_CONFIG_NAME).resolve()


def load(path: Path) -> Config:
    """Read and validate the file at *path*; raise :class:`ConfigError` on any problem."""
    return parse(_read(path), path)


def load_storage(path: Path) -> StorageConfig:
    """Read only the [storage] table of the file at *path*, ignoring CARESEAL_STORAGE_URL."""
    raw = _read(path)
    return _storage(_table(raw, "storage"), path.parent.resolve(), environment=False)


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("config", f"file not found: {path} (create one with 'careseal init')") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError("config", f"invalid TOML in {path}: {error}") from None
    except UnicodeDecodeError as error:
        raise ConfigError("config", f"{path} is not UTF-8: {error}") from None
    except OSError as error:
        raise ConfigError("config", f"cannot read {path}: {error.strerror}") from None
    return raw


def parse(raw: dict[str, Any], path: Path) -> Config:
    """Validate a decoded TOML document; relative paths resolve against *path*'s folder."""
    base = path.parent.resolve()
    _reject_unknown(raw, "", {
        "hostname", "public_url", "data_dir", "secret_key_file", "database", "storage", "keys",
        "submission", "mx", "web", "delivery", "dns", "logging", "practice", "escrow", "dkim",
        "contact", "audit", "replies", "policy",
    })

    hostname = _hostname(_get(raw, "hostname", str, required=True), "hostname")
    public_url = _get(raw, "public_url", str, default=f"https://{hostname}")
    if urlsplit(public_url).scheme not in ("http", "https"):
        raise ConfigError("public_url", f"must be an http or https URL, got {public_url!r}")
    data_dir = _path(base, _get(raw, "data_dir", str, default="."))

    secret_key_file = _path(base, _get(raw, "secret_key_file", str, default="keys/secret_key"))
    secret_key = ""
    if secret_key_file.exists():
        secret_key = secret_key_file.read_text(encoding="ascii").strip()

    return Config(
        path=path.resolve(),
        hostname=hostname,
        public_url=public_url.rstrip("/"),
        data_dir=data_dir,
        database=_database(_table(raw, "database"), base),
        storage=_storage(_table(raw, "storage"), base),
        keys_dir=_path(base, _get(_table(raw, "keys"), "dir", str, default="keys", key="keys.dir")),
        submission=_submission(_table(raw, "submission"), base),
        mx=_mx(_table(raw, "mx"), hostname),
        web=WebConfig(listen=_endpoint(
            _get(_table(raw, "web"), "listen", str, default="127.0.0.1:8025", key="web.listen"),
            "web.listen")),
        delivery=_delivery(_table(raw, "delivery"), base),
        dns=_dns(_table(raw, "dns")),
        logging=_logging(_table(raw, "logging")),
        practice=_practice(_table(raw, "practice"), hostname),
        escrow=_escrow(_table(raw, "escrow")),
        dkim=_dkim(_table(raw, "dkim"), base, hostname),
        contact=_contact(_table(raw, "contact")),
        audit=_audit(_table(raw, "audit")),
        replies=_replies(_table(raw, "replies")),
        policy=_policy(_table(raw, "policy")),
        secret_key=secret_key,
    )


def _database(table: dict[str, Any], base: Path) -> DatabaseConfig:
    _reject_unknown(table, "database", {"url"})
    url = os.environ.get("CARESEAL_DATABASE_URL") or _get(
        table, "url", str, default="sqlite:careseal.db", key="database.url")
    return parse_database_url(url, base)


def parse_database_url(url: str, base: Path) -> DatabaseConfig:
    """Parse ``sqlite:///path`` (relative to *base* unless absolute) or ``postgresql://...``."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # sqlite:///var/lib/careseal/careseal.db is absolute; sqlite:careseal.db is
        # relative to the configuration file's folder.
        if not parts.path or parts.netloc:
            raise ConfigError("database.url", f"expected sqlite:///absolute/path or sqlite:relative/path, got {url!r}")
        return DatabaseConfig(url=url, engine="sqlite", name=str(_path(base, parts.path)))
    if parts.scheme in ("postgresql", "postgres"):
        name = parts.path.lstrip("/")
        if not name:
            raise ConfigError("database.url", f"PostgreSQL URL has no database name: {_redact(url)}")
        try:
            port = parts.port
        except ValueError:
            raise ConfigError("database.url", f"invalid port in {_redact(url)}") from None
        return DatabaseConfig(
            url=url, engine="postgresql", name=unquote(name),
            user=unquote(parts.username or ""), password=unquote(parts.password or ""),
            host=parts.hostname or "", port=port,
        )
    raise ConfigError("database.url", f"unsupported scheme {parts.scheme!r}: use sqlite:// or postgresql://")


# Bucket names as S3 accepts them today: 3 to 63 lowercase letters, digits,
# dots and hyphens, starting and ending with a letter or digit.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9._/-]{1,512}$")
_REGION = re.compile(r"[a-z0-9-]{1,64}")
_ACCESS_KEY = re.compile(r"[!-~]{1,256}")
_S3_KEYS = {"endpoint_url", "region", "access_key_id", "secret_access_key_file", "ca_file", "addressing_style"}


def _storage(table: dict[str, Any], base: Path, environment: bool = True) -> StorageConfig:
    """Validate the [storage] table; with *environment*, CARESEAL_STORAGE_URL overrides its url."""
    _reject_unknown(table, "storage", {"url", "min_free_mb"} | _S3_KEYS)
    url_override = os.environ.get("CARESEAL_STORAGE_URL", "") if environment else ""
    url = url_override or _get(table, "url", str, default="file:blobs", key="storage.url")
    min_free = _get(table, "min_free_mb", int, default=100, key="storage.min_free_mb")
    if min_free < 0:
        raise ConfigError("storage.min_free_mb", "must be 0 or more")
    parts = urlsplit(url)
    if parts.scheme == "s3":
        return StorageConfig(url=url, path=None, min_free_bytes=0, s3=_s3(table, base, url))
    if parts.scheme != "file":
        raise ConfigError("storage.url", f"unsupported scheme {parts.scheme!r}: use file: or s3://")
    if not parts.path or parts.netloc:
        raise ConfigError("storage.url", f"expected file:///absolute/path or file:relative/path, got {url!r}")
    stray = sorted(_S3_KEYS & table.keys())
    if stray and not url_override:
        # With CARESEAL_STORAGE_URL naming local files, the file's S3 keys are simply not used.
        raise ConfigError(f"storage.{stray[0]}", "applies to s3:// storage only")
    return StorageConfig(url=url, path=_path(base, parts.path), min_free_bytes=min_free * 1024 * 1024)


def _s3(table: dict[str, Any], base: Path, url: str) -> S3Config:
    parts = urlsplit(url)
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise ConfigError("storage.url", "expected s3://bucket or s3://bucket/prefix; "
                                         "set credentials with access_key_id and secret_access_key_file")
    bucket = parts.netloc
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ConfigError("storage.url", f"invalid bucket name {bucket!r}: use 3 to 63 lowercase letters, "
                                         "digits, dots and hyphens")
    prefix = parts.path.strip("/")
    if prefix and (not _PREFIX.match(prefix) or any(part in ("", ".", "..") for part in prefix.split("/"))):
        raise ConfigError("storage.url", f"invalid key prefix {parts.path!r}: use letters, digits, "
                                         "'.', '_', '-' and '/' between names")

    endpoint_url = _s3_endpoint(_get(table, "endpoint_url", str, default="", key="storage.endpoint_url"))
    region = _get(table, "region", str, default="", key="storage.region")
    if region and not _REGION.fullmatch(region):
        raise ConfigError("storage.region", f"invalid region {region!r}: use letters, digits and hyphens")
    access_key_id = _get(table, "access_key_id", str, default="", key="storage.access_key_id")
    if access_key_id and not _ACCESS_KEY.fullmatch(access_key_id):
        raise ConfigError("storage.access_key_id", "must be printable ASCII without spaces")
    secret_file_raw = _get(table, "secret_access_key_file", str, default="", key="storage.secret_access_key_file")
    secret = ""
    if bool(access_key_id) != bool(secret_file_raw):
        raise ConfigError("storage.secret_access_key_file" if access_key_id else "storage.access_key_id",
                          "set both access_key_id and secret_access_key_file, or neither")
    if secret_file_raw:
        secret = _read_secret(_path(base, secret_file_raw), "storage.secret_access_key_file")

    ca_file_raw = _get(table, "ca_file", str, default="", key="storage.ca_file")
    ca_file = _path(base, ca_file_raw) if ca_file_raw else None
    if ca_file is not None and not ca_file.is_file():
        raise ConfigError("storage.ca_file", f"file not found: {ca_file}")

    addressing_style = _get(table, "addressing_style", str, default="auto", key="storage.addressing_style")
    if addressing_style not in ("auto", "path", "virtual"):
        raise ConfigError("storage.addressing_style", f"expected auto, path or virtual, got {addressing_style!r}")
    return S3Config(
        bucket=bucket, prefix=prefix, endpoint_url=endpoint_url, region=region,
        access_key_id=access_key_id, secret_access_key=secret, ca_file=ca_file,
        addressing_style=addressing_style,
    )


def _s3_endpoint(value: str) -> str:
    """Return *value* if it is a usable S3 endpoint URL; raise ConfigError naming storage.endpoint_url."""
    if not value:
        return ""
    key = "storage.endpoint_url"
    redacted = _redact(value)
    endpoint = urlsplit(value)
    if endpoint.username is not None or endpoint.password is not None:
        raise ConfigError(key, f"{redacted} contains credentials; set access_key_id and secret_access_key_file instead")
    if (endpoint.scheme not in ("http", "https") or not endpoint.hostname or endpoint.path.strip("/")
            or endpoint.query or endpoint.fragment or not value.isascii() or value != value.strip()):
        raise ConfigError(key, f"expected https://host or https://host:port, got {redacted!r}")
    try:
        _ = endpoint.port  # parsed on access
    except ValueError:
        raise ConfigError(key, f"invalid port in {redacted!r}") from None
    if not _HOSTNAME.match(endpoint.hostname) and not _is_ip(endpoint.hostname):
        raise ConfigError(key, f"invalid host name in {redacted!r}")
    if endpoint.scheme == "http" and not _is_loopback(endpoint.hostname):
        # Blobs are sealed, but over plain HTTP an attacker on the path could delete or replace them.
        raise ConfigError(key, f"plain http is allowed for loopback endpoints only; use https for {redacted!r}")
    return value


def _read_secret(path: Path, key: str, limit: int = 4096) -> str:
    """Return the stripped text of the regular file *path*, refusing anything else or anything longer than *limit*."""
    try:
        # Checked before opening, because opening a FIFO for reading would block.
        if not stat.S_ISREG(path.stat().st_mode):
            raise ConfigError(key, f"{path} is not a regular file")
        with path.open("rb") as handle:
            raw = handle.read(limit + 1)
    except OSError as error:
        raise ConfigError(key, f"cannot read {path}: {error.strerror}") from None
    if len(raw) > limit:
        raise ConfigError(key, f"{path} is longer than {limit} bytes; it should hold the secret alone")
    try:
        secret = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(key, f"cannot read {path}: not UTF-8 text") from None
    if not secret:
        raise ConfigError(key, f"{path} is empty")
    return secret


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    return host == "localhost" or (_is_ip(host) and ipaddress.ip_address(host).is_loopback)


def _submission(table: dict[str, Any], base: Path) -> SubmissionConfig:
    _reject_unknown(table, "submission", {"listen", "tls_cert", "tls_key", "max_message_size", "max_recipients"})
    listen = _endpoint(_get(table, "listen", str, default="0.0.0.0:587", key="submission.listen"),
                       "submission.listen")
    cert = _path(base, _get(table, "tls_cert", str, default="tls/submission.crt", key="submission.tls_cert"))
    key = _path(base, _get(table, "tls_key", str, default="tls/submission.key", key="submission.tls_key"))
    size = _size(table.get("max_message_size", "25M"), "submission.max_message_size")
    recipients = _get(table, "max_recipients", int, default=100, key="submission.max_recipients")
    if recipients < 1:
        raise ConfigError("submission.max_recipients", "must be at least 1")
    return SubmissionConfig(listen=listen, tls_cert=cert, tls_key=key,
                            max_message_size=size, max_recipients=recipients)


def _mx(table: dict[str, Any], hostname: str) -> MXConfig:
    _reject_unknown(table, "mx", {"listen", "domains"})
    listen = _endpoint(_get(table, "listen", str, default="0.0.0.0:25", key="mx.listen"), "mx.listen")
    domains = _get(table, "domains", list, default=[hostname], key="mx.domains")
    checked = tuple(_hostname(_item(d, str, f"mx.domains[{i}]"), f"mx.domains[{i}]").lower()
                    for i, d in enumerate(domains))
    return MXConfig(listen=listen, domains=checked)


def _delivery(table: dict[str, Any], base: Path) -> DeliveryConfig:
    _reject_unknown(table, "delivery", {
        "policy", "ca_file", "routes", "port", "concurrency", "retry_schedule",
        "max_queue_age", "lease", "timeout", "mta_sts", "keep_content",
    })
    policy = _get(table, "policy", str, default="tls-or-escrow", key="delivery.policy")
    if policy in PLANNED_POLICIES:
        raise ConfigError("delivery.policy", f"{policy!r} is not available in this version; use one of "
                          f"{', '.join(POLICIES)}")
    if policy not in POLICIES:
        raise ConfigError("delivery.policy", f"unknown policy {policy!r}; expected one of {', '.join(POLICIES)}")

    ca_file_raw = _get(table, "ca_file", str, default="", key="delivery.ca_file")
    ca_file = _path(base, ca_file_raw) if ca_file_raw else None
    if ca_file is not None and not ca_file.is_file():
        raise ConfigError("delivery.ca_file", f"file not found: {ca_file}")

    routes_raw = _get(table, "routes", dict, default={}, key="delivery.routes")
    routes: dict[str, Endpoint] = {}
    port = _port(_get(table, "port", int, default=25, key="delivery.port"), "delivery.port", connect=True)
    for domain, target in routes_raw.items():
        key = f'delivery.routes."{domain}"'
        _hostname(domain, key)
        route = _endpoint(_item(target, str, key), key, default_port=port)
        _port(route.port, key, connect=True)
        _host(route.host, key)
        routes[domain.lower().rstrip(".")] = route

    schedule_raw = _get(table, "retry_schedule", list, default=list(DEFAULT_RETRY_SCHEDULE),
                        key="delivery.retry_schedule")
    if not schedule_raw:
        raise ConfigError("delivery.retry_schedule", "must list at least one delay")
    schedule = tuple(_duration(v, f"delivery.retry_schedule[{i}]") for i, v in enumerate(schedule_raw))

    concurrency = _get(table, "concurrency", int, default=8, key="delivery.concurrency")
    if not 1 <= concurrency <= 512:
        raise ConfigError("delivery.concurrency", "must be between 1 and 512")
    return DeliveryConfig(
        policy=policy, ca_file=ca_file, routes=routes, port=port, concurrency=concurrency,
        retry_schedule=schedule,
        max_queue_age=_duration(table.get("max_queue_age", DEFAULT_MAX_QUEUE_AGE), "delivery.max_queue_age",
                                minimum=60),
        lease=_duration(table.get("lease", "10m"), "delivery.lease"),
        timeout=_duration(table.get("timeout", "60s"), "delivery.timeout"),
        mta_sts=_get(table, "mta_sts", bool, default=True, key="delivery.mta_sts"),
        keep_content=_duration(table.get("keep_content", "30d"), "delivery.keep_content", minimum=3600),
    )


def _dns(table: dict[str, Any]) -> DNSConfig:
    _reject_unknown(table, "dns", {"nameservers", "timeout"})
    servers = _get(table, "nameservers", list, default=[], key="dns.nameservers")
    endpoints = tuple(_endpoint(_item(s, str, f"dns.nameservers[{i}]"), f"dns.nameservers[{i}]", default_port=53)
                      for i, s in enumerate(servers))
    for i, endpoint in enumerate(endpoints):
        try:
            ipaddress.ip_address(endpoint.host)
        except ValueError:
            raise ConfigError(f"dns.nameservers[{i}]", f"must be an IP address, got {endpoint.host!r}") from None
    timeout = _get(table, "timeout", (int, float), default=5.0, key="dns.timeout")
    if not 0 < timeout <= 60:
        raise ConfigError("dns.timeout", f"must be between 0 and 60 seconds, got {timeout}")
    return DNSConfig(nameservers=endpoints, timeout=float(timeout))


def _practice(table: dict[str, Any], hostname: str) -> PracticeConfig:
    _reject_unknown(table, "practice", {"name", "notices_from"})
    name = _get(table, "name", str, default=hostname, key="practice.name").strip()
    if not name or any(c in name for c in "\r\n"):
        raise ConfigError("practice.name", "must be one non-empty line")
    notices_from = _get(table, "notices_from", str, default=f"no-reply@{hostname}", key="practice.notices_from")
    local, at, domain = notices_from.rpartition("@")
    if not at or not local or not _HOSTNAME.match(domain) or any(c in notices_from for c in " <>\r\n"):
        raise ConfigError("practice.notices_from", f"not a valid address: {notices_from!r}")
    return PracticeConfig(name=name, notices_from=notices_from)


def _escrow(table: dict[str, Any]) -> EscrowConfig:
    _reject_unknown(table, "escrow", {"secure_keyword", "expiry", "default_language", "reminder_before",
                                      "notify_sender_on_open"})
    keyword = _get(table, "secure_keyword", str, default="[secure]", key="escrow.secure_keyword").strip()
    expiry = _duration(table.get("expiry", "30d"), "escrow.expiry")
    if expiry < 3600:
        raise ConfigError("escrow.expiry", "must be at least 1h")
    language = _get(table, "default_language", str, default="en", key="escrow.default_language")
    if language not in LANGUAGES:
        raise ConfigError("escrow.default_language", f"must be one of {', '.join(LANGUAGES)}, got {language!r}")
    reminder = _duration(table.get("reminder_before", "3d"), "escrow.reminder_before", minimum=0)
    if reminder >= expiry:
        raise ConfigError("escrow.reminder_before", "must be shorter than escrow.expiry (0 turns reminders off)")
    notify = _get(table, "notify_sender_on_open", bool, default=False, key="escrow.notify_sender_on_open")
    return EscrowConfig(secure_keyword=keyword, expiry=expiry, default_language=language,
                        reminder_before=reminder, notify_sender_on_open=notify)


def _policy(table: dict[str, Any]) -> PolicyConfig:
    _reject_unknown(table, "policy", {"phi_patterns", "drug_names", "phi_escrow"})
    patterns = _get(table, "phi_patterns", list, default=list(DEFAULT_PHI_PATTERNS), key="policy.phi_patterns")
    for index, pattern in enumerate(patterns):
        key = f"policy.phi_patterns[{index}]"
        try:
            re.compile(_item(pattern, str, key))
        except re.error as error:
            raise ConfigError(key, f"invalid regular expression: {error}") from None
    drugs = _get(table, "drug_names", list, default=[], key="policy.drug_names")
    return PolicyConfig(
        phi_patterns=tuple(patterns),
        drug_names=tuple(_item(d, str, f"policy.drug_names[{i}]").strip() for i, d in enumerate(drugs)),
        phi_escrow=_get(table, "phi_escrow", bool, default=False, key="policy.phi_escrow"),
    )


def _replies(table: dict[str, Any]) -> RepliesConfig:
    _reject_unknown(table, "replies", {"track", "notice", "autoresponse_interval", "switch_to_escrow",
                                       "strip_quoted"})
    return RepliesConfig(
        track=_get(table, "track", bool, default=True, key="replies.track"),
        notice=_get(table, "notice", bool, default=True, key="replies.notice"),
        switch_to_escrow=_get(table, "switch_to_escrow", bool, default=False, key="replies.switch_to_escrow"),
        strip_quoted=_get(table, "strip_quoted", bool, default=False, key="replies.strip_quoted"),
        autoresponse_interval=_duration(table.get("autoresponse_interval", "7d"), "replies.autoresponse_interval",
                                        minimum=3600),
    )


def _audit(table: dict[str, Any]) -> AuditConfig:
    _reject_unknown(table, "audit", {"retention"})
    # HIPAA requires six years of documentation retention (45 CFR 164.316(b)(2)).
    retention = _duration(table.get("retention", "6y"), "audit.retention", minimum=365 * 86400)
    return AuditConfig(retention=retention)


def _contact(table: dict[str, Any]) -> ContactConfig:
    _reject_unknown(table, "contact", {"departments"})
    departments = _get(table, "departments", dict, default={}, key="contact.departments")
    checked: dict[str, str] = {}
    for name, address in departments.items():
        key = f'contact.departments."{name}"'
        _item(address, str, key)
        local, at, domain = address.rpartition("@")
        if not name.strip() or not at or not local or not _HOSTNAME.match(domain) or any(c in address for c in " <>,"):
            raise ConfigError(key, f"expected a department name and one address, got {address!r}")
        checked[name.strip()] = address
    return ContactConfig(departments=checked)


def _dkim(table: dict[str, Any], base: Path, hostname: str) -> DKIMConfig:
    _reject_unknown(table, "dkim", {"domain", "selector", "key_file"})
    domain = _hostname(_get(table, "domain", str, default=hostname, key="dkim.domain"), "dkim.domain")
    selector = _get(table, "selector", str, default="careseal", key="dkim.selector")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}", selector):
        raise ConfigError("dkim.selector", f"not a valid DNS label: {selector!r}")
    key_file = _path(base, _get(table, "key_file", str, default="keys/dkim.key", key="dkim.key_file"))
    return DKIMConfig(domain=domain, selector=selector, key_file=key_file)


def _logging(table: dict[str, Any]) -> LoggingConfig:
    _reject_unknown(table, "logging", {"level", "format"})
    level = _get(table, "level", str, default="INFO", key="logging.level").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("logging.level", f"must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    fmt = _get(table, "format", str, default="text", key="logging.format")
    if fmt not in ("text", "json"):
        raise ConfigError("logging.format", f"must be 'text' or 'json', got {fmt!r}")
    return LoggingConfig(level=level, format=fmt)


# Value helpers


def _table(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(key, "must be a table")
    return value


def _get(table: dict[str, Any], name: str, kind: type | tuple[type, ...], *, default: Any = None,
         required: bool = False, key: str | None = None) -> Any:
    key = key or name
    if name not in table:
        if required:
            raise ConfigError(key, "missing")
        return default
    return _item(table[name], kind, key)


def _item(value: Any, kind: type | tuple[type, ...], key: str) -> Any:
    # bool is an int in Python; a TOML true is never a valid count.
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(key, f"must be {_kind_name(kind)}, got a boolean")
    if not isinstance(value, kind):
        raise ConfigError(key, f"must be {_kind_name(kind)}, got {type(value).__name__}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", list: "an array", dict: "a table"}
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)


def _reject_unknown(table: dict[str, Any], prefix: str, known: set[str]) -> None:
    for name in table:
        if name not in known:
            key = f"{prefix}.{name}" if prefix else name
            raise ConfigError(key, f"unknown key; expected one of {', '.join(sorted(known))}")


def _path(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def _hostname(value: str, key: str) -> str:
    if not _HOSTNAME.match(value):
        raise ConfigError(key, f"not a valid host name: {value!r}")
    return value.rstrip(".")


def _port(value: int, key: str, connect: bool = False) -> int:
    """Check a TCP port; 0 (any free port) is allowed only for listening."""
    lowest = 1 if connect else 0
    if not lowest <= value <= 65535:
        raise ConfigError(key, f"port out of range: {value}")
    return value


def _host(value: str, key: str) -> str:
    """Check that *value* is an IP address or a host name."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if re.fullmatch(r"[\d.]+", value):
            raise ConfigError(key, f"not a valid IP address: {value!r}") from None
        _hostname(value, key)
    return value


def _endpoint(value: str, key: str, default_port: int | None = None) -> Endpoint:
    """Parse ``host:port``, ``[v6]:port`` or, with *default_port*, a bare host."""
    text = value.strip()
    host, sep, port_text = text.rpartition(":")
    if text.startswith("[") and "]" in text:
        closing = text.index("]")
        host, rest = text[1:closing], text[closing + 1:]
        sep, port_text = (":", rest[1:]) if rest.startswith(":") else ("", "")
    elif not sep or ":" in host:
        host, port_text = text, ""
    if not host:
        raise ConfigError(key, f"missing host in {value!r}")
    _host(host, key)
    if not port_text:
        if default_port is None:
            raise ConfigError(key, f"missing port in {value!r}; write host:port")
        return Endpoint(host, default_port)
    if not port_text.isdigit():
        raise ConfigError(key, f"invalid port in {value!r}")
    return Endpoint(host, _port(int(port_text), key))


def _duration(value: Any, key: str, minimum: int = 1) -> int:
    """Convert ``300``, ``"300s"``, ``"5m"``, ``"1h"`` or ``"5d"`` to seconds, at least *minimum*."""
    seconds: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds is None:
        raise ConfigError(key, f"invalid duration {value!r}; write seconds or a number with s, m, h, d or y")
    if seconds < minimum:
        raise ConfigError(key, f"must be at least {minimum} seconds, got {value!r}")
    return seconds


def _size(value: Any, key: str) -> int:
    """Convert ``1048576``, ``"512K"``, ``"25M"`` or ``"1G"`` to bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        match = re.match(r"^\s*(\d+)\s*([KMG]?)B?\s*$", value, re.IGNORECASE)
        if match and int(match.group(1)) > 0:
            return int(match.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[match.group(2).upper()]
    raise ConfigError(key, f"invalid size {value!r}; write bytes or a number with K, M or G")


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
