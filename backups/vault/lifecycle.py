"""Backups over time: retries, reminders, renewals, purge, erasure and vault key rotation."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select

from backups.vault.errors import BackupNotFound, InvalidExtension, StorageError, VaultConfigError
from backups.vault.models import (
    AccessAction,
    AccessOutcome,
    ActorKind,
    Backup,
    BackupAccess,
    BackupStatus,
    utcnow,
)
from backups.vault.runtime import get_keyring, get_store
from backups.vault.services import normalise_buyer_ref, upload_pending
from backups.vault.status import set_backup_status
from extensions import db

log = logging.getLogger("comptoir.vault")

REMINDER_WINDOW = timedelta(days=30)
RETRY_BATCH = 200  # pending backups one periodic retry run takes at most
_LIVE = (BackupStatus.PENDING, BackupStatus.STORED)


@dataclass(frozen=True)
class RetryReport:
    """What one retry run did to pending backups."""

    stored: int  # uploaded by this run
    failed: int  # tried by this run: the store failed again (retried after a backoff)
    waiting: int  # live backups still pending after the run: the failed, the not yet due, the rest


def retry_pending_backups(
    *, now: datetime | None = None, limit: int | None = RETRY_BATCH, due_only: bool = True
) -> RetryReport:
    """Upload pending backups, then catch up on lagging deletions and retentions.

    `due_only` (the periodic job) takes only backups whose backoff has run out; without it every
    live pending backup is tried now, as an operator does once the store is back. `limit` caps
    the backups tried (None: all). Each backup is locked, tried and committed on its own; a row
    another process holds is skipped (it is being uploaded or replaced).
    """
    now = now or utcnow()
    query = (
        select(Backup.id)
        .where(Backup.status == BackupStatus.PENDING, Backup.expires_at > now)
        .order_by(Backup.created_at)
        .limit(limit)
    )
    if due_only:
        query = query.where(or_(Backup.next_attempt_at.is_(None), Backup.next_attempt_at <= now))
    candidates = db.session.scalars(query).all()
    db.session.rollback()
    stored = failed = 0
    for backup_id in candidates:
        backup = _locked(backup_id, skip_locked=True)
        if backup is None or backup.status != BackupStatus.PENDING or backup.expires_at <= now:
            db.session.rollback()
            continue
        if upload_pending(backup, now=now):
            stored += 1
        else:
            failed += 1
        db.session.commit()
    _sync_retentions(limit)
    _retry_erasures(limit)
    waiting = db.session.scalar(
        select(func.count())
        .select_from(Backup)
        .where(Backup.status == BackupStatus.PENDING, Backup.expires_at > now)
    ) or 0
    db.session.rollback()
    if candidates:
        log.info(
            "vault: retried %d pending backups: %d stored, %d failed, %d still pending",
            len(candidates), stored, failed, waiting,
        )
    return RetryReport(stored=stored, failed=failed, waiting=waiting)


def due_reminders(
    *, now: datetime | None = None, within: timedelta = REMINDER_WINDOW
) -> list[Backup]:
    """Return live backups expiring within `within` whose reminder has not gone out."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(Backup)
            .where(
                Backup.status.in_(_LIVE),
                Backup.reminder_sent_at.is_(None),
                Backup.expires_at > now,
                Backup.expires_at <= now + within,
            )
            .order_by(Backup.expires_at)
        )
    )


def mark_reminded(backup_id: uuid.UUID, *, at: datetime | None = None) -> None:
    """Record that the expiry reminder for a backup went out."""
    backup = db.session.get(Backup, backup_id)
    if backup is None:
        raise BackupNotFound(backup_id)
    backup.reminder_sent_at = at or utcnow()
    db.session.commit()


