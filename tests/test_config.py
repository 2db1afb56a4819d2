"""Loading and validating the TOML configuration file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from careseal import config
from careseal.config import ConfigError, Endpoint

MINIMAL = 'hostname = "gateway.test"\n'


@pytest.fixture
def no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clear the environment variables that override the file's database and storage URLs."""
    monkeypatch.delenv("CARESEAL_DATABASE_URL", raising=False)
    monkeypatch.delenv("CARESEAL_STORAGE_URL", raising=False)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "careseal.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_minimal_defaults(tmp_path: Path, no_overrides: None) -> None:
    loaded = config.load(write(tmp_path, MINIMAL))

    assert loaded.hostname == "gateway.test"
    assert loaded.delivery.policy == "tls-or-escrow"
    assert loaded.submission.listen == Endpoint("0.0.0.0", 587)  # noqa: S104 (a compared default, not a bind)
    assert loaded.delivery.retry_schedule == (300, 600, 1200, 2400, 3600)
    assert loaded.delivery.max_queue_age == 432000
    assert loaded.submission.max_message_size == 25 * 1024 * 1024


def test_parse_minimal_dict(tmp_path: Path, no_overrides: None) -> None:
    parsed = config.parse({"hostname": "gateway.test"}, tmp_path / "careseal.toml")

    assert parsed.path == (tmp_path / "careseal.toml").resolve()
    assert parsed.delivery.policy == "tls-or-escrow"


def test_load_relative_urls_resolve_against_folder(tmp_path: Path, no_overrides: None) -> None:
    path = write(tmp_path, MINIMAL + (
        '[database]\nurl = "sqlite:data/careseal.db"\n'
        '[storage]\nurl = "file:blobs"\n'
    ))

    loaded = config.load(path)

    base = tmp_path.resolve()
    assert loaded.database.engine == "sqlite"
    assert loaded.database.name == str(base / "data" / "careseal.db")
    assert loaded.storage.path == base / "blobs"


def test_load_absolute_urls_stay_absolute(tmp_path: Path, no_overrides: None) -> None:
    path = write(tmp_path, MINIMAL + (
        '[database]\nurl = "sqlite:///var/lib/x.db"\n'
        '[storage]\nurl = "file:///var/lib/careseal/blobs"\n'
    ))

    loaded = config.load(path)

    assert loaded.database.name == "/var/lib/x.db"
    assert loaded.storage.path == Path("/var/lib/careseal/blobs")


def test_load_postgresql_url(tmp_path: Path, no_overrides: None) -> None:
    path = write(tmp_path, MINIMAL + (
        '[database]\nurl = "postgresql://careseal:s3cret@db.clinic.test:5433/careseal_prod"\n'
    ))

    database = config.load(path).database

    assert database.engine == "postgresql"
    assert database.user == "careseal"
    assert database.password == "s3cret"
    assert database.host == "db.clinic.test"
    assert database.port == 5433
    assert database.name == "careseal_prod"


def test_load_postgresql_url_decodes_password(tmp_path: Path, no_overrides: None) -> None:
    path = write(tmp_path, MINIMAL + '[database]\nurl = "postgresql://care%2Bseal:p%40ss%3Aword@db.clinic.test/careseal"\n')

    database = config.load(path).database

    assert database.user == "care+seal"
    assert database.password == "p@ss:word"


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARESEAL_DATABASE_URL", "postgresql://env@db.clinic.test/from_env")
    monkeypatch.setenv("CARESEAL_STORAGE_URL", "file:///srv/careseal/blobs")
    path = write(tmp_path, MINIMAL + (
        '[database]\nurl = "sqlite:careseal.db"\n'
        '[storage]\nurl = "file:blobs"\n'
    ))

    loaded = config.load(path)

    assert loaded.database.engine == "postgresql"
    assert loaded.database.name == "from_env"
    assert loaded.storage.path == Path("/srv/careseal/blobs")


def test_load_ipv6_listen(tmp_path: Path, no_overrides: None) -> None:
    path = write(tmp_path, MINIMAL + '[submission]\nlisten = "[::1]:2525"\n')

    listen = config.load(path).submission.listen

    assert listen.host == "::1"
    assert listen.port == 2525


