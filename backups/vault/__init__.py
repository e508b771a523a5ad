"""The two-year licence backup vault: envelope-encrypted bundles on disk or in S3."""

from __future__ import annotations

from flask import Flask

from backups.vault.errors import (
    BackupExpired,
    BackupNotFound,
    BackupUnavailable,
    CorruptBackup,
    InvalidExtension,
    StorageError,
    TamperedBackup,
    UnknownVaultKey,
    VaultConfigError,
    VaultError,
)
from backups.vault.lifecycle import (
    RetryReport,
    due_reminders,
    erase_buyer,
    extend_backup,
    keys_in_use,
    mark_reminded,
    purge_expired,
    retry_pending_backups,
    rotate_vault_key,
)
from backups.vault.models import (
    AccessAction,
    AccessOutcome,
    ActorKind,
    Backup,
    BackupAccess,
    BackupStatus,
    BackupStatusChange,
    VaultAlert,
)
from backups.vault.runtime import close_store, get_keyring, get_store
from backups.vault.services import (
    AccessEntry,
    Actor,
    BackupContents,
    BackupRequest,
    backup_for_line,
    backups_for_lines,
    get_backup,
    list_accesses,
    list_backups,
    normalise_buyer_ref,
    open_backup,
    replace_bundle,
    store_backup,
    verify_backup,
)
from backups.vault.status import BACKUP_TRANSITIONS, set_backup_status, status_history

__all__ = [
    "BACKUP_TRANSITIONS",
    "AccessAction",
    "AccessEntry",
    "AccessOutcome",
    "Actor",
    "ActorKind",
    "Backup",
    "BackupAccess",
    "BackupContents",
    "BackupExpired",
    "BackupNotFound",
    "BackupRequest",
    "BackupStatus",
    "BackupStatusChange",
    "BackupUnavailable",
    "CorruptBackup",
    "InvalidExtension",
    "RetryReport",
    "StorageError",
    "TamperedBackup",
    "UnknownVaultKey",
    "VaultAlert",
    "VaultConfigError",
    "VaultError",
    "backup_for_line",
    "backups_for_lines",
    "close_store",
    "due_reminders",
    "erase_buyer",
    "extend_backup",
    "get_backup",
    "get_keyring",
    "get_store",
    "init_app",
    "keys_in_use",
    "list_accesses",
    "list_backups",
    "mark_reminded",
    "normalise_buyer_ref",
    "open_backup",
    "purge_expired",
    "retry_pending_backups",
    "rotate_vault_key",
    "replace_bundle",
    "set_backup_status",
    "status_history",
    "store_backup",
    "verify_backup",
]


def init_app(app: Flask) -> None:
    """Check the vault keyring, register `comptoir vault ...` and the periodic vault jobs."""
    from backups.vault.cli import vault_cli
    from backups.vault.tasks import BEAT_SCHEDULE
    from extensions import celery

    get_keyring(app)
    if "vault" not in app.cli.commands:
        app.cli.add_command(vault_cli)
    celery.conf.beat_schedule = {**(celery.conf.beat_schedule or {}), **BEAT_SCHEDULE}
