"""Single-use links that let a buyer reach their backups without an account."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update

from backups.models import BackupAccessLink
from backups.vault import Backup, BackupStatus, normalise_buyer_ref
from backups.vault.models import utcnow
from commerce.links import LinkState
from commerce.models import Partner
from commerce.orders import hash_token
from extensions import db

log = logging.getLogger("comptoir.backups")

LINK_LIFETIME = timedelta(hours=1)
# Live links per address and shop: more requests within the hour send nothing (same answer).
MAX_LIVE_LINKS = 3
PRUNE_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class IssuedLink:
    """A link to e-mail: the secret token (never stored), the address it goes to, its expiry."""

    token: str
    email: str
    expires_at: datetime


class LinkRefused(Exception):
    """The link cannot be used: already used, expired, or not one of ours."""

    def __init__(self, state: LinkState) -> None:
        super().__init__(f"access link {state}")
        self.state = state


def issue_link(partner: Partner, email: str, *, now: datetime | None = None) -> IssuedLink | None:
    """Return a fresh link when the address has backups on the shop, else None (send nothing)."""
    now = now or utcnow()
    try:
        buyer_ref = normalise_buyer_ref(email)
    except ValueError:
        return None
    has_backups = db.session.scalar(
        select(func.count()).select_from(Backup).where(
            Backup.partner == partner.slug, Backup.buyer_ref == buyer_ref,
            Backup.status != BackupStatus.ERASED)
    )
    if not has_backups:
        return None
    live = db.session.scalar(
        select(func.count()).select_from(BackupAccessLink).where(
            BackupAccessLink.partner_id == partner.id, BackupAccessLink.email == buyer_ref,
            BackupAccessLink.used_at.is_(None), BackupAccessLink.expires_at > now)
    )
    if (live or 0) >= MAX_LIVE_LINKS:
        log.info("backups: link for partner %s not sent: %d live links already", partner.slug, live)
        return None
    issued = IssuedLink(secrets.token_urlsafe(32), buyer_ref, now + LINK_LIFETIME)
    db.session.add(BackupAccessLink(token_hash=hash_token(issued.token), partner_id=partner.id,
                                    email=buyer_ref, created_at=now, expires_at=issued.expires_at))
    db.session.commit()
    return issued


def link_state(partner: Partner, token: str, *, now: datetime | None = None) -> LinkState:
    """Tell what a link would do now, without using it."""
    now = now or utcnow()
    link = db.session.scalar(select(BackupAccessLink).where(
        BackupAccessLink.token_hash == hash_token(token),
        BackupAccessLink.partner_id == partner.id))
    if link is None:
        return LinkState.UNKNOWN
    if link.used_at is not None:
        return LinkState.USED
    if link.expires_at <= now:
        return LinkState.EXPIRED
    return LinkState.VALID


def redeem_link(partner: Partner, token: str, *, now: datetime | None = None) -> str:
    """Use a link once and return the buyer's e-mail; raise LinkRefused otherwise."""
    now = now or utcnow()
    token_hash = hash_token(token)
    # One conditional UPDATE: of two clicks racing, exactly one finds the link unused.
    won = db.session.execute(
        update(BackupAccessLink)
        .where(BackupAccessLink.token_hash == token_hash,
               BackupAccessLink.partner_id == partner.id,
               BackupAccessLink.used_at.is_(None), BackupAccessLink.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    email = db.session.scalar(
        select(BackupAccessLink.email).where(BackupAccessLink.token_hash == token_hash))
    db.session.commit()
    if won != 1 or email is None:
        raise LinkRefused(link_state(partner, token, now=now))
    return email


def prune_links(*, now: datetime | None = None) -> int:
    """Delete links (and the addresses they hold) a day after they expired."""
    now = now or utcnow()
    deleted = db.session.execute(
        delete(BackupAccessLink).where(BackupAccessLink.expires_at < now - PRUNE_AFTER)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    db.session.commit()
    return int(deleted or 0)
