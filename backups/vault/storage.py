"""Where sealed backups live: a folder on disk or an S3-compatible bucket (sole boto3 caller)."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from backups.vault.errors import ObjectMissing, StorageError, VaultConfigError

# Lifecycle rules only expire objects carrying this tag value; an extended backup is retagged so
# the rule (which counts from the object's creation) leaves it to our own purge job.
LIFECYCLE_TAG = "comptoir-vault"
TAG_STANDARD = "standard"
TAG_EXTENDED = "extended"
LIFECYCLE_RULE_ID = "comptoir-vault-expiry"
LIFECYCLE_DAYS = 730
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


class BackupStore(Protocol):
    """The operations the vault needs from an object store."""

    def put(self, key: str, data: bytes, *, retain_until: datetime | None = None) -> None:
        """Write an object, kept at least until `retain_until` where the store can lock."""

    def get(self, key: str) -> bytes:
        """Read an object; raise ObjectMissing if there is none."""

    def delete(self, key: str) -> None:
        """Delete an object and every version of it; a missing object is not an error."""

    def exists(self, key: str) -> bool:
        """Tell whether an object exists."""

    def retain(self, key: str, until: datetime) -> None:
        """Keep an existing object until a later date (retention lock, lifecycle tag)."""

    def close(self) -> None:
        """Release connections."""


def check_key(key: str) -> str:
    """Refuse object keys that could escape a folder or carry odd characters."""
    if not _KEY_RE.match(key) or ".." in key:
        raise StorageError(f"invalid object key {key!r}")
    return key


class DiskStore:
    """Objects as files under a root folder: the embedded default."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, *, retain_until: datetime | None = None) -> None:
        """Write atomically: a temporary file in the same folder, then a rename."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StorageError(f"cannot write {key}: {exc}") from exc

    def get(self, key: str) -> bytes:
        """Read a file."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise ObjectMissing(f"no object {key}") from exc
        except OSError as exc:
            raise StorageError(f"cannot read {key}: {exc}") from exc

    def delete(self, key: str) -> None:
        """Remove a file if present."""
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {key}: {exc}") from exc

    def exists(self, key: str) -> bool:
        """Tell whether the file exists."""
        return self._path(key).is_file()

    def retain(self, key: str, until: datetime) -> None:
        """Nothing to do: on disk, expiry is only ever enforced by the purge job."""

    def close(self) -> None:
        """Nothing to release."""