INVALID = [
    pytest.param("", "hostname", "missing", id="missing-hostname"),
    pytest.param(MINIMAL + "smtp_port = 25\n", "smtp_port", "unknown key", id="unknown-top-level-key"),
    pytest.param(MINIMAL + "[delivery]\nretries = 3\n", "delivery.retries", "unknown key",
                 id="unknown-delivery-key"),
    pytest.param(MINIMAL + '[delivery]\nlease = "0s"\n', "delivery.lease", "at least", id="lease-zero"),
    pytest.param(MINIMAL + '[delivery]\nport = 0\n', "delivery.port", "out of range", id="delivery-port-zero"),
    pytest.param(MINIMAL + '[delivery.routes]\n"x.test" = "not a host!:25"\n', 'delivery.routes."x.test"',
                 "not a valid host name", id="route-bad-host"),
    pytest.param(MINIMAL + '[dns]\ntimeout = -1.0\n', "dns.timeout", "between", id="dns-timeout-negative"),
    pytest.param(MINIMAL + '[submission]\nlisten = "127.0.0.300:587"\n', "submission.listen",
                 "not a valid IP address", id="listen-bad-address"),
    pytest.param(MINIMAL + '[delivery]\npolicy = "plaintext"\n', "delivery.policy", "unknown policy",
                 id="policy-plaintext"),
    pytest.param(MINIMAL + '[delivery.routes]\n"hospital.test" = "relay.clinic.test:smtp"\n',
                 'delivery.routes."hospital.test"', "invalid port", id="route-invalid-endpoint"),
    pytest.param(MINIMAL + '[submission]\nlisten = "127.0.0.1"\n', "submission.listen", "missing port",
                 id="listen-without-port"),
    pytest.param(MINIMAL + '[web]\nlisten = "127.0.0.1:70000"\n', "web.listen", "port out of range",
                 id="listen-port-70000"),
    pytest.param(MINIMAL + "[delivery]\nretry_schedule = []\n", "delivery.retry_schedule",
                 "at least one delay", id="retry-schedule-empty"),
    pytest.param(MINIMAL + '[delivery]\nretry_schedule = ["5 minutes"]\n', "delivery.retry_schedule[0]",
                 "invalid duration", id="retry-schedule-words"),
    pytest.param(MINIMAL + "[delivery]\nconcurrency = 0\n", "delivery.concurrency", "between 1 and 512",
                 id="concurrency-zero"),
    pytest.param(MINIMAL + "[submission]\nmax_recipients = true\n", "submission.max_recipients",
                 "got a boolean", id="max-recipients-boolean"),
    pytest.param(MINIMAL + '[dns]\nnameservers = ["resolver.clinic.test"]\n', "dns.nameservers[0]",
                 "must be an IP address", id="nameserver-host-name"),
    pytest.param(MINIMAL + '[delivery]\nca_file = "missing-ca.pem"\n', "delivery.ca_file", "file not found",
                 id="ca-file-missing"),
    pytest.param(MINIMAL + '[logging]\nformat = "xml"\n', "logging.format", "must be 'text' or 'json'",
                 id="logging-format-xml"),
    pytest.param(MINIMAL + '[database]\nurl = "mysql://x/y"\n', "database.url", "unsupported scheme",
                 id="database-mysql"),
    pytest.param(MINIMAL + "[delivery\n", "config", "invalid TOML", id="invalid-toml"),
]


