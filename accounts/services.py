"""Account use cases: sign up without telling who has an account, confirm the address, reset."""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, func, or_, select, update

from accounts.models import EmailToken
from commerce.links import LinkState
from commerce.models import Order, Partner, Role, User
from commerce.orders import hash_token
from commerce.passwords import check_password, hash_password
from extensions import db, utcnow

log = logging.getLogger("comptoir.security")

VERIFY = "verify"
RESET = "reset"
INVITE = "invite"  # a partner's staff invited to its console
RESET_LIFETIME = timedelta(hours=1)
INVITE_LIFETIME = timedelta(hours=72)
MAX_LIVE_TOKENS = 3  # per account and purpose: more requests send nothing (same answer)


class AccountError(ValueError):
    """An account operation refused; field names the form field concerned."""

    def __init__(self, message: str, field: str = "email") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class IssuedToken:
    """A link to e-mail: the secret (never stored), who it is for, until when."""

    token: str
    user: User
    expires_at: datetime


@dataclass(frozen=True)
class SignUpOutcome:
    """What sign-up did; the page shows the same whichever it was."""

    created: User | None
    existing: User | None
    verification: IssuedToken | None
    reset: IssuedToken | None


def normalise_email(email: str) -> str:
    return email.strip().lower()


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == normalise_email(email)))


def authenticate(email: str, password: str, role: Role) -> User | None:
    """The active account of this role with these credentials, else None (same time either way)."""
    user = user_by_email(email)
    if not check_password(user.password_hash if user else None, password):
        return None
    if user is None or not user.active or user.role != role:
        return None
    return user


def sign_up(email: str, name: str, password: str) -> SignUpOutcome:
    """Create an unverified buyer account, or, when the address has one, tell its owner.

    Either way the password is hashed and one e-mail is owed, so that neither the answer nor its
    timing tells a stranger whether the address has an account.
    """
    email = normalise_email(email)
    password_hash = hash_password(password)
    existing = user_by_email(email)
    if existing is not None:
        reset = issue_token(existing, RESET) if existing.role == Role.BUYER else None
        return SignUpOutcome(None, existing, None, reset)
    user = User(email=email, name=name.strip(), password_hash=password_hash, role=Role.BUYER)
    db.session.add(user)
    db.session.flush()
    verification = issue_token(user, VERIFY, commit=False)
    db.session.commit()
    return SignUpOutcome(user, None, verification, None)


def issue_token(user: User, purpose: str, *, commit: bool = True) -> IssuedToken | None:
    """A fresh single-use link for the account's address; None when enough are live already."""
    now = utcnow()
    live = db.session.scalar(select(func.count()).select_from(EmailToken).where(
        EmailToken.user_id == user.id, EmailToken.purpose == purpose,
        EmailToken.used_at.is_(None), EmailToken.expires_at > now)) or 0
    if live >= MAX_LIVE_TOKENS:
        log.info("security: no new %s link for user %s: %d live", purpose, user.id, live)
        return None
    lifetime = (timedelta(seconds=int(current_app.config["EMAIL_VERIFY_MAX_AGE"]))
                if purpose == VERIFY else INVITE_LIFETIME if purpose == INVITE
                else RESET_LIFETIME)
    token = secrets.token_urlsafe(32)
    db.session.add(EmailToken(token_hash=hash_token(token), purpose=purpose, user_id=user.id,
                              email=user.email, created_at=now, expires_at=now + lifetime))
    if commit:
        db.session.commit()
    return IssuedToken(token, user, now + lifetime)


def token_state(token: str, purpose: str) -> LinkState:
    """Tell what a link would do now, without using it."""
    row = db.session.scalar(select(EmailToken).where(
        EmailToken.token_hash == hash_token(token), EmailToken.purpose == purpose))
    if row is None:
        return LinkState.UNKNOWN
    if row.used_at is not None:
        return LinkState.USED
    if row.expires_at <= utcnow():
        return LinkState.EXPIRED
    return LinkState.VALID


def redeem_token(token: str, purpose: str) -> User | None:
    """Use a single-use link now (the caller commits what it does with it)."""
    return _redeem(token, purpose)