@dataclass
class S3Settings:
    """How to reach the bucket; credentials None means boto3's usual chain (env, profile, role)."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    max_attempts: int = 3
    timeout: float = 10.0
    client_kwargs: dict[str, Any] = field(default_factory=dict)


class S3Store:
    """Objects in an S3-compatible bucket under a prefix; honours Object Lock where enabled."""

    def __init__(self, settings: S3Settings) -> None:
        if not settings.bucket:
            raise VaultConfigError("COMPTOIR_VAULT_S3_BUCKET is not set")
        self.settings = settings
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        config = Config(
            region_name=settings.region,
            connect_timeout=settings.timeout,
            read_timeout=settings.timeout,
            retries={"max_attempts": settings.max_attempts, "mode": "standard"},
            # Custom endpoints (MinIO, loopback servers) rarely serve virtual-hosted names.
            s3={"addressing_style": "path" if settings.endpoint_url else "auto"},
        )
        session = boto3.session.Session()
        self.client = session.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
            config=config,
            **settings.client_kwargs,
        )
        self._lock_enabled: bool | None = None
        self._versioned: bool | None = None

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, data: bytes, *, retain_until: datetime | None = None) -> None:
        """Upload an object tagged for the lifecycle rule, locked where the bucket allows."""
        extra: dict[str, Any] = {}
        if retain_until is not None and self.object_lock_enabled():
            extra = {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": retain_until}
        with _s3_errors(f"put {key}"):
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=data,
                ContentType="application/octet-stream",
                Tagging=f"{LIFECYCLE_TAG}={TAG_STANDARD}",
                **extra,
            )

    def get(self, key: str) -> bytes:
        """Download an object."""
        with _s3_errors(f"get {key}"):
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            body = response["Body"]
            try:
                return body.read()  # type: ignore[no-any-return]
            finally:
                body.close()

    def delete(self, key: str) -> None:
        """Delete every version (bypassing GOVERNANCE retention where locked), or the object."""
        full = self._key(key)
        with _s3_errors(f"delete {key}"):
            if not self.versioned():
                self.client.delete_object(Bucket=self.bucket, Key=full)
                return
            bypass = {"BypassGovernanceRetention": True} if self.object_lock_enabled() else {}
            paginator = self.client.get_paginator("list_object_versions")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                    if entry["Key"] == full:
                        self.client.delete_object(
                            Bucket=self.bucket, Key=full, VersionId=entry["VersionId"], **bypass
                        )

    def exists(self, key: str) -> bool:
        """Tell whether an object exists."""
        try:
            with _s3_errors(f"head {key}"):
                self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ObjectMissing:
            return False
        return True

    def retain(self, key: str, until: datetime) -> None:
        """Lengthen the lock and take the object out of the fixed-age lifecycle rule."""
        full = self._key(key)
        with _s3_errors(f"retain {key}"):
            if self.object_lock_enabled():
                self.client.put_object_retention(
                    Bucket=self.bucket,
                    Key=full,
                    Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until},
                )
            self.client.put_object_tagging(
                Bucket=self.bucket,
                Key=full,
                Tagging={"TagSet": [{"Key": LIFECYCLE_TAG, "Value": TAG_EXTENDED}]},
            )

    def head(self, key: str) -> dict[str, Any]:
        """Return the object's metadata (lock mode and date included)."""
        with _s3_errors(f"head {key}"):
            return self.client.head_object(  # type: ignore[no-any-return]
                Bucket=self.bucket, Key=self._key(key)
            )

    def object_lock_enabled(self) -> bool:
        """Tell (once per store) whether the bucket has Object Lock enabled."""
        if self._lock_enabled is None:
            try:
                conf = self.client.get_object_lock_configuration(Bucket=self.bucket)
                state = conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
                self._lock_enabled = state == "Enabled"
            except ClientError as exc:
                if _status(exc) >= 500 or _code(exc) in ("NoSuchBucket", "AccessDenied"):
                    raise StorageError(f"object lock of {self.bucket}: {_code(exc)}") from exc
                self._lock_enabled = False  # no configuration, or a store without Object Lock
            except BotoCoreError as exc:
                raise StorageError(f"object lock of {self.bucket}: {exc}") from exc
        return self._lock_enabled

    def versioned(self) -> bool:
        """Tell (once per store) whether the bucket keeps versions."""
        if self._versioned is None:
            if self.object_lock_enabled():
                self._versioned = True
            else:
                with _s3_errors(f"versioning of {self.bucket}"):
                    state = self.client.get_bucket_versioning(Bucket=self.bucket).get("Status")
                self._versioned = state in ("Enabled", "Suspended")
        return self._versioned

    def init_bucket(self, *, create: bool = False, object_lock: bool = False) -> list[str]:
        """Create the bucket if asked, then set the 730-day lifecycle rule; return what was done."""
        done: list[str] = []
        with _s3_errors(f"init {self.bucket}"):
            if create and not self._bucket_exists():
                kwargs: dict[str, Any] = {"Bucket": self.bucket}
                region = self.client.meta.region_name
                if region and region != "us-east-1":
                    kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
                if object_lock:
                    kwargs["ObjectLockEnabledForBucket"] = True
                self.client.create_bucket(**kwargs)
                locked = " with Object Lock" if object_lock else ""
                done.append(f"created bucket {self.bucket}{locked}")
            rules = [r for r in self._lifecycle_rules() if r.get("ID") != LIFECYCLE_RULE_ID]
            rules.append(lifecycle_rule(self.prefix))
            self.client.put_bucket_lifecycle_configuration(
                Bucket=self.bucket, LifecycleConfiguration={"Rules": rules}
            )
            done.append(
                f"lifecycle rule {LIFECYCLE_RULE_ID}: expire {self.prefix or '(all)'} after "
                f"{LIFECYCLE_DAYS} days, noncurrent versions 1 day later"
            )
        self._lock_enabled = None
        self._versioned = None
        if self.object_lock_enabled():
            done.append("Object Lock enabled: backups get GOVERNANCE retention until expiry")
        return done

    def lifecycle_rules(self) -> list[dict[str, Any]]:
        """Return the bucket's lifecycle rules."""
        with _s3_errors(f"lifecycle of {self.bucket}"):
            return self._lifecycle_rules()

    def _lifecycle_rules(self) -> list[dict[str, Any]]:
        try:
            conf = self.client.get_bucket_lifecycle_configuration(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) == "NoSuchLifecycleConfiguration":
                return []
            raise
        return list(conf.get("Rules", []))

    def _bucket_exists(self) -> bool:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _status(exc) == 404:
                return False
            raise
        return True

    def close(self) -> None:
        """Close the client's connection pool."""
        self.client.close()


