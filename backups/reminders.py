"""The daily job that e-mails buyers 30 days before their backup expires."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from backups.links import prune_links
from backups.models import BackupReminder
from backups.vault import Backup, due_reminders, mark_reminded
from backups.vault.models import utcnow
from extensions import db

log = logging.getLogger("comptoir.backups")

# A claim older than this whose e-mail never went out (a crashed worker) may be taken again.
CLAIM_LEASE = timedelta(hours=1)


@dataclass(frozen=True)
class ReminderOutcome:
    """What the job did (or, in a dry run, would do) for one backup."""

    backup_id: uuid.UUID
    partner: str
    expires_at: datetime
    sent: bool
    detail: str = ""


def send_reminders(*, now: datetime | None = None, dry_run: bool = False) -> list[ReminderOutcome]:
    """E-mail each due reminder once, then mark it in the vault; a dry run only lists them."""
    from backups.mail import send_reminder

    now = now or utcnow()
    outcomes = []
    for backup in due_reminders(now=now):
        if dry_run:
            outcomes.append(ReminderOutcome(backup.id, backup.partner, backup.expires_at, False,
                                            "would send"))
            continue
        if not _claim(backup, now):
            continue
        try:
            send_reminder(backup)
        except Exception as exc:  # noqa: BLE001 - any failure: release the claim, retry tomorrow
            db.session.rollback()
            _release(backup)
            log.warning("backups: reminder for backup %s not sent: %s", backup.id, exc)
            outcomes.append(ReminderOutcome(backup.id, backup.partner, backup.expires_at, False,
                                            f"{type(exc).__name__}: {exc}"))
            continue
        _sent(backup, now)
        mark_reminded(backup.id, at=now)
        log.info("backups: reminder sent for backup %s (expires %s)", backup.id,
                 backup.expires_at.date().isoformat())
        outcomes.append(ReminderOutcome(backup.id, backup.partner, backup.expires_at, True))
    if not dry_run:
        prune_links(now=now)
    return outcomes


def _claim(backup: Backup, now: datetime) -> bool:
    """Take the right to send this backup's reminder for its current expiry date."""
    try:
        with db.session.begin_nested():
            db.session.add(BackupReminder(backup_id=backup.id, expires_at=backup.expires_at,
                                          claimed_at=now))
        db.session.commit()
        return True
    except IntegrityError:
        db.session.rollback()
    stale = db.session.scalar(select(BackupReminder).where(*_this_claim(backup)))
    if stale is not None and stale.sent_at is not None:
        # Sent, but the process stopped before the vault recorded it: record it now.
        mark_reminded(backup.id, at=stale.sent_at)
        return False
    if stale is None or stale.claimed_at > now - CLAIM_LEASE:
        db.session.rollback()
        return False
    taken = db.session.execute(
        update(BackupReminder)
        .where(BackupReminder.id == stale.id, BackupReminder.claimed_at == stale.claimed_at,
               BackupReminder.sent_at.is_(None))
        .values(claimed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    db.session.commit()
    return bool(taken == 1)


def _announce(backup: Backup) -> None:
    """The backup expires soon: said once per expiry date, with the reminder's being marked sent,
    which happens once per claim (the partner's webhooks hear it, docs/webhooks.md)."""
    from backups.services import order_line_for
    from events import BackupExpiring, emit

    line = order_line_for(backup.order_line_ref)
    emit(BackupExpiring(order_id=line.order_id if line is not None else None,
                        backup_id=backup.id, expires_at=backup.expires_at.isoformat()))


def _release(backup: Backup) -> None:
    db.session.execute(
        delete(BackupReminder)
        .where(*_this_claim(backup), BackupReminder.sent_at.is_(None))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _sent(backup: Backup, now: datetime) -> None:
    marked = db.session.execute(
        update(BackupReminder)
        .where(*_this_claim(backup), BackupReminder.sent_at.is_(None))
        .values(sent_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if marked:
        _announce(backup)
    db.session.commit()


def _this_claim(backup: Backup) -> tuple[ColumnElement[bool], ...]:
    return (BackupReminder.backup_id == backup.id, BackupReminder.expires_at == backup.expires_at)
