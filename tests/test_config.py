"""Loading and validating the TOML configuration file."""

from __future__ import annotations

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
