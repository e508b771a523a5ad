"""Operator support: recent backups, vault alerts, and renewals recorded by hand."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy import Select, and_, or_, select

from backups.services import BackupRow, backup_rows, order_line_for
from backups.vault import (
    AccessEntry,
    Backup,
    BackupNotFound,
    BackupStatus,
    InvalidExtension,
    VaultAlert,
    backups_for_lines,
    extend_backup,
    get_backup,
    list_accesses,
)
from backups.vault.models import utcnow
from backups.vault.services import RETENTION_YEARS, add_years
from commerce.models import Order, StatusChange
from extensions import db

log = logging.getLogger("comptoir.backups")

FILTERS = ("pending", "stored", "expired", "purged")
_LIVE = (BackupStatus.PENDING, BackupStatus.STORED)


class RenewalRefused(Exception):
    """A renewal that cannot be recorded (already done, or nothing left to extend)."""


def recent_backups(
    status: str | None = None, *, limit: int = 100, now: datetime | None = None
) -> list[BackupRow]:
    """Return the newest backups, filtered by the status a buyer would see."""
    now = now or utcnow()
    stmt: Select[tuple[Backup]] = select(Backup).order_by(Backup.created_at.desc()).limit(limit)
    if status in (BackupStatus.PENDING, BackupStatus.STORED):
        stmt = stmt.where(Backup.status == status, Backup.expires_at > now)
    elif status == BackupStatus.EXPIRED:
        stmt = stmt.where(or_(Backup.status == BackupStatus.EXPIRED,
                              and_(Backup.status.in_(_LIVE), Backup.expires_at <= now)))
    elif status == BackupStatus.PURGED:
        stmt = stmt.where(Backup.status == BackupStatus.PURGED)
    return backup_rows(db.session.scalars(stmt), now=now)


def open_alerts(*, limit: int = 50) -> list[VaultAlert]:
    """Return the vault's unacknowledged corruption and tampering alerts, newest first."""
    return list(db.session.scalars(
        select(VaultAlert).where(VaultAlert.acknowledged_at.is_(None))
        .order_by(VaultAlert.at.desc()).limit(limit)))


def acknowledge_alert(alert_id: uuid.UUID, operator: str, *, now: datetime | None = None) -> None:
    """Mark a vault alert as seen by an operator."""
    alert = db.session.get(VaultAlert, alert_id)
    if alert is None:
        raise LookupError(f"no vault alert {alert_id}")
    if alert.acknowledged_at is None:
        alert.acknowledged_at = now or utcnow()
        db.session.commit()
        log.info("backups: vault alert %s acknowledged by %s", alert_id, operator)


def order_backups(order: Order, *, now: datetime | None = None) -> dict[uuid.UUID, BackupRow]:
    """Return the backups of an order's lines, by order line id."""
    found = backups_for_lines(str(line.id) for line in order.product_lines)
    rows = backup_rows(found.values(), now=now)
    return {uuid.UUID(ref): row for ref, row in zip(found, rows, strict=True)}


def backup_accesses(backup: BackupRow) -> list[AccessEntry]:
    """Return every audited access to one backup, newest first."""
    if not backup.buyer_ref:
        return []
    return [a for a in list_accesses(backup.buyer_ref) if a.backup_id == backup.id]


def renew_backup(
    backup_id: uuid.UUID, seen_expiry: datetime, operator: str, *, now: datetime | None = None
) -> Backup:
    """Extend a backup two years past the expiry the operator saw, once; record it on the order."""
    now = now or utcnow()
    backup = get_backup(backup_id)
    if backup is None:
        raise BackupNotFound(backup_id)
    if backup.expires_at != seen_expiry:
        # A second click, or someone else renewed it meanwhile: never extend twice.
        raise RenewalRefused(f"this backup now runs to {backup.expires_at:%Y-%m-%d}; "
                             "it was renewed meanwhile")
    until = add_years(seen_expiry, RETENTION_YEARS)
    try:
        backup = extend_backup(backup_id, until, now=now)
    except InvalidExtension as exc:
        raise RenewalRefused(str(exc)) from exc
    line = order_line_for(backup.order_line_ref)
    if line is not None:
        db.session.add(StatusChange(
            order_id=line.order_id, field="backup", from_status=f"{seen_expiry:%Y-%m-%d}",
            to_status=f"{until:%Y-%m-%d}", reason="backup renewed (renewal paid)",
            actor=f"operator:{operator}"[:120], created_at=now))
    db.session.commit()  # the operator's renewal: extension and audit row together
    log.info("backups: backup %s renewed to %s by operator %s", backup_id, until.date().isoformat(),
             operator)
    return backup
