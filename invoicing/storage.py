"""Where invoice PDFs are kept for ten years, apart from the two-year licence vault.

Development keeps them as files under the instance folder (`instance/invoices/`); production
keeps them in S3 (`COMPTOIR_INVOICES_BACKEND=s3`), in a bucket of their own or under their own
prefix of the vault's bucket (`COMPTOIR_INVOICES_S3_PREFIX`, default `invoices/`), never under
the vault's prefix, whose lifecycle rule and purge job count in two years. Where the bucket has
Object Lock, each PDF is written with COMPLIANCE retention until ten years after its issue date
(C. com. L123-22, LPF L102 B): nobody, root included, can delete or shorten it. A key is written
once: putting the same bytes again is a no-op, different bytes are refused.

This module is, with `backups/vault/storage.py`, the only caller of boto3.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from flask import Flask, current_app

RETENTION_YEARS = 10
EXTENSION_KEY = "invoice_store"
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")
_SHA_METADATA = "sha256"


class InvoiceStorageError(RuntimeError):
    """The store could not read or write (unreachable, refused, misconfigured)."""


class InvoiceMissing(InvoiceStorageError):
    """No PDF is stored under that key."""


class InvoiceOverwriteRefused(InvoiceStorageError):
    """A different PDF is already stored under that key: an issued invoice never changes."""


class InvoiceStore(Protocol):
    """What invoices need from a store: write once, read, tell existence."""

    def put(self, key: str, data: bytes, *, retain_until: datetime) -> bool:
        """Write a PDF once; True if written, False if the same bytes were already there."""

    def get(self, key: str) -> bytes:
        """Read a PDF; raise InvoiceMissing if there is none."""

    def exists(self, key: str) -> bool:
        """Tell whether a PDF is stored under the key."""

    def close(self) -> None:
        """Release connections."""


def check_key(key: str) -> str:
    """Refuse keys that could escape the folder or prefix, or carry odd characters."""
    if not isinstance(key, str) or not _KEY_RE.match(key) or ".." in key:
        raise InvoiceStorageError(f"invalid invoice key {key!r}")
    return key


def retain_until(issued_on: date) -> datetime:
    """Return the end of the legal retention: ten years after the issue date, end of that day.

    A 29 February issue is kept until 1 March ten years on, when that year has no 29th.
    """
    try:
        last = issued_on.replace(year=issued_on.year + RETENTION_YEARS)
    except ValueError:
        last = date(issued_on.year + RETENTION_YEARS, 3, 1)
    return datetime.combine(last + timedelta(days=1), time(0), tzinfo=UTC)


class DiskInvoiceStore:
    """PDFs as read-only files under a folder: the embedded default."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, *, retain_until: datetime) -> bool:
        """Write through a temporary file linked into place, which fails if the key exists."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.chmod(tmp, 0o440)
                try:
                    os.link(tmp, path)  # atomic, and never replaces an existing file
                except FileExistsError:
                    return _same_or_refuse(key, path.read_bytes(), data)
            finally:
                Path(tmp).unlink(missing_ok=True)
        except OSError as exc:
            raise InvoiceStorageError(f"cannot write invoice {key}: {exc}") from exc
        return True

    def get(self, key: str) -> bytes:
        """Read a file."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise InvoiceMissing(f"no invoice stored at {key}") from exc
        except OSError as exc:
            raise InvoiceStorageError(f"cannot read invoice {key}: {exc}") from exc

    def exists(self, key: str) -> bool:
        """Tell whether the file exists."""
        return self._path(key).is_file()

    def close(self) -> None:
        """Nothing to release."""


@dataclass(frozen=True)
class S3InvoiceSettings:
    """How to reach the invoices' bucket; credentials None means boto3's usual chain."""

    bucket: str
    prefix: str = "invoices/"
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    max_attempts: int = 3
    timeout: float = 10.0


