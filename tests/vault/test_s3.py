"""S3BlobStore against Swift's S3 API on loopback, over HTTPS with the test CA."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import trustme

from careseal.config import S3Config
from careseal.vault.blobstore import BlobTooLarge, StorageError
from careseal.vault.s3 import S3BlobStore
from tests.support.s3 import SwiftS3
from tests.support.sinks import free_port

NAME = "q0123456789abcdef"


def test_round_trip_under_prefix(swift: SwiftS3, bucket: str, s3_config: S3Config) -> None:
    store = S3BlobStore(s3_config)

    store.put(NAME, b"sealed bytes")

    assert store.get(NAME) == b"sealed bytes"
    assert swift.objects(bucket) == {f"sealed/{NAME}": b"sealed bytes"}


def test_put_replaces_blob(bucket: str, s3_config: S3Config) -> None:
    store = S3BlobStore(s3_config)
    store.put(NAME, b"first")

    store.put(NAME, b"second")

    assert store.get(NAME) == b"second"


def test_delete_is_idempotent(
        swift: SwiftS3, bucket: str, s3_config: S3Config) -> None:
    store = S3BlobStore(s3_config)
    store.put(NAME, b"x")

    store.delete(NAME)
    store.delete(NAME)

    assert swift.objects(bucket) == {}
    with pytest.raises(StorageError, match=f"cannot read blob {NAME} from s3://{bucket}/sealed: no such object"):
        store.get(NAME)


def test_large_blob_uploads_in_parts(
        swift: SwiftS3, bucket: str, s3_config: S3Config) -> None:
    data = os.urandom(20 * 1024 * 1024)
    store = S3BlobStore(s3_config)

    store.put(NAME, data)

    etag = swift.client().head_object(Bucket=bucket, Key=f"sealed/{NAME}")["ETag"]
    assert etag.strip('"').endswith("-2")  # the ETag of a two-part upload
    assert store.get(NAME) == data


def test_path_names_rejected(swift: SwiftS3, bucket: str, s3_config: S3Config) -> None:
    store = S3BlobStore(s3_config)

    for name in ("../outside-prefix", "a/b/cdefghij", ""):
        with pytest.raises(StorageError, match="invalid blob name"):
            store.put(name, b"x")

    assert swift.objects(bucket) == {}


def test_wrong_secret_names_setting(s3_config: S3Config) -> None:
    store = S3BlobStore(dataclasses.replace(s3_config, secret_access_key="not-the-secret"))

    with pytest.raises(StorageError, match=r"SignatureDoesNotMatch \(HTTP 403\): check storage.access_key_id"):
        store.put(NAME, b"x")


def test_missing_bucket_error(s3_config: S3Config) -> None:
    store = S3BlobStore(dataclasses.replace(s3_config, bucket="careseal-no-such-bucket"))

    with pytest.raises(StorageError, match=r"NoSuchBucket \(HTTP 404\): create the bucket first"):
        store.put(NAME, b"x")


def test_untrusted_endpoint_certificate_rejected(
        swift: SwiftS3, bucket: str, s3_config: S3Config, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    store = S3BlobStore(dataclasses.replace(s3_config, ca_file=other))

    with pytest.raises(StorageError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        store.put(NAME, b"x")

    assert swift.objects(bucket) == {}


def test_wrong_secret_on_read_names_settings(bucket: str, s3_config: S3Config) -> None:
    S3BlobStore(s3_config).put(NAME, b"x")
    store = S3BlobStore(dataclasses.replace(s3_config, secret_access_key="not-the-secret"))

    with pytest.raises(StorageError, match="check storage.access_key_id and storage.secret_access_key_file"):
        store.get(NAME)


def test_untrusted_certificate_names_ca_file(s3_config: S3Config, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))

    with pytest.raises(StorageError, match="check storage.ca_file"):
        S3BlobStore(dataclasses.replace(s3_config, ca_file=other)).check_reachable()


def test_closed_port_names_endpoint(s3_config: S3Config) -> None:
    store = S3BlobStore(dataclasses.replace(s3_config, endpoint_url=f"https://127.0.0.1:{free_port()}"))

    with pytest.raises(StorageError, match="check storage.endpoint_url"):
        store.put(NAME, b"x")


def test_oversized_object_not_downloaded(swift: SwiftS3, bucket: str, s3_config: S3Config) -> None:
    swift.client().put_object(Bucket=bucket, Key=f"sealed/{NAME}", Body=b"x" * 4096)

    with pytest.raises(BlobTooLarge, match="has 4096 bytes, expected at most 100"):
        S3BlobStore(s3_config).get(NAME, max_size=100)
