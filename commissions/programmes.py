"""Reading programmes (the versions, promotions and multipliers in force); resellers and logins.

Changing a programme is the operator's: see `commissions.programme_admin` and `incentives`.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from commerce.models import Partner, Role, User, utcnow
from commerce.passwords import hash_password, password_problem
from commissions.errors import ResellerExists, UnknownReseller, WeakPassword
from commissions.models import Programme, ProgrammeVersion, Reseller, VersionStatus
from commissions.rules import ActiveMultiplier, ActivePromotion
from extensions import db

# Unambiguous letters and digits for referral codes people read aloud (no 0/O, 1/I/L).
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_PREFIX = "RP-"


def aware(when: datetime) -> datetime:
    """Refuse naive datetimes: every time in the ledger is UTC and aware."""
    if when.tzinfo is None:
        raise ValueError("naive datetime: give an aware UTC datetime")
    return when


def normalise_code(code: str) -> str:
    """A referral code as stored: trimmed, upper case."""
    return code.strip().upper()


def normalise_email(email: str) -> str:
    """An e-mail as the shop stores buyers' (trimmed, lower case)."""
    return email.strip().lower()


def generate_code() -> str:
    """A fresh referral code such as RP-7K3M that no reseller holds yet."""
    for _ in range(20):
        code = CODE_PREFIX + "".join(secrets.choice(CODE_ALPHABET) for _ in range(4))
        if reseller_by_code(code) is None:
            return code
    raise ResellerExists("could not find a free referral code; give one")


def reseller_by_code(code: str) -> Reseller | None:
    """The reseller holding a referral code, in any network."""
    return db.session.scalar(select(Reseller).where(Reseller.code == normalise_code(code)))


def reseller_for_user(user_id: uuid.UUID) -> Reseller | None:
    """The reseller a signed-in user acts for, if any."""
    return db.session.scalar(select(Reseller).where(Reseller.user_id == user_id))


def network_reseller(partner_id: uuid.UUID, code: str) -> Reseller:
    """The reseller by code in one partner's network; UnknownReseller otherwise."""
    reseller = reseller_by_code(code)
    if reseller is None or reseller.partner_id != partner_id:
        raise UnknownReseller(f"no reseller {normalise_code(code)!r} in this network")
    return reseller


def create_reseller(
    partner: Partner,
    name: str,
    email: str,
    code: str | None = None,
    password: str | None = None,
) -> Reseller:
    """Create a reseller in a partner's network, with a login when a password is given."""
    code = normalise_code(code) if code else generate_code()
    if reseller_by_code(code) is not None:
        raise ResellerExists(f"referral code {code} is taken")
    email = normalise_email(email)
    reseller = Reseller(partner_id=partner.id, code=code, name=name.strip(), email=email)
    if password is not None:
        if db.session.scalar(select(User).where(User.email == email)) is not None:
            raise ResellerExists(f"a login for {email} already exists")
        problem = password_problem(password, staff=True, user_inputs=(email, reseller.name))
        if problem:
            raise WeakPassword(problem)
        # A reseller's address is the one the network's partner gave: confirmed with the login.
        user = User(email=email, name=reseller.name, role=Role.RESELLER,
                    password_hash=hash_password(password), email_verified_at=utcnow())
        db.session.add(user)
        db.session.flush()
        reseller.user_id = user.id
    db.session.add(reseller)
    db.session.flush()
    from commissions.benefits import grant_newcomer  # benefits reads programmes: import late

    grant_newcomer(reseller)
    db.session.commit()
    return reseller


def programme_for(partner_id: uuid.UUID) -> Programme | None:
    """The commission programme of a partner's network, if it runs one."""
    return db.session.scalar(
        select(Programme)
        .where(Programme.partner_id == partner_id)
        .options(selectinload(Programme.versions), selectinload(Programme.promotions),
                 selectinload(Programme.multipliers))
    )


def attribution_window(partner_id: uuid.UUID) -> timedelta | None:
    """How long a referral cookie counts in a partner's network; None if it runs no programme."""
    programme = programme_for(partner_id)
    return timedelta(days=programme.attribution_days) if programme is not None else None


def published_versions(programme: Programme) -> list[ProgrammeVersion]:
    """The programme's published versions, oldest first (drafts and discarded ones never count)."""
    return sorted((v for v in programme.versions
                   if v.status == VersionStatus.PUBLISHED and v.valid_from is not None),
                  key=lambda v: v.valid_from or v.created_at)


def latest_version(programme: Programme) -> ProgrammeVersion | None:
    """The published version that starts last (in force now, or from a later date)."""
    versions = published_versions(programme)
    return versions[-1] if versions else None


def version_at(programme: Programme, when: datetime) -> ProgrammeVersion | None:
    """The published version in force at a time: the latest that started at or before it."""
    aware(when)
    current = [v for v in published_versions(programme)
               if v.valid_from is not None and v.valid_from <= when]
    return current[-1] if current else None


def promotions_at(programme: Programme, when: datetime) -> list[ActivePromotion]:
    """The promotions in force at a time, oldest first."""
    aware(when)
    return [
        ActivePromotion(p.name, Decimal(p.multiplier), p.family)
        for p in programme.promotions
        if p.starts_at <= when < p.ends_at
    ]


def multipliers_at(programme: Programme, when: datetime) -> list[ActiveMultiplier]:
    """The product multipliers in force at a time, oldest first."""
    aware(when)
    return [
        ActiveMultiplier(m.name, Decimal(m.factor), frozenset(m.product_codes or ()), m.family)
        for m in programme.multipliers
        if m.starts_at <= when < m.ends_at
    ]


def now_or(now: datetime | None) -> datetime:
    """The given time (aware) or the current UTC time."""
    return utcnow() if now is None else aware(now)
