"""Sealed blobs in an S3-compatible bucket, through django-storages.

Blobs are sealed with AES-256-GCM before they reach this module, so the
bucket contains only ciphertext. The GCM tag also detects an object that
was altered in storage. That is why uploads send checksums only where S3
requires them: the aws-chunked checksum uploads that newer boto3 releases
send by default fail on some servers (Swift 2.30 returns 501 NotImplemented).
"""

from __future__ import annotations

from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError, SSLError
from django.core.files.base import ContentFile
from storages.backends.s3 import S3Storage

from careseal.config import S3Config
from careseal.vault.blobstore import NAME, BlobNotFound, BlobTooLarge, StorageError

# Uploads above this size go in parts, so one lost connection costs a part.
_MULTIPART_THRESHOLD = 16 * 1024 * 1024


class S3BlobStore:
    """Blobs as objects named ``prefix/name`` in one bucket."""

    def __init__(self, config: S3Config) -> None:
        from boto3.s3.transfer import TransferConfig

        self.bucket = config.bucket
        self.prefix = config.prefix
        self._storage = S3Storage(
            bucket_name=config.bucket,
            location=config.prefix,
            endpoint_url=config.endpoint_url or None,
            region_name=config.region or None,
            access_key=config.access_key_id or None,
            secret_key=config.secret_access_key or None,
            verify=str(config.ca_file) if config.ca_file else None,
            client_config=Config(
                s3={"addressing_style": config.addressing_style},
                signature_version="s3v4",
                connect_timeout=5,
                read_timeout=30,
                retries={"mode": "standard", "max_attempts": 3},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
            transfer_config=TransferConfig(multipart_threshold=_MULTIPART_THRESHOLD,
                                           multipart_chunksize=_MULTIPART_THRESHOLD),
            file_overwrite=True,
            default_acl=None,
            querystring_auth=False,
            object_parameters={"ContentType": "application/octet-stream"},
        )

    def check_reachable(self) -> None:
        """Raise :class:`StorageError` unless a HEAD request on the bucket succeeds with these credentials."""
        try:
            self._storage.connection.meta.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as error:
            raise StorageError(f"cannot reach {self._where()}: {_reason(error)}") from None

    def exists(self, name: str) -> bool:
        _check(name)
        try:
            return bool(self._storage.exists(name))
        except (BotoCoreError, ClientError) as error:
            raise StorageError(f"cannot look up blob {name} in {self._where()}: {_reason(error)}") from None

    def check_space(self, size: int) -> None:
        """Do nothing, because a bucket reports no free space; a full one fails the upload instead."""

    def put(self, name: str, data: bytes) -> None:
        """Upload *data* under *name*, returning once the server has stored it; raise StorageError on failure."""
        _check(name)
        try:
            self._storage.save(name, ContentFile(data))
        except (BotoCoreError, ClientError, OSError) as error:
            raise StorageError(f"cannot write blob {name} to {self._where()}: {_reason(error)}") from None

    def get(self, name: str, max_size: int | None = None) -> bytes:
        """Return the blob in one GET; with *max_size*, raise BlobTooLarge before reading a larger body."""
        _check(name)
        key = f"{self.prefix}/{name}" if self.prefix else name
        try:
            response = self._storage.connection.meta.client.get_object(Bucket=self.bucket, Key=key)
            size = int(response["ContentLength"])
            if max_size is not None and size > max_size:
                response["Body"].close()
                raise BlobTooLarge(f"blob {name} in {self._where()} has {size} bytes, expected at most {max_size}")
            data: bytes = response["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise BlobNotFound(f"cannot read blob {name} from {self._where()}: no such object") from None
            raise StorageError(f"cannot read blob {name} from {self._where()}: {_reason(error)}") from None
        except (BotoCoreError, OSError) as error:
            raise StorageError(f"cannot read blob {name} from {self._where()}: {_reason(error)}") from None
        return data

    def delete(self, name: str) -> None:
        _check(name)
        try:
            self._storage.delete(name)
        except (BotoCoreError, ClientError, OSError) as error:
            raise StorageError(f"cannot remove blob {name} from {self._where()}: {_reason(error)}") from None

    def _where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def _check(name: str) -> None:
    if not NAME.match(name):
        raise StorageError(f"invalid blob name {name!r}")


def _reason(error: Exception) -> str:
    """Return the server's error code and HTTP status, with a hint for the common setup mistakes."""
    if isinstance(error, ClientError):
        response: dict[str, Any] = error.response
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        # A HEAD response has no body, so its error code is only the status number.
        code = str(response.get("Error", {}).get("Code", "")) or str(status)
        hint = _HINTS.get(code) or _HINTS.get(str(status), "")
        return f"{code} (HTTP {status}){hint}"
    if isinstance(error, SSLError):
        return f"{error}: check storage.ca_file, which must contain the CA of the endpoint's certificate"
    if isinstance(error, EndpointConnectionError | ConnectTimeoutError):
        return f"{error}: check storage.endpoint_url and that the service is running"
    return str(error) or type(error).__name__


_CREDENTIALS = ": check storage.access_key_id and storage.secret_access_key_file"
_HINTS = {
    "NoSuchBucket": ": create the bucket first",
    "404": ": no such bucket or object",
    "InvalidAccessKeyId": _CREDENTIALS,
    "SignatureDoesNotMatch": _CREDENTIALS,
    "AccessDenied": ": the credentials may not read, write and delete objects in this bucket",
    "403": _CREDENTIALS + ", and that they may use this bucket",
}
