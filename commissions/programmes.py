"""Programmes, their dated rate versions and promotions; resellers and their logins."""

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
from commissions.models import Programme, ProgrammeVersion, Promotion, Reseller
from commissions.rules import ActivePromotion, Rates
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
        .options(selectinload(Programme.versions), selectinload(Programme.promotions))
    )


def set_programme(
    partner: Partner,
    rates: Rates,
    valid_from: datetime,
    *,
    name: str | None = None,
    attribution_days: int | None = None,
    holding_hours: int | None = None,
    minimum_payout_cents: int | None = None,
    note: str = "",
) -> ProgrammeVersion:
    """Create the partner's programme if needed and add (or replace) the version from valid_from."""
    aware(valid_from)
    programme = programme_for(partner.id)
    if programme is None:
        programme = Programme(partner_id=partner.id, name=name or f"Programme {partner.name}")
        db.session.add(programme)
    elif name:
        programme.name = name
    if attribution_days is not None:
        programme.attribution_days = attribution_days
    if holding_hours is not None:
        programme.holding_hours = holding_hours
    if minimum_payout_cents is not None:
        programme.minimum_payout_cents = minimum_payout_cents
    version = next((v for v in programme.versions if v.valid_from == valid_from), None)
    if version is None:
        version = ProgrammeVersion(valid_from=valid_from, rates={})
        programme.versions.append(version)
    version.rates, version.note = rates.to_json(), note
    db.session.commit()
    return version


def add_promotion(
    partner: Partner,
    name: str,
    multiplier: Decimal,
    starts_at: datetime,
    ends_at: datetime,
    family: str | None = None,
) -> Promotion:
    """Add a commission multiplier over [starts_at, ends_at) to the partner's programme."""
    programme = programme_for(partner.id)
    if programme is None:
        raise LookupError(f"partner {partner.slug} runs no programme")
    if aware(ends_at) <= aware(starts_at) or multiplier <= 0:
        raise ValueError("a promotion needs a positive multiplier and an ordered window")
    promotion = Promotion(name=name, multiplier=multiplier, starts_at=starts_at, ends_at=ends_at,
                          family=family)
    programme.promotions.append(promotion)
    db.session.commit()
    return promotion


def attribution_window(partner_id: uuid.UUID) -> timedelta | None:
    """How long a referral cookie counts in a partner's network; None if it runs no programme."""
    programme = programme_for(partner_id)
    return timedelta(days=programme.attribution_days) if programme is not None else None


def version_at(programme: Programme, when: datetime) -> ProgrammeVersion | None:
    """The version in force at a time: the latest that started at or before it."""
    current = [v for v in programme.versions if v.valid_from <= aware(when)]
    return max(current, key=lambda v: v.valid_from) if current else None


def promotions_at(programme: Programme, when: datetime) -> list[ActivePromotion]:
    """The promotions in force at a time, oldest first."""
    aware(when)
    return [
        ActivePromotion(p.name, Decimal(p.multiplier), p.family)
        for p in programme.promotions
        if p.starts_at <= when < p.ends_at
    ]


def now_or(now: datetime | None) -> datetime:
    """The given time (aware) or the current UTC time."""
    return utcnow() if now is None else aware(now)
