"""Records of signed-in sessions, apart from HTTP: the doors and their timeouts, listing a
person's open sessions, ending them, disabling an account.

The web side (storefront/security/sessions.py) begins a session at a door and checks its record
at every request; what is here is what operators, commands and account changes do to records.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from flask import current_app
from sqlalchemy import select, update

from accounts.models import AuthSession
from commerce.models import Role, User
from extensions import db, utcnow

log = logging.getLogger("comptoir.security")


class Door(StrEnum):
    """Where a person signed in; each role has its own."""

    BUYER = "buyer"
    RESELLER = "reseller"
    OPERATOR = "operator"
    PARTNER = "partner"  # a partner's console


DOOR_ROLE = {Door.BUYER: Role.BUYER, Door.RESELLER: Role.RESELLER, Door.OPERATOR: Role.OPERATOR,
             Door.PARTNER: Role.PARTNER}


@dataclass(frozen=True)
class Timeouts:
    idle: timedelta
    absolute: timedelta


# Operators hold the most power and get the shortest sessions.
TIMEOUTS = {
    Door.OPERATOR: Timeouts(idle=timedelta(minutes=15), absolute=timedelta(hours=8)),
    Door.RESELLER: Timeouts(idle=timedelta(minutes=30), absolute=timedelta(hours=12)),
    Door.PARTNER: Timeouts(idle=timedelta(minutes=30), absolute=timedelta(hours=12)),
    Door.BUYER: Timeouts(idle=timedelta(hours=2), absolute=timedelta(days=14)),
}


def timeouts(door: Door) -> Timeouts:
    """The idle and absolute limits for a door (settings may shorten them, never lengthen)."""
    base = TIMEOUTS[door]
    cfg = current_app.config
    idle = cfg.get(f"SESSION_IDLE_{door.upper()}")
    absolute = cfg.get(f"SESSION_ABSOLUTE_{door.upper()}")
    return Timeouts(
        idle=min(base.idle, timedelta(seconds=float(idle))) if idle else base.idle,
        absolute=min(base.absolute, timedelta(seconds=float(absolute)))
        if absolute else base.absolute,
    )


def live_sessions(user_id: uuid.UUID) -> list[AuthSession]:
    """A person's sessions that are still open (not ended, within their limits), newest first."""
    now = utcnow()
    rows = db.session.scalars(
        select(AuthSession).where(AuthSession.user_id == user_id, AuthSession.ended_at.is_(None))
        .order_by(AuthSession.created_at.desc())
    ).all()
    live = []
    for row in rows:
        try:
            limits = timeouts(Door(row.door))
        except ValueError:
            continue
        if now - row.created_at <= limits.absolute and now - row.last_seen_at <= limits.idle:
            live.append(row)
    return live


def end_session(user_id: uuid.UUID, record_id: uuid.UUID, reason: str) -> bool:
    """End one of a person's sessions; it stops working at its next request."""
    ended = db.session.execute(
        update(AuthSession)
        .where(AuthSession.id == record_id, AuthSession.user_id == user_id,
               AuthSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason[:60])
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    db.session.commit()
    return bool(ended)


def end_all_sessions(user_id: uuid.UUID, reason: str) -> int:
    """End every open session of a person (sign out everywhere, a disabled account)."""
    ended = db.session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason[:60])
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    db.session.commit()
    log.info("security: %d session(s) of user %s ended: %s", ended, user_id, reason)
    return int(ended or 0)


def set_active(user: User, active: bool, actor: str) -> None:
    """Disable or re-enable an account; disabling ends its sessions at once."""
    user.active = active
    db.session.commit()
    if not active:
        end_all_sessions(user.id, f"account disabled by {actor}")
    log.info("security: account %s %s by %s", user.email, "enabled" if active else "disabled",
             actor)