def extend_backup(backup_id: uuid.UUID, until: datetime, *, now: datetime | None = None) -> Backup:
    """Keep a backup until a later date (a renewal purchase); repeating the same date is a no-op.

    Locks the row and writes in the caller's transaction, which the caller commits (a renewal is
    applied by the OrderPaid consumer, with the order's other effects). The object's retention in
    the store is lengthened at once: a lock can only be lengthened, so if the caller then rolls
    back, the object is merely kept locked longer than its row says, never shorter.
    """
    now = now or utcnow()
    if until.tzinfo is None:
        raise ValueError("naive datetime: pass timezone-aware UTC")
    backup = _locked(backup_id)
    if backup is None:
        raise BackupNotFound(backup_id)
    if backup.status in (BackupStatus.PURGED, BackupStatus.ERASED):
        raise InvalidExtension(f"backup {backup_id} is {backup.status}: nothing left to extend")
    if until == backup.expires_at:
        return backup
    if until < backup.expires_at:
        raise InvalidExtension(f"backup {backup_id} already runs to {backup.expires_at:%Y-%m-%d}")
    if backup.status == BackupStatus.EXPIRED:
        _revive(backup)
    backup.expires_at = until
    backup.extended_at = now
    backup.reminder_sent_at = None
    backup.retention_synced = backup.status == BackupStatus.PENDING
    if backup.status == BackupStatus.STORED:
        _retain(backup)
    db.session.flush()
    log.info("vault: backup %s extended to %s", backup.id, until.isoformat())
    return backup


def purge_expired(*, now: datetime | None = None, dry_run: bool = False) -> list[Backup]:
    """Delete the objects of backups past expiry and keep their rows as purged; log each one."""
    now = now or utcnow()
    candidates = db.session.scalars(
        select(Backup.id)
        .where(
            Backup.status.in_((*_LIVE, BackupStatus.EXPIRED)),
            Backup.expires_at <= now,
        )
        .order_by(Backup.expires_at)
    ).all()
    db.session.rollback()
    done: list[Backup] = []
    for backup_id in candidates:
        if dry_run:
            backup = db.session.get(Backup, backup_id)
            if backup is not None:
                log.info(
                    "vault purge (dry run): would purge backup %s partner %s expired %s",
                    backup.id, backup.partner, backup.expires_at.isoformat(),
                )
                done.append(backup)
            continue
        purged = _purge_one(backup_id, now)
        if purged is not None:
            done.append(purged)
    log.info("vault purge%s: %d backups", " (dry run)" if dry_run else "", len(done))
    return done


def erase_buyer(buyer_ref: str, *, actor_id: str = "cli", now: datetime | None = None) -> int:
    """Erase every backup of a buyer: data keys destroyed first, then the objects deleted."""
    now = now or utcnow()
    ref = normalise_buyer_ref(buyer_ref)
    backups = list(db.session.scalars(select(Backup).where(Backup.buyer_ref == ref)))
    for backup in backups:
        # Who opened the backups is the buyer's data too; one erase entry remains instead.
        db.session.execute(delete(BackupAccess).where(BackupAccess.backup_id == backup.id))
        set_backup_status(backup, BackupStatus.ERASED, "erased on request", actor=actor_id)
        backup.buyer_ref = None
        backup.wrapped_key = None
        backup.vault_key_id = None
        backup.pending_object = None
        backup.purged_at = now
        backup.last_error = "object deletion pending"
        db.session.add(
            BackupAccess(
                backup_id=backup.id,
                actor_kind=ActorKind.OPERATOR,
                actor_id=actor_id[:100],
                action=AccessAction.ERASE,
                outcome=AccessOutcome.OK,
                at=now,
            )
        )
    db.session.commit()
    deleted = sum(_delete_erased(backup) for backup in backups)
    log.info(
        "vault erase by %s: %d backups erased (%s), %d objects deleted; keys destroyed",
        actor_id, len(backups), ", ".join(str(b.id) for b in backups) or "none", deleted,
    )
    return len(backups)