def lifecycle_rule(prefix: str) -> dict[str, Any]:
    """Return the vault's lifecycle rule: a backstop to the purge job, never the only guard."""
    return {
        "ID": LIFECYCLE_RULE_ID,
        "Status": "Enabled",
        "Filter": {
            "And": {"Prefix": prefix, "Tags": [{"Key": LIFECYCLE_TAG, "Value": TAG_STANDARD}]}
        },
        "Expiration": {"Days": LIFECYCLE_DAYS},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


@contextmanager
def _s3_errors(what: str) -> Iterator[None]:
    """Turn botocore failures into the vault's StorageError and ObjectMissing."""
    try:
        yield
    except ClientError as exc:
        if _code(exc) in ("NoSuchKey", "NotFound", "404") or _status(exc) == 404:
            raise ObjectMissing(f"{what}: no such object") from exc
        raise StorageError(f"{what}: {_code(exc) or _status(exc)}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"{what}: {exc}") from exc


def store_from_settings(config: dict[str, Any] | Any) -> BackupStore:
    """Build the store that VAULT_BACKEND names from a Flask config mapping."""
    backend = config.get("VAULT_BACKEND", "disk")
    if backend == "disk":
        if not config.get("VAULT_DIR"):
            raise VaultConfigError("COMPTOIR_VAULT_DIR is not set")
        return DiskStore(config["VAULT_DIR"])
    if backend == "s3":
        return S3Store(
            S3Settings(
                bucket=config.get("VAULT_S3_BUCKET") or "",
                prefix=config.get("VAULT_S3_PREFIX") or "",
                endpoint_url=config.get("VAULT_S3_ENDPOINT") or None,
                region=config.get("VAULT_S3_REGION") or None,
                access_key_id=config.get("VAULT_S3_ACCESS_KEY_ID") or None,
                secret_access_key=config.get("VAULT_S3_SECRET_ACCESS_KEY") or None,
                max_attempts=int(config.get("VAULT_S3_MAX_ATTEMPTS") or 3),
                timeout=float(config.get("VAULT_S3_TIMEOUT") or 10.0),
            )
        )
    raise VaultConfigError(f"COMPTOIR_VAULT_BACKEND must be disk or s3, not {backend!r}")


STORE_SETTINGS = (
    "VAULT_BACKEND",
    "VAULT_DIR",
    "VAULT_S3_BUCKET",
    "VAULT_S3_PREFIX",
    "VAULT_S3_ENDPOINT",
    "VAULT_S3_REGION",
    "VAULT_S3_ACCESS_KEY_ID",
    "VAULT_S3_SECRET_ACCESS_KEY",
    "VAULT_S3_MAX_ATTEMPTS",
    "VAULT_S3_TIMEOUT",
)
