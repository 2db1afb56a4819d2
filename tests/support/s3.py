"""Run OpenStack Swift with its S3 API on loopback, as a real S3-compatible server.

``SwiftS3`` builds one-replica rings for a single device in a folder of the
test's own. It starts memcached, which Swift's S3 authentication needs, and
the account, container, object and proxy servers. The proxy serves S3 over
HTTPS with a certificate from the test CA. The proxy's tempauth middleware
defines the one account, whose S3 access key is ``ACCOUNT:USER``. Written for Swift 2.30
(Debian's ``swift-proxy``, ``swift-account``, ``swift-container`` and
``swift-object`` packages) and Debian's ``memcached``.

Swift reads its hash prefix and suffix from ``/etc/swift/swift.conf``, which
the ``swift`` package installs. Everything else stays in the folder.
"""

from __future__ import annotations

import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import boto3
import trustme
from botocore.config import Config

from tests.support.gateway import Gateway
from tests.support.sinks import free_ports

HOST = "127.0.0.1"
ACCESS_KEY_ID = "careseal:gateway"
SECRET_ACCESS_KEY = "s3cret-for-tests-only"
START_TIMEOUT = 20.0  # seconds allowed for the proxy to respond
SERVERS = ("account", "container", "object")
SWIFT_PYTHON = "/usr/bin/python3"  # the interpreter Debian's python3-swift is installed for


def available() -> str | None:
    """Return why Swift cannot run here, or None when it can."""
    for program in (SWIFT_PYTHON, "swift-proxy-server", "swift-object-server", "memcached"):
        if shutil.which(program) is None:
            return f"{program} is not installed (Debian packages swift-proxy, swift-account, " \
                   "swift-container, swift-object and memcached)"
    if not Path("/etc/swift/swift.conf").is_file():
        return "/etc/swift/swift.conf is missing (Debian package swift)"
    return None


