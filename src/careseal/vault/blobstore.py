"""Blob storage for sealed message content.

A store keeps opaque, already sealed blobs under names that are queue
identifiers. :class:`LocalBlobStore` is the embedded default;
:class:`careseal.vault.s3.S3BlobStore` keeps them in an S3-compatible bucket.

:class:`LocalBlobStore` writes each blob to a temporary file, fsyncs it,
renames it into place and fsyncs the folder, so a blob is either wholly
present after a crash or absent; a reader never sees a partial file.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Protocol

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{7,127}$")


class StorageFull(Exception):
    """Less free space than the store's reserve plus the blob's size."""


class StorageError(Exception):
    """A blob could not be written, read or removed."""


class BlobUnusable(StorageError):
    """A blob the store returned or reported missing, which retrying cannot fix."""


class BlobNotFound(BlobUnusable):
    """The store has no blob of that name."""


class BlobTooLarge(BlobUnusable):
    """The blob is larger than the reader expected, so it was not read: a sign of tampering."""


class BlobStore(Protocol):
    def check_reachable(self) -> None: ...
    def exists(self, name: str) -> bool: ...
    def check_space(self, size: int) -> None: ...
    def put(self, name: str, data: bytes) -> None: ...
    def get(self, name: str, max_size: int | None = None) -> bytes: ...
    def delete(self, name: str) -> None: ...


class LocalBlobStore:
    """Blobs as files under a root folder, fanned out by the first two name characters."""

    def __init__(self, root: Path, min_free_bytes: int = 0) -> None:
        self.root = root
        self.min_free_bytes = min_free_bytes

    def check_reachable(self) -> None:
        """Raise :class:`StorageError` unless the folder exists and this process may write to it."""
        if not self.root.is_dir() or not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageError(f"blob folder {self.root} is missing or not writable")

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def check_space(self, size: int) -> None:
        """Raise :class:`StorageFull` unless *size* bytes fit above the reserve."""
        try:
            free = shutil.disk_usage(self.root).free
        except OSError as error:
            raise StorageError(f"cannot read free space of {self.root}: {error.strerror}") from None
        if free < size + self.min_free_bytes:
            raise StorageFull(f"{free} bytes free, {size} needed plus a reserve of {self.min_free_bytes}")

    def put(self, name: str, data: bytes) -> None:
        """Store *data* durably under *name*; raise :class:`StorageFull` or :class:`StorageError`."""
        self.check_space(len(data))
        path = self._path(name)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            if not path.parent.is_dir():
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                _fsync_dir(self.root)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, path)
            _fsync_dir(path.parent)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            if error.errno == 28:  # ENOSPC
                raise StorageFull(f"disk full while writing blob {name}") from None
            raise StorageError(f"cannot write blob {name}: {error.strerror}") from None

    def get(self, name: str, max_size: int | None = None) -> bytes:
        """Return the blob; with *max_size*, raise :class:`BlobTooLarge` instead of reading a larger one."""
        try:
            with self._path(name).open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if max_size is not None and size > max_size:
                    raise BlobTooLarge(f"blob {name} has {size} bytes, expected at most {max_size}")
                return handle.read()
        except FileNotFoundError:
            raise BlobNotFound(f"cannot read blob {name}: no such file") from None
        except OSError as error:
            raise StorageError(f"cannot read blob {name}: {error.strerror}") from None

    def delete(self, name: str) -> None:
        try:
            self._path(name).unlink(missing_ok=True)
        except OSError as error:
            raise StorageError(f"cannot remove blob {name}: {error.strerror}") from None

    def _path(self, name: str) -> Path:
        if not NAME.match(name):
            raise StorageError(f"invalid blob name {name!r}")
        return self.root / name[:2] / name


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
