"""Demo programme and resellers for a partner's network; idempotent, for the demo loader."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from commerce.models import Partner, Product, Role, User
from commissions.incentives import Window, create_multiplier, create_promotion
from commissions.models import ProgrammeVersion, Reseller
from commissions.programme_admin import (
    catalogue_families,
    create_programme,
    discard_draft,
    draft_of,
    draft_version,
    flat_rates,
    publish_version,
    update_draft,
)
from commissions.programmes import CODE_ALPHABET, CODE_PREFIX, latest_version, programme_for
from commissions.rules import DEFAULT_FAMILY, Rates
from extensions import db, utcnow

DEMO_PASSWORD = "demo-revendeur-2026"  # noqa: S105 (a demo login, printed by demo-credentials)
DEMO_RESELLERS = ("Dupont Informatique", "Atelier Numérique du Marais")
DEMO_ACTOR = "demo"
SQL_MULTIPLIER = "SQL Server compte double en mars"
# The SQL Server products of the demo catalogue (demo.PRODUCTS): core licence, server + CAL, CAL.
SQL_SERVER_CODES = ("SQL-2022-STD-CORE2", "SQL-2022-STD-SERVER", "SQL-2022-CAL-USER")

# Back-end margins in line with the partners' other channels; add-ons are services, better paid;
# server licences are large tickets, at a smaller share.
DEMO_RATES = Rates.from_json({
    "perpetual": {"office": "0.08", "windows": "0.05", "visio": "0.10", "project": "0.10",
                  "server": "0.06", "*": "0.05"},
    "addons": {"backup": "0.30", "install": "0.40"},
    "subscription": {"first_year": "0.12", "first_year_bonus": "0.06", "renewal": "0.06",
                     "upsell": "0.12", "upsell_bonus": "0.06"},
    "override": None,
})


def demo_code(slug: str, n: int) -> str:
    """A stable referral code for the n-th demo reseller of a partner (RP-XXXX)."""
    digest = hashlib.sha256(f"{slug}:{n}".encode()).digest()
    return CODE_PREFIX + "".join(CODE_ALPHABET[b % len(CODE_ALPHABET)] for b in digest[:4])


def _paris_midnight_utc(year: int, month: int, day: int) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(year, month, day, tzinfo=ZoneInfo("Europe/Paris")).astimezone(UTC)


def _upsert_reseller(partner: Partner, n: int, name: str) -> dict[str, str]:
    code = demo_code(partner.slug, n)
    email = f"revendeur{n}@{partner.slug}.demo-comptoir.example"
    user = db.session.scalar(select(User).where(User.email == email))
    hasher = PasswordHasher()
    if user is None:
        user = User(email=email, password_hash=hasher.hash(DEMO_PASSWORD))
        db.session.add(user)
    else:
        try:
            hasher.verify(user.password_hash, DEMO_PASSWORD)
        except (VerificationError, InvalidHashError):
            user.password_hash = hasher.hash(DEMO_PASSWORD)
    user.name, user.role, user.active = name, Role.RESELLER, True
    user.email_verified_at = user.email_verified_at or utcnow()
    db.session.flush()
    reseller = db.session.scalar(select(Reseller).where(Reseller.code == code))
    if reseller is None:
        reseller = Reseller(code=code, partner_id=partner.id)
        db.session.add(reseller)
    reseller.name, reseller.email, reseller.user_id, reseller.active = name, email, user.id, True
    return {"code": code, "name": name, "email": email, "password": DEMO_PASSWORD,
            "partner": partner.slug}


def _demo_programme(partner: Partner, year: int, now: datetime) -> ProgrammeVersion:
    """The programme with DEMO_RATES, through the operator's services, as set up on 1 January.

    Demo data that predates a change of DEMO_RATES gets a new version from now: published
    versions never change.
    """
    start = _paris_midnight_utc(year, 1, 1)
    programme = programme_for(partner.id)
    if programme is None:
        programme = create_programme(partner, DEMO_ACTOR, start,
                                     name=f"Programme revendeurs {partner.name}")
    latest = latest_version(programme)
    if latest is not None and Rates.from_json(latest.rates) == DEMO_RATES:
        return latest
    when = start if latest is None else max(now, _after(latest))
    draft = draft_of(programme)
    if draft is not None:
        discard_draft(draft, DEMO_ACTOR, when)
    families = set(DEMO_RATES.perpetual) - {DEFAULT_FAMILY}
    version = draft_version(partner, DEMO_ACTOR, when, families=families,
                            note="Demo rates: Microsoft France's figures for subscriptions.")
    update_draft(version, flat_rates(DEMO_RATES.to_json()), DEMO_ACTOR, when, replace=True,
                 families=families)
    return publish_version(version, when, DEMO_ACTOR, when)


def _after(version: ProgrammeVersion) -> datetime:
    assert version.valid_from is not None
    return version.valid_from + timedelta(seconds=1)


def seed_demo(partner_slug: str, year: int | None = None) -> dict[str, Any]:
    """Give a partner a demo programme, promotions, a multiplier and two resellers with logins.

    It runs the services the back office and `comptoir programmes` use, as on 1 January of the
    year (`now` = that day), so the year's promotions can start later; idempotent.
    """
    partner = db.session.scalar(select(Partner).where(Partner.slug == partner_slug))
    if partner is None:
        raise LookupError(f"no partner {partner_slug!r}")
    now = utcnow()
    year = year or now.year
    start = _paris_midnight_utc(year, 1, 1)
    version = _demo_programme(partner, year, now)
    programme = version.programme
    existing = {p.name for p in programme.promotions}
    families = set(catalogue_families(kind=None))
    for name, multiplier, starts, ends, family in _demo_promotions(year):
        if name not in existing and (family is None or family in families):
            create_promotion(partner, name, multiplier, Window(starts, ends), DEMO_ACTOR, start,
                             family=family)
    # Only the SQL Server products the catalogue holds (the demo's does; a bare one may not).
    sql_codes = db.session.scalars(select(Product.code)
                                   .where(Product.code.in_(SQL_SERVER_CODES))).all()
    if sql_codes and not any(m.name == SQL_MULTIPLIER for m in programme.multipliers):
        create_multiplier(partner, SQL_MULTIPLIER, Decimal(2),
                          Window(_paris_midnight_utc(year, 3, 1), _paris_midnight_utc(year, 4, 1)),
                          DEMO_ACTOR, start, product_codes=sql_codes)
    resellers = [_upsert_reseller(partner, n, name) for n, name in enumerate(DEMO_RESELLERS, 1)]
    db.session.commit()
    assert version.valid_from is not None
    return {"partner": partner.slug, "programme": programme.name,
            "version": version.valid_from.isoformat(), "resellers": resellers}


def _demo_promotions(year: int) -> list[tuple[str, Decimal, datetime, datetime, str | None]]:
    return [
        ("Project compte double en mars", Decimal(2), _paris_midnight_utc(year, 3, 1),
         _paris_midnight_utc(year, 4, 1), "project"),
        ("Marges arrière doublées de fin d'année", Decimal(2), _paris_midnight_utc(year, 11, 15),
         _paris_midnight_utc(year + 1, 1, 1), None),
    ]
