"""Errors the vault raises; callers turn them into pages, API answers or exit codes."""

from __future__ import annotations

import uuid
from datetime import date


class VaultError(Exception):
    """Base class of every vault error."""


class VaultConfigError(VaultError):
    """The vault settings cannot work (a malformed keyring, an unknown backend, no bucket)."""


class UnknownVaultKey(VaultError):
    """A data key was wrapped by a vault key id that the keyring no longer holds."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"vault key {key_id!r} is not in COMPTOIR_VAULT_KEY")
        self.key_id = key_id


class StorageError(VaultError):
    """The object store failed (unreachable, refused, or answered an error)."""


class ObjectMissing(StorageError):
    """The object store has no object under that key."""


class BackupNotFound(VaultError):
    """No backup with that id is visible to the caller (unknown, erased or out of scope)."""

    def __init__(self, backup_id: uuid.UUID | str) -> None:
        super().__init__(f"no backup {backup_id}")
        self.backup_id = backup_id


class BackupExpired(VaultError):
    """The backup's two years are over: show "expired on <date>", not an error page."""

    def __init__(self, backup_id: uuid.UUID, expired_on: date) -> None:
        super().__init__(f"backup {backup_id} expired on {expired_on.isoformat()}")
        self.backup_id = backup_id
        self.expired_on = expired_on


class BackupUnavailable(VaultError):
    """The backup exists but its object cannot be read right now (storage outage)."""


class TamperedBackup(VaultError):
    """The stored object fails its SHA-256 or authentication check: never show its content."""

    def __init__(self, backup_id: uuid.UUID, reason: str) -> None:
        super().__init__(f"backup {backup_id} is corrupt or tampered with: {reason}")
        self.backup_id = backup_id
        self.reason = reason


CorruptBackup = TamperedBackup


class InvalidExtension(VaultError):
    """An extension that cannot apply (a purged or erased backup, or an earlier date)."""