def rotate_vault_key(*, batch: int = 500) -> int:
    """Rewrap every data key not under the active vault key; objects are not rewritten."""
    keyring = get_keyring()
    rewrapped = 0
    while True:
        rows = list(
            db.session.scalars(
                select(Backup)
                .where(Backup.wrapped_key.is_not(None), Backup.vault_key_id != keyring.active_id)
                .order_by(Backup.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        )
        if not rows:
            db.session.rollback()
            break
        for backup in rows:
            assert backup.wrapped_key is not None and backup.vault_key_id is not None
            data_key = keyring.unwrap(backup.vault_key_id, backup.wrapped_key, backup.id)
            backup.vault_key_id, backup.wrapped_key = keyring.wrap(data_key, backup.id)
        db.session.commit()
        rewrapped += len(rows)
    log.info("vault: rewrapped %d data keys under vault key %s", rewrapped, keyring.active_id)
    return rewrapped


def keys_in_use() -> dict[str, int]:
    """Return how many data keys each vault key id wraps."""
    rows = db.session.execute(
        select(Backup.vault_key_id, func.count())
        .where(Backup.wrapped_key.is_not(None))
        .group_by(Backup.vault_key_id)
    )
    return {str(key_id): int(count) for key_id, count in rows}


def _locked(backup_id: uuid.UUID, *, skip_locked: bool = False) -> Backup | None:
    return db.session.scalars(
        select(Backup).where(Backup.id == backup_id).with_for_update(skip_locked=skip_locked)
    ).one_or_none()


def _revive(backup: Backup) -> None:
    """Bring an expired (not yet purged) backup back to stored, if its object is still there."""
    try:
        present = get_store().exists(backup.object_key)
    except (StorageError, VaultConfigError) as exc:
        db.session.rollback()
        raise InvalidExtension(f"backup {backup.id}: cannot check its object: {exc}") from exc
    if not present:
        db.session.rollback()
        raise InvalidExtension(f"backup {backup.id}: its object is already deleted")
    set_backup_status(backup, BackupStatus.STORED, "renewed before the purge; object still stored")


def _purge_one(backup_id: uuid.UUID, now: datetime) -> Backup | None:
    backup = _locked(backup_id)
    live = (*_LIVE, BackupStatus.EXPIRED)
    if backup is None or backup.status not in live or backup.expires_at > now:
        db.session.rollback()
        return None
    if backup.status != BackupStatus.EXPIRED:
        set_backup_status(backup, BackupStatus.EXPIRED, "past its expiry date")
    try:
        get_store().delete(backup.object_key)
    except (StorageError, VaultConfigError) as exc:
        backup.last_error = f"purge: {exc}"[:2000]
        db.session.commit()
        log.error("vault purge: backup %s object not deleted, kept as expired: %s", backup.id, exc)
        return None
    set_backup_status(backup, BackupStatus.PURGED, "object deleted, data key destroyed")
    backup.purged_at = now
    backup.wrapped_key = None
    backup.pending_object = None
    backup.last_error = None
    db.session.commit()
    log.info(
        "vault purge: purged backup %s partner %s expired %s",
        backup.id, backup.partner, backup.expires_at.isoformat(),
    )
    return backup


def _delete_erased(backup: Backup) -> bool:
    try:
        get_store().delete(backup.object_key)
    except (StorageError, VaultConfigError) as exc:
        backup.last_error = f"erase: {exc}"[:2000]
        db.session.commit()
        log.error("vault erase: object of %s not deleted yet (key destroyed): %s", backup.id, exc)
        return False
    backup.last_error = None
    db.session.commit()
    return True


def _retain(backup: Backup) -> bool:
    """Lengthen the object's retention to the backup's expiry; record the outcome (no commit)."""
    try:
        get_store().retain(backup.object_key, backup.expires_at)
    except (StorageError, VaultConfigError) as exc:
        backup.last_error = f"retention: {exc}"[:2000]
        log.warning("vault: retention of backup %s not updated yet: %s", backup.id, exc)
        return False
    backup.retention_synced = True
    backup.last_error = None
    return True


def _sync_retention(backup: Backup) -> bool:
    """The periodic job's part: one lagging retention, committed."""
    synced = _retain(backup)
    db.session.commit()
    return synced


def _sync_retentions(limit: int | None) -> None:
    lagging = db.session.scalars(
        select(Backup)
        .where(Backup.status == BackupStatus.STORED, Backup.retention_synced.is_(False))
        .limit(limit)
    ).all()
    for backup in lagging:
        _sync_retention(backup)


def _retry_erasures(limit: int | None) -> None:
    lagging = db.session.scalars(
        select(Backup)
        .where(Backup.status == BackupStatus.ERASED, Backup.last_error.is_not(None))
        .limit(limit)
    ).all()
    for backup in lagging:
        _delete_erased(backup)