class S3InvoiceStore:
    """PDFs in an S3-compatible bucket under a prefix, COMPLIANCE-locked where the bucket can."""

    def __init__(self, settings: S3InvoiceSettings) -> None:
        if not settings.bucket:
            raise InvoiceStorageError("COMPTOIR_INVOICES_S3_BUCKET is not set")
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        config = Config(
            region_name=settings.region,
            connect_timeout=settings.timeout,
            read_timeout=settings.timeout,
            retries={"max_attempts": settings.max_attempts, "mode": "standard"},
            s3={"addressing_style": "path" if settings.endpoint_url else "auto"},
        )
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.endpoint_url,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
            config=config,
        )
        self._lock_enabled: bool | None = None

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, data: bytes, *, retain_until: datetime) -> bool:
        """Upload a PDF unless the key holds one; lock it until `retain_until` where possible."""
        digest = hashlib.sha256(data).hexdigest()
        existing = self._existing_digest(key)
        if existing is not None:
            if existing == digest:
                return False
            return _same_or_refuse(key, self.get(key), data)
        extra: dict[str, Any] = {}
        if self.object_lock_enabled():
            extra = {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": retain_until}
        try:
            with _s3_errors(f"put invoice {key}"):
                self.client.put_object(
                    Bucket=self.bucket, Key=self._key(key), Body=data,
                    ContentType="application/pdf", Metadata={_SHA_METADATA: digest},
                    IfNoneMatch="*",  # a racing writer's object is never replaced
                    **extra,
                )
        except _PreconditionFailed:
            return _same_or_refuse(key, self.get(key), data)
        return True

    def get(self, key: str) -> bytes:
        """Download a PDF."""
        with _s3_errors(f"get invoice {key}"):
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            body = response["Body"]
            try:
                return body.read()  # type: ignore[no-any-return]
            finally:
                body.close()

    def exists(self, key: str) -> bool:
        """Tell whether a PDF is stored under the key."""
        return self._existing_digest(key) is not None

    def head(self, key: str) -> dict[str, Any]:
        """Return the object's metadata, its lock mode and date included."""
        with _s3_errors(f"head invoice {key}"):
            return self.client.head_object(  # type: ignore[no-any-return]
                Bucket=self.bucket, Key=self._key(key))

    def _existing_digest(self, key: str) -> str | None:
        """Return the stored object's SHA-256 ('' when unrecorded), None if there is none."""
        try:
            head = self.head(key)
        except InvoiceMissing:
            return None
        return str(head.get("Metadata", {}).get(_SHA_METADATA, ""))

    def object_lock_enabled(self) -> bool:
        """Tell (once per store) whether the bucket has Object Lock enabled."""
        if self._lock_enabled is None:
            try:
                conf = self.client.get_object_lock_configuration(Bucket=self.bucket)
                state = conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
                self._lock_enabled = state == "Enabled"
            except ClientError as exc:
                if _status(exc) >= 500 or _code(exc) in ("NoSuchBucket", "AccessDenied"):
                    raise InvoiceStorageError(
                        f"object lock of {self.bucket}: {_code(exc) or _status(exc)}") from exc
                self._lock_enabled = False  # no configuration, or a store without Object Lock
            except BotoCoreError as exc:
                raise InvoiceStorageError(f"object lock of {self.bucket}: {exc}") from exc
        return self._lock_enabled

    def close(self) -> None:
        """Close the client's connection pool."""
        self.client.close()


def _same_or_refuse(key: str, stored: bytes, data: bytes) -> bool:
    if stored == data:
        return False
    raise InvoiceOverwriteRefused(
        f"invoice {key} is already stored with different content: an issued invoice is "
        "never replaced (issue a credit note instead)")


class _PreconditionFailed(InvoiceStorageError):
    """A conditional put found the key taken."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


@contextmanager
def _s3_errors(what: str) -> Iterator[None]:
    """Turn botocore failures into InvoiceStorageError and InvoiceMissing."""
    try:
        yield
    except ClientError as exc:
        if _code(exc) in ("NoSuchKey", "NotFound", "404") or _status(exc) == 404:
            raise InvoiceMissing(f"{what}: no such object") from exc
        if _code(exc) in ("PreconditionFailed", "ConditionalRequestConflict") \
                or _status(exc) in (409, 412):
            raise _PreconditionFailed(f"{what}: the key is taken") from exc
        raise InvoiceStorageError(f"{what}: {_code(exc) or _status(exc)}") from exc
    except BotoCoreError as exc:
        raise InvoiceStorageError(f"{what}: {exc}") from exc


def settings_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return the invoices' effective storage settings: their own, else the vault's store.

    Only the prefix is never inherited: invoices live under their own.
    """
    def own_or_vault(name: str) -> Any:
        value = config.get(f"INVOICES_{name}")
        return value if value not in (None, "") else config.get(f"VAULT_{name}")

    return {
        "backend": own_or_vault("BACKEND") or "disk",
        "dir": config.get("INVOICES_DIR"),
        "bucket": own_or_vault("S3_BUCKET") or "",
        "prefix": config.get("INVOICES_S3_PREFIX") or "",
        "endpoint_url": own_or_vault("S3_ENDPOINT") or None,
        "region": own_or_vault("S3_REGION") or None,
        "access_key_id": own_or_vault("S3_ACCESS_KEY_ID") or None,
        "secret_access_key": own_or_vault("S3_SECRET_ACCESS_KEY") or None,
        "max_attempts": int(own_or_vault("S3_MAX_ATTEMPTS") or 3),
        "timeout": float(own_or_vault("S3_TIMEOUT") or 10.0),
    }


def store_from_settings(config: Mapping[str, Any]) -> InvoiceStore:
    """Build the store the settings name (COMPTOIR_INVOICES_BACKEND, else the vault's)."""
    settings = settings_of(config)
    backend = settings["backend"]
    if backend == "disk":
        if not settings["dir"]:
            raise InvoiceStorageError("COMPTOIR_INVOICES_DIR is not set")
        return DiskInvoiceStore(settings["dir"])
    if backend == "s3":
        return S3InvoiceStore(S3InvoiceSettings(
            bucket=settings["bucket"], prefix=settings["prefix"],
            endpoint_url=settings["endpoint_url"], region=settings["region"],
            access_key_id=settings["access_key_id"],
            secret_access_key=settings["secret_access_key"],
            max_attempts=settings["max_attempts"], timeout=settings["timeout"],
        ))
    raise InvoiceStorageError(f"COMPTOIR_INVOICES_BACKEND must be disk or s3, not {backend!r}")


def get_store(app: Flask | None = None) -> InvoiceStore:
    """Return the app's invoice store, built once from its settings."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    store = app.extensions.get(EXTENSION_KEY)
    if store is None:
        store = store_from_settings(app.config)
        app.extensions[EXTENSION_KEY] = store
    return store  # type: ignore[no-any-return]


def close_store(app: Flask) -> None:
    """Close and forget the app's store (tests switch settings between stores)."""
    store = app.extensions.pop(EXTENSION_KEY, None)
    if store is not None:
        store.close()


def store(app: Flask, key: str, data: bytes, *, issued_on: date | None = None) -> bool:
    """Keep an invoice PDF ten years after its issue date (today when not given).

    True if this call wrote it, False if the very same bytes were already kept; different
    bytes under the same key raise InvoiceOverwriteRefused and change nothing.
    """
    if not isinstance(data, bytes) or not data.startswith(b"%PDF-"):
        raise InvoiceStorageError(f"invoice {key}: only PDF bytes are kept")
    issued = issued_on or datetime.now(UTC).date()
    return get_store(app).put(key, data, retain_until=retain_until(issued))


def load(key: str, app: Flask | None = None) -> bytes:
    """Return a kept invoice PDF; InvoiceMissing when there is none."""
    return get_store(app).get(key)
