"""The retention job: personal data kept no longer than the schedule of docs/privacy.md.

Periods come from settings (PRIVACY_*), with the documented defaults. Each step first lists
what is due, so a dry run tells exactly what a real run would do and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, exists, func, or_, select

from accounts.models import AuthSession, EmailToken
from accounts.privacy import (
    PSEUDONYM_DOMAIN,
    ErasureRefused,
    Subject,
    check_erasable,
    erase,
)
from commerce.models import CapturedMail, Order, Role, User
from extensions import db, utcnow

log = logging.getLogger("comptoir.privacy")


@dataclass(frozen=True)
class Schedule:
    """How long each kind of personal data is kept (settings, docs/privacy.md)."""

    guest_orders: timedelta
    unverified_accounts: timedelta
    sessions: timedelta
    tokens: timedelta
    email_log: timedelta

    @classmethod
    def from_config(cls) -> Schedule:
        cfg = current_app.config

        def days(name: str) -> timedelta:
            value = int(cfg[f"PRIVACY_{name}_DAYS"])
            if value < 1:
                raise ValueError(f"PRIVACY_{name}_DAYS must be at least 1 day, not {value}")
            return timedelta(days=value)

        return cls(days("GUEST_ORDER"), days("UNVERIFIED_ACCOUNT"), days("SESSION"),
                   days("TOKEN"), days("EMAIL_LOG"))


@dataclass
class RetentionReport:
    """What the job did, or would do in a dry run."""

    dry_run: bool
    guests_erased: int = 0
    guest_orders: int = 0
    unverified_accounts: int = 0
    sessions: int = 0
    tokens: int = 0
    access_links: int = 0
    email_copies: int = 0
    skipped: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        verb = "would" if self.dry_run else "did"
        return [
            f"{verb} pseudonymise {self.guest_orders} guest order(s) of {self.guests_erased} "
            "buyer(s) without an account",
            f"{verb} delete {self.unverified_accounts} unconfirmed account(s) without orders",
            f"{verb} delete {self.sessions} old session record(s)",
            f"{verb} delete {self.tokens} expired e-mail link(s) and "
            f"{self.access_links} expired backup access link(s)",
            f"{verb} delete {self.email_copies} old e-mail copy(ies)",
            *[f"skipped: {reason}" for reason in self.skipped],
        ]


def run_retention(*, dry_run: bool = False, now: datetime | None = None) -> RetentionReport:
    """Apply the schedule once; commits each step (nothing in a dry run)."""
    from backups.models import BackupAccessLink

    now = now or utcnow()
    schedule = Schedule.from_config()
    report = RetentionReport(dry_run)
    _guests(report, now - schedule.guest_orders, now, dry_run)
    report.unverified_accounts = _apply(
        dry_run, User.id, _unverified(now - schedule.unverified_accounts), User)
    cutoff = now - schedule.sessions
    report.sessions = _apply(dry_run, AuthSession.id, or_(
        AuthSession.ended_at < cutoff,
        AuthSession.ended_at.is_(None) & (AuthSession.last_seen_at < cutoff)), AuthSession)
    report.tokens = _apply(dry_run, EmailToken.id,
                           EmailToken.expires_at < now - schedule.tokens, EmailToken)
    report.access_links = _apply(dry_run, BackupAccessLink.id,
                                 BackupAccessLink.expires_at < now - schedule.tokens,
                                 BackupAccessLink)
    report.email_copies = _apply(dry_run, CapturedMail.id,
                                 CapturedMail.created_at < now - schedule.email_log, CapturedMail)
    if dry_run:
        db.session.rollback()
    log.info("privacy retention%s: %s", " (dry run)" if dry_run else "", "; ".join(report.lines()))
    return report


def _apply(dry_run: bool, key, condition, model) -> int:  # type: ignore[no-untyped-def]
    """Count the due rows, and delete them unless this is a dry run."""
    count = int(db.session.scalar(select(func.count(key)).where(condition)) or 0)
    if count and not dry_run:
        db.session.execute(delete(model).where(condition)
                           .execution_options(synchronize_session=False))
        db.session.commit()
    return count


def _unverified(created_before: datetime):  # type: ignore[no-untyped-def]
    """Buyer accounts never confirmed, older than the period, that placed no order."""
    return (User.role == Role.BUYER) & User.email_verified_at.is_(None) \
        & User.erased_at.is_(None) & (User.created_at < created_before) \
        & ~exists().where(Order.buyer_id == User.id)


def due_guests(last_order_before: datetime) -> list[str]:
    """Addresses whose guest orders are all older than the cutoff, with no account holding them
    (no order placed signed in, no account of that address)."""
    address = func.lower(Order.email)
    held = select(func.lower(User.email)).where(User.erased_at.is_(None))
    rows = db.session.execute(
        select(address).where(Order.erased_at.is_(None),
                              ~Order.email.endswith("@" + PSEUDONYM_DOMAIN))
        .group_by(address)
        .having(func.max(Order.created_at) < last_order_before,
                func.count(Order.buyer_id) == 0)
    ).scalars().all()
    held_addresses = set(db.session.scalars(held).all())
    return sorted(a for a in rows if a not in held_addresses)


def _guests(report: RetentionReport, cutoff: datetime, now: datetime, dry_run: bool) -> None:
    for address in due_guests(cutoff):
        orders = list(db.session.scalars(select(Order).where(
            func.lower(Order.email) == address, Order.erased_at.is_(None))))
        subject = Subject(address, None, orders)
        try:
            check_erasable(subject)
        except ErasureRefused as exc:
            report.skipped.append(f"a guest's orders: {exc}")
            continue
        report.guests_erased += 1
        report.guest_orders += len(orders)
        if not dry_run:
            erase(subject, actor="retention", now=now)
