"""Backup state machine: an explicit transition table, one audit row per change.

The same shape as `commerce.status` for orders, and the same `InvalidTransition` error. Every
change of `Backup.status` in the vault goes through `set_backup_status`, which adds a
`BackupStatusChange` row; it never commits (the caller owns the transaction).
"""

from __future__ import annotations

from sqlalchemy import select

from backups.vault.models import Backup, BackupStatus, BackupStatusChange, utcnow
from commerce.status import InvalidTransition
from extensions import ACTOR_LENGTH, db

S = BackupStatus

# `None` is a backup being created: it starts stored (the first put worked) or pending.
BACKUP_TRANSITIONS: dict[BackupStatus | None, frozenset[BackupStatus]] = {
    None: frozenset({S.PENDING, S.STORED}),
    # uploaded by a retry; past expiry before it ever reached the store; erased on request
    S.PENDING: frozenset({S.STORED, S.EXPIRED, S.ERASED}),
    # a replaced bundle waits for its upload; past expiry (purge job); erased on request
    S.STORED: frozenset({S.PENDING, S.EXPIRED, S.ERASED}),
    # renewed while its object is still there; object deleted by the purge; erased on request
    S.EXPIRED: frozenset({S.STORED, S.PURGED, S.ERASED}),
    # erasing a buyer also closes their purged rows (the buyer reference is cleared)
    S.PURGED: frozenset({S.ERASED}),
    S.ERASED: frozenset(),
}


def set_backup_status(
    backup: Backup, new: BackupStatus, reason: str, actor: str = "system"
) -> None:
    """Move a backup's status along the table and audit it (the caller commits).

    A backup whose status is not set yet (a new row) moves from None: its creation is recorded.
    Raises `commerce.status.InvalidTransition` and changes nothing for a move the table refuses.
    """
    current = None if backup.status is None else BackupStatus(backup.status)
    new = BackupStatus(new)
    if new not in BACKUP_TRANSITIONS[current]:
        raise InvalidTransition("backup", str(current or "none"), str(new))
    backup.status = new
    db.session.add(
        BackupStatusChange(
            backup=backup,
            from_status=current,
            to_status=new,
            reason=reason,
            actor=actor[:ACTOR_LENGTH],
            at=utcnow(),  # when it was recorded, as commerce's StatusChange (not a job's `now`)
        )
    )


def status_history(backup: Backup) -> list[BackupStatusChange]:
    """Return a backup's audited status changes, oldest first."""
    return list(
        db.session.scalars(
            select(BackupStatusChange)
            .where(BackupStatusChange.backup_id == backup.id)
            .order_by(BackupStatusChange.at, BackupStatusChange.id)
        )
    )
