"""Demo programme and resellers for a partner's network; idempotent, for the demo loader."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from commerce.models import Partner, Role, User
from commissions.models import Reseller
from commissions.programmes import (
    CODE_ALPHABET,
    CODE_PREFIX,
    add_promotion,
    programme_for,
    set_programme,
)
from commissions.rules import Rates
from extensions import db, utcnow

DEMO_PASSWORD = "demo-revendeur-2026"  # noqa: S105 (a demo login, printed by demo-credentials)
DEMO_RESELLERS = ("Dupont Informatique", "Atelier Numérique du Marais")

# Back-end margins in line with the partners' other channels; add-ons are services, better paid.
DEMO_RATES = Rates.from_json({
    "perpetual": {"office": "0.08", "windows": "0.05", "visio": "0.10", "project": "0.10",
                  "*": "0.05"},
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


def seed_demo(partner_slug: str, year: int | None = None) -> dict[str, Any]:
    """Give a partner a demo programme, two promotions and two resellers with logins."""
    partner = db.session.scalar(select(Partner).where(Partner.slug == partner_slug))
    if partner is None:
        raise LookupError(f"no partner {partner_slug!r}")
    year = year or datetime.now(UTC).year
    version = set_programme(partner, DEMO_RATES, _paris_midnight_utc(year, 1, 1),
                            name=f"Programme revendeurs {partner.name}", attribution_days=30,
                            holding_hours=48, minimum_payout_cents=5000,
                            note="Demo rates: Microsoft France's figures for subscriptions.")
    programme = programme_for(partner.id)
    assert programme is not None
    promotions = [
        ("Project compte double en mars", Decimal(2), _paris_midnight_utc(year, 3, 1),
         _paris_midnight_utc(year, 4, 1), "project"),
        ("Marges arrière doublées de fin d'année", Decimal(2), _paris_midnight_utc(year, 11, 15),
         _paris_midnight_utc(year + 1, 1, 1), None),
    ]
    existing = {p.name for p in programme.promotions}
    for name, multiplier, starts, ends, family in promotions:
        if name not in existing:
            add_promotion(partner, name, multiplier, starts, ends, family)
    resellers = [_upsert_reseller(partner, n, name) for n, name in enumerate(DEMO_RESELLERS, 1)]
    db.session.commit()
    return {"partner": partner.slug, "programme": programme.name,
            "version": version.valid_from.isoformat(), "resellers": resellers}