@pytest.mark.parametrize(("text", "key", "problem"), INVALID)
def test_load_invalid_value(tmp_path: Path, no_overrides: None, text: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config.load(write(tmp_path, text))

    assert raised.value.key == key
    assert problem in raised.value.problem


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        config.load(tmp_path / "absent.toml")

    assert raised.value.key == "config"
    assert "file not found" in raised.value.problem


@pytest.mark.parametrize("url", [
    pytest.param("postgresql://db.clinic.test:70000/careseal", id="port-70000"),
    pytest.param("postgresql://db.clinic.test:pg/careseal", id="port-not-a-number"),
])
def test_load_postgresql_invalid_port(tmp_path: Path, no_overrides: None, url: str) -> None:
    path = write(tmp_path, MINIMAL + f'[database]\nurl = "{url}"\n')

    with pytest.raises(ConfigError) as raised:
        config.load(path)

    assert raised.value.key == "database.url"


def test_load_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "careseal.toml"
    path.write_bytes(b'hostname = "gateway.test"\n# caf\xe9 in Latin-1\n')

    with pytest.raises(ConfigError) as raised:
        config.load(path)

    assert raised.value.key == "config"


def test_load_s3_storage(tmp_path: Path, no_overrides: None) -> None:
    (tmp_path / "s3.secret").write_text("the-secret\n")
    (tmp_path / "ca.pem").write_text("a CA file\n")
    path = write(tmp_path, MINIMAL + (
        '[storage]\nurl = "s3://clinic-blobs/careseal/sealed/"\nendpoint_url = "https://s3.clinic.test:9000"\n'
        'region = "eu-west-1"\naccess_key_id = "AKIDEXAMPLE"\nsecret_access_key_file = "s3.secret"\n'
        'ca_file = "ca.pem"\naddressing_style = "path"\n'
    ))

    storage = config.load(path).storage

    assert storage.path is None
    assert storage.s3 == config.S3Config(
        bucket="clinic-blobs", prefix="careseal/sealed", endpoint_url="https://s3.clinic.test:9000",
        region="eu-west-1", access_key_id="AKIDEXAMPLE", secret_access_key="the-secret",
        ca_file=tmp_path.resolve() / "ca.pem", addressing_style="path")
    assert "the-secret" not in repr(storage)


def test_s3_storage_without_credentials_leaves_them_to_boto3(tmp_path: Path, no_overrides: None) -> None:
    storage = config.load(write(tmp_path, MINIMAL + '[storage]\nurl = "s3://clinic-blobs"\n')).storage

    assert storage.s3 is not None
    assert (storage.s3.prefix, storage.s3.access_key_id, storage.s3.endpoint_url) == ("", "", "")


def test_environment_switches_storage_to_s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARESEAL_STORAGE_URL", "s3://from-env/blobs")
    path = write(tmp_path, MINIMAL + '[storage]\nurl = "file:blobs"\nmin_free_mb = 100\n')

    storage = config.load(path).storage

    assert storage.s3 is not None
    assert (storage.s3.bucket, storage.s3.prefix) == ("from-env", "blobs")


S3_INVALID = [
    pytest.param('url = "s3://Clinic_Blobs"', "storage.url", "invalid bucket name", id="bucket-uppercase"),
    pytest.param('url = "s3://ab"', "storage.url", "invalid bucket name", id="bucket-too-short"),
    pytest.param('url = "s3://clinic..blobs"', "storage.url", "invalid bucket name", id="bucket-double-dot"),
    pytest.param('url = "s3://key:secret@clinic-blobs"', "storage.url", "access_key_id", id="credentials-in-url"),
    pytest.param('url = "s3://clinic-blobs/a/../b"', "storage.url", "invalid key prefix", id="prefix-dot-dot"),
    pytest.param('url = "s3://clinic-blobs/a b"', "storage.url", "invalid key prefix", id="prefix-space"),
    pytest.param('url = "s3://clinic-blobs?region=x"', "storage.url", "expected s3://bucket", id="query"),
    pytest.param('url = "gs://clinic-blobs"', "storage.url", "unsupported scheme", id="other-scheme"),
    pytest.param('url = "s3://clinic-blobs"\nendpoint_url = "s3.clinic.test"', "storage.endpoint_url",
                 "expected https://host", id="endpoint-without-scheme"),
    pytest.param('url = "s3://clinic-blobs"\nendpoint_url = "https://s3.clinic.test/bucket"',
                 "storage.endpoint_url", "expected https://host", id="endpoint-with-path"),
    pytest.param('url = "s3://clinic-blobs"\naccess_key_id = "AKID"', "storage.secret_access_key_file",
                 "set both", id="key-without-secret"),
    pytest.param('url = "s3://clinic-blobs"\naccess_key_id = "AKID"\nsecret_access_key_file = "absent"',
                 "storage.secret_access_key_file", "cannot read", id="secret-file-missing"),
    pytest.param('url = "s3://clinic-blobs"\nca_file = "absent.pem"', "storage.ca_file", "file not found",
                 id="ca-file-missing"),
    pytest.param('url = "s3://clinic-blobs"\naddressing_style = "dns"', "storage.addressing_style",
                 "expected auto, path or virtual", id="addressing-style"),
    pytest.param('url = "file:blobs"\nendpoint_url = "https://s3.clinic.test"', "storage.endpoint_url",
                 "s3:// storage only", id="s3-key-with-file-storage"),
    pytest.param('url = "s3://clinic-blobs"\nbucket = "x"', "storage.bucket", "unknown key", id="unknown-key"),
]


@pytest.mark.parametrize(("table", "key", "problem"), S3_INVALID)
def test_load_invalid_s3_storage(tmp_path: Path, no_overrides: None, table: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config.load(write(tmp_path, MINIMAL + f"[storage]\n{table}\n"))

    assert raised.value.key == key
    assert problem in raised.value.problem


def test_empty_s3_secret_file_is_refused(tmp_path: Path, no_overrides: None) -> None:
    (tmp_path / "s3.secret").write_text("\n")
    path = write(tmp_path, MINIMAL + (
        '[storage]\nurl = "s3://clinic-blobs"\naccess_key_id = "AKID"\nsecret_access_key_file = "s3.secret"\n'))

    with pytest.raises(ConfigError, match="is empty"):
        config.load(path)


S3_ENDPOINT_INVALID = [
    pytest.param('"https://admin:TopSecretPw@s3.clinic.test"', "contains credentials", id="userinfo"),
    pytest.param('"https://s3.clinic.test:70000"', "invalid port", id="port-out-of-range"),
    pytest.param('"https://s3.clinic.test:abc"', "invalid port", id="port-not-a-number"),
    pytest.param('"https://s3.clinic.test/?x=1"', "expected https://host", id="query"),
    pytest.param('"https://s3.clinic.test#frag"', "expected https://host", id="fragment"),
    pytest.param('"https://s3.clinic.test "', "expected https://host", id="trailing-space"),
    pytest.param('"https://s3.klínik.test"', "expected https://host", id="non-ascii-host"),
    pytest.param('"https://s3_clinic!.test"', "invalid host name", id="bad-host"),
    pytest.param('"http://s3.clinic.test:9000"', "plain http is allowed for loopback endpoints only",
                 id="plain-http-remote"),
]


@pytest.mark.parametrize(("endpoint", "problem"), S3_ENDPOINT_INVALID)
def test_invalid_s3_endpoint(tmp_path: Path, no_overrides: None, endpoint: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config.load(write(tmp_path, MINIMAL + f'[storage]\nurl = "s3://clinic-blobs"\nendpoint_url = {endpoint}\n'))

    assert raised.value.key == "storage.endpoint_url"
    assert problem in raised.value.problem
    assert "TopSecretPw" not in str(raised.value)


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9000", "http://localhost:9000", "http://[::1]:9000",
                                      "https://s3.eu-west-1.amazonaws.com", "https://10.0.0.5:9000"])
def test_valid_s3_endpoints(tmp_path: Path, no_overrides: None, endpoint: str) -> None:
    path = write(tmp_path, MINIMAL + f'[storage]\nurl = "s3://clinic-blobs"\nendpoint_url = "{endpoint}"\n')

    assert config.load(path).storage.s3.endpoint_url == endpoint  # type: ignore[union-attr]


@pytest.mark.parametrize(("key", "value"), [
    ("access_key_id", '"careseal:gateway\\r\\nX: y"'),
    ("access_key_id", '"with space"'),
    ("region", '"us-east-1\\n"'),
    ("region", '"EU West"'),
])
def test_header_breaking_s3_values_rejected(tmp_path: Path, no_overrides: None, key: str, value: str) -> None:
    (tmp_path / "s3.secret").write_text("secret\n")
    extra = 'secret_access_key_file = "s3.secret"\n' if key == "access_key_id" else ""
    path = write(tmp_path, MINIMAL + f'[storage]\nurl = "s3://clinic-blobs"\n{key} = {value}\n{extra}')

    with pytest.raises(ConfigError) as raised:
        config.load(path)

    assert raised.value.key == f"storage.{key}"


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "directory"])
def test_secret_file_must_be_small_regular_file(tmp_path: Path, no_overrides: None, special: str) -> None:
    if special == "fifo":
        target = tmp_path / "secret.fifo"
        os.mkfifo(target)
    elif special == "directory":
        target = tmp_path / "secret.d"
        target.mkdir()
    else:
        target = Path(special)
    path = write(tmp_path, MINIMAL + (
        f'[storage]\nurl = "s3://clinic-blobs"\naccess_key_id = "AKID"\nsecret_access_key_file = "{target}"\n'))

    with pytest.raises(ConfigError) as raised:
        config.load(path)

    assert raised.value.key == "storage.secret_access_key_file"


def test_oversized_secret_file_rejected(tmp_path: Path, no_overrides: None) -> None:
    (tmp_path / "s3.secret").write_text("x" * 5000)
    path = write(tmp_path, MINIMAL + (
        '[storage]\nurl = "s3://clinic-blobs"\naccess_key_id = "AKID"\nsecret_access_key_file = "s3.secret"\n'))

    with pytest.raises(ConfigError, match="longer than 4096 bytes"):
        config.load(path)


def test_environment_file_url_ignores_s3_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARESEAL_STORAGE_URL", "file:blobs")
    path = write(tmp_path, MINIMAL + '[storage]\nurl = "s3://clinic-blobs"\nendpoint_url = "https://s3.clinic.test"\n')

    storage = config.load(path).storage

    assert storage.s3 is None
    assert storage.path == tmp_path.resolve() / "blobs"
