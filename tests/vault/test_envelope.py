from pathlib import Path

import pytest

from careseal.vault import envelope, keyring
from careseal.vault.blobstore import BlobTooLarge, LocalBlobStore, StorageError, StorageFull


@pytest.fixture
def ring(tmp_path: Path) -> keyring.KeyRing:
    keyring.create_key(tmp_path / "keys")
    return keyring.load(tmp_path / "keys")


def test_seal_round_trip(ring: keyring.KeyRing) -> None:
    sealed = envelope.seal(ring, "q1", b"lab results")

    assert envelope.open_sealed(ring, "q1", sealed.blob, sealed.key_id, sealed.wrapped_key) == b"lab results"
    assert b"lab results" not in sealed.blob


def test_blob_bound_to_object_id(ring: keyring.KeyRing) -> None:
    sealed = envelope.seal(ring, "q1", b"lab results")

    with pytest.raises(envelope.DecryptionError):
        envelope.open_sealed(ring, "q2", sealed.blob, sealed.key_id, sealed.wrapped_key)


def test_tampered_blob_rejected(ring: keyring.KeyRing) -> None:
    sealed = envelope.seal(ring, "q1", b"lab results")
    tampered = sealed.blob[:-1] + bytes([sealed.blob[-1] ^ 1])

    with pytest.raises(envelope.DecryptionError):
        envelope.open_sealed(ring, "q1", tampered, sealed.key_id, sealed.wrapped_key)


def test_old_key_opens_after_new_key_active(tmp_path: Path) -> None:
    old_id = keyring.create_key(tmp_path / "keys")
    sealed = envelope.seal(keyring.load(tmp_path / "keys"), "q1", b"x")
    keyring.create_key(tmp_path / "keys")

    ring = keyring.load(tmp_path / "keys")

    assert ring.active_id != old_id
    assert envelope.open_sealed(ring, "q1", sealed.blob, old_id, sealed.wrapped_key) == b"x"


def test_missing_key_folder_named(tmp_path: Path) -> None:
    with pytest.raises(keyring.KeyRingError, match="key folder not found"):
        keyring.load(tmp_path / "absent")


def test_key_files_private(tmp_path: Path) -> None:
    key_id = keyring.create_key(tmp_path / "keys")

    assert (tmp_path / "keys" / f"{key_id}.key").stat().st_mode & 0o777 == 0o600


def test_blob_store_round_trip(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)

    store.put("abcdef0123456789", b"data")

    assert store.get("abcdef0123456789") == b"data"
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["abcdef0123456789"]


def test_blob_store_rejects_path_names(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="invalid blob name"):
        LocalBlobStore(tmp_path).put("../../etc/passwd", b"x")


def test_blob_store_reserve_enforced(tmp_path: Path) -> None:
    with pytest.raises(StorageFull):
        LocalBlobStore(tmp_path, min_free_bytes=1 << 60).put("abcdef0123456789", b"x")


def test_blob_store_refuses_oversized_blob(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("abcdef0123456789", b"x" * 4096)

    with pytest.raises(BlobTooLarge):
        store.get("abcdef0123456789", max_size=4095)
    assert store.get("abcdef0123456789", max_size=4096) == b"x" * 4096


def test_sealed_size_matches_seal(ring: keyring.KeyRing) -> None:
    assert len(envelope.seal(ring, "q1", b"y" * 1000).blob) == envelope.sealed_size(1000)