def _redeem(token: str, purpose: str) -> User | None:
    """Use a link once (a conditional UPDATE: of two clicks, one wins); return its account."""
    now = utcnow()
    token_hash = hash_token(token)
    won = db.session.execute(
        update(EmailToken)
        .where(EmailToken.token_hash == token_hash, EmailToken.purpose == purpose,
               EmailToken.used_at.is_(None), EmailToken.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if won != 1:
        db.session.rollback()
        return None
    row = db.session.scalar(select(EmailToken).where(EmailToken.token_hash == token_hash))
    assert row is not None
    user = db.session.get(User, row.user_id)
    if user is None or normalise_email(user.email) != normalise_email(row.email):
        db.session.commit()
        return None
    return user


def verify_email(token: str) -> User | None:
    """Confirm an account's address through its link; None when the link cannot be used."""
    user = _redeem(token, VERIFY)
    if user is None:
        return None
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    db.session.commit()
    log.info("security: address of user %s confirmed", user.id)
    return user


def reset_password(token: str, password: str) -> User | None:
    """Set a new password through a reset link: the address is proven, every session ends."""
    from accounts.sessions import end_all_sessions

    user = _redeem(token, RESET)
    if user is None:
        return None
    user.password_hash = hash_password(password)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    db.session.commit()
    end_all_sessions(user.id, "password reset")
    log.info("security: password of user %s reset by e-mail", user.id)
    return user


def change_password(user: User, current: str, new: str, keep_session: uuid.UUID | None) -> bool:
    """Change a password on the current one; every other session of the account ends."""
    from accounts.sessions import end_all_sessions, end_session

    if not check_password(user.password_hash, current):
        log.warning("security: password change for user %s refused: wrong current password",
                    user.id)
        return False
    user.password_hash = hash_password(new)
    db.session.commit()
    from accounts.models import AuthSession

    others = db.session.scalars(select(AuthSession.id).where(
        AuthSession.user_id == user.id, AuthSession.ended_at.is_(None))).all()
    if keep_session is None:
        end_all_sessions(user.id, "password changed")
    for record_id in others:
        if record_id != keep_session:
            end_session(user.id, record_id, "password changed")
    log.info("security: password of user %s changed; other sessions ended", user.id)
    return True


def user_for_token(token: str, purpose: str) -> User | None:
    """The account a still-valid link is for (to greet them on the page), without using it."""
    row = db.session.scalar(select(EmailToken).where(
        EmailToken.token_hash == hash_token(token), EmailToken.purpose == purpose,
        EmailToken.used_at.is_(None), EmailToken.expires_at > utcnow()))
    return db.session.get(User, row.user_id) if row is not None else None


def prune_tokens(*, now: datetime | None = None) -> int:
    """Delete e-mailed links a day after they expired."""
    from sqlalchemy import delete

    now = now or utcnow()
    deleted = db.session.execute(
        delete(EmailToken).where(EmailToken.expires_at < now - timedelta(days=1))
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    db.session.commit()
    return int(deleted or 0)


# --- which orders an account reaches ------------------------------------------------------------


def owned_orders_condition(user: User):  # type: ignore[no-untyped-def]
    """Orders placed while signed in; and, once the address is proven, guest orders made with it."""
    placed = Order.buyer_id == user.id
    if not user.email_verified:
        return placed
    return or_(placed, and_(Order.buyer_id.is_(None), Order.email == normalise_email(user.email)))


def owns_order(user: User, order: Order) -> bool:
    """Tell whether the account reaches the order (see owned_orders_condition)."""
    if order.buyer_id == user.id:
        return True
    return (user.email_verified and order.buyer_id is None
            and order.email == normalise_email(user.email))


def orders_of(user: User, partner: Partner) -> list[Order]:
    return list(
        db.session.scalars(
            select(Order)
            .where(owned_orders_condition(user), Order.partner_id == partner.id)
            .order_by(Order.created_at.desc())
        )
    )


def claim_order(order_id: uuid.UUID, user: User, partner: Partner) -> Order | None:
    """Attach a guest order this browser has proven (placed here, or opened by its link)."""
    claimed = db.session.execute(
        update(Order)
        .where(Order.id == order_id, Order.partner_id == partner.id, Order.buyer_id.is_(None))
        .values(buyer_id=user.id)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    db.session.commit()
    if not claimed:
        return None
    return db.session.get(Order, order_id)