class SwiftS3:
    """Swift's S3 API on ``https://127.0.0.1:PORT``, with data in *directory*."""

    def __init__(self, directory: Path, ca: trustme.CA) -> None:
        self.directory = directory
        self.ca = ca
        self.ca_file = directory / "ca.pem"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.port = 0
        self._memcached_port = 0
        self._server_ports: dict[str, int] = {}

    @property
    def endpoint_url(self) -> str:
        return f"https://{HOST}:{self.port}"

    def start(self) -> None:
        reason = available()
        if reason:
            raise RuntimeError(reason)
        devices = self.directory / "devices"
        (devices / "d1").mkdir(parents=True, exist_ok=True)
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        leaf = self.ca.issue_cert(HOST)
        leaf.cert_chain_pems[0].write_to_path(str(self.directory / "proxy.crt"))
        leaf.private_key_pem.write_to_path(str(self.directory / "proxy.key"))

        ports = free_ports(5)
        self._server_ports = dict(zip(SERVERS, ports[:3], strict=True))
        self.port, self._memcached_port = ports[3], ports[4]
        # One Python run builds the three rings (2**4 partitions, one replica, one device each);
        # swift-ring-builder would need three runs per ring.
        rings = "".join(
            f"b = RingBuilder(4, 1, 1); b.add_dev({{'region': 1, 'zone': 1, 'ip': '{HOST}', 'port': {port}, "
            f"'device': 'd1', 'weight': 1}}); b.rebalance(); b.get_ring().save('{self.directory}/{server}.ring.gz')\n"
            for server, port in self._server_ports.items())
        subprocess.run([SWIFT_PYTHON, "-c", f"from swift.common.ring import RingBuilder\n{rings}"],
                       check=True, capture_output=True)
        for server, port in self._server_ports.items():
            self._write_server_config(server, port, devices)
        self._write_proxy_config()

        self._spawn("memcached", ["memcached", "-l", HOST, "-p", str(self._memcached_port), "-U", "0",
                                  "-m", "16", "-u", "root"])
        for server in SERVERS:
            self._spawn(server, [f"swift-{server}-server", str(self.directory / f"{server}.conf"), "-v"])
        self._spawn("proxy", ["swift-proxy-server", str(self.directory / "proxy.conf"), "-v"])
        self._wait_ready()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    def pause_proxy(self) -> None:
        """Stop the S3 endpoint so connections are refused, as when the storage service is down."""
        process = self.processes.pop("proxy")
        process.terminate()
        process.wait(timeout=5)

    def resume_proxy(self) -> None:
        self._spawn("proxy", ["swift-proxy-server", str(self.directory / "proxy.conf"), "-v"])
        self._wait_ready()

    def client(self, secret: str = SECRET_ACCESS_KEY, attempts: int = 4):  # type: ignore[no-untyped-def]
        """Return a boto3 S3 client of the test's own, to look at the bucket from outside the gateway.

        It retries, because Swift returns 503 while a server behind the proxy is busy.
        """
        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, region_name="us-east-1", verify=str(self.ca_file),
            aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=secret,
            config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                          response_checksum_validation="when_required",
                          retries={"mode": "standard", "max_attempts": attempts}),
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Return every object under *prefix* in *bucket*, by key."""
        client = self.client()
        listing = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
        return {item["Key"]: client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                for item in listing.get("Contents", [])}

    def log(self) -> str:
        return "".join(path.read_text(errors="replace") for path in sorted(self.directory.glob("*.log")))

    def _spawn(self, name: str, command: list[str]) -> None:
        with (self.directory / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                                    stderr=subprocess.STDOUT, start_new_session=True)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        client = self.client(attempts=1)
        while True:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log()[-3000:]}")
            try:
                # Listing reaches only the account server; a bucket and an object reach the other two.
                probe = f"ready-{secrets.token_hex(4)}"
                client.create_bucket(Bucket=probe)
                client.put_object(Bucket=probe, Key="probe", Body=b"probe")
                client.delete_object(Bucket=probe, Key="probe")
                client.delete_bucket(Bucket=probe)
                return
            except Exception as error:  # noqa: BLE001 - any failure means not ready yet
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Swift's S3 API did not respond: {error}\n{self.log()[-3000:]}") from None
                time.sleep(0.1)

    def _write_server_config(self, server: str, port: int, devices: Path) -> None:
        (self.directory / f"{server}.conf").write_text(
            f"[DEFAULT]\n{self._common()}devices = {devices}\nmount_check = false\n"
            f"disable_fallocate = true\nbind_port = {port}\n"
            f"[pipeline:main]\npipeline = {server}-server\n"
            f"[app:{server}-server]\nuse = egg:swift#{server}\n",
            encoding="ascii",
        )

    def _write_proxy_config(self) -> None:
        account, user = ACCESS_KEY_ID.split(":")
        filters = {
            "catch_errors": "", "gatekeeper": "", "proxy_logging": "", "listing_formats": "",
            "memcache": f"memcache_servers = {HOST}:{self._memcached_port}\n",
            "s3api": "location = us-east-1\n",
            "tempauth": f"user_{account}_{user} = {SECRET_ACCESS_KEY} .admin\n",
            "copy": "", "slo": "", "dlo": "",
        }
        pipeline = ["catch_errors", "gatekeeper", "proxy_logging", "memcache", "listing_formats", "s3api",
                    "tempauth", "copy", "slo", "dlo", "proxy_logging"]
        sections = "".join(f"[filter:{name}]\nuse = egg:swift#{name}\n{extra}" for name, extra in filters.items())
        (self.directory / "proxy.conf").write_text(
            f"[DEFAULT]\n{self._common()}bind_port = {self.port}\n"
            f"cert_file = {self.directory / 'proxy.crt'}\nkey_file = {self.directory / 'proxy.key'}\n"
            f"[pipeline:main]\npipeline = {' '.join(pipeline)} proxy-server\n"
            f"[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n{sections}",
            encoding="ascii",
        )

    def _common(self) -> str:
        return f"bind_ip = {HOST}\nworkers = 0\nswift_dir = {self.directory}\nlog_level = WARNING\n"


def configure_gateway(gateway: Gateway, swift: SwiftS3, bucket: str, secret: str = SECRET_ACCESS_KEY) -> None:
    """Point *gateway*'s storage at *bucket* under the key prefix ``careseal``, with the secret in a file."""
    secret_file = gateway.directory / "s3.secret"
    secret_file.write_text(secret + "\n")
    secret_file.chmod(0o600)

    def edit(document: Any) -> None:
        storage = document["storage"]
        storage["url"] = f"s3://{bucket}/careseal"
        storage["endpoint_url"] = swift.endpoint_url
        storage["region"] = "us-east-1"
        storage["access_key_id"] = ACCESS_KEY_ID
        storage["secret_access_key_file"] = str(secret_file)
        storage["ca_file"] = str(swift.ca_file)
        storage["addressing_style"] = "path"

    gateway.configure(edit)
