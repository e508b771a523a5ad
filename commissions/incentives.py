"""Promotions and product multipliers of a programme, as the operator runs them.

A promotion multiplies the back-end margin over a window, for one family or every line ("doubled
back-end margins"); it is created to start now or later, edited until it starts, and ended early
(its end moves to now; one that has not started is withdrawn). A product multiplier makes the
sales of some products, or of a family, count several times over a window ("every SQL Server sale
counts double in March"); it is created and ended the same way. Both multiply (rules.py). Nothing
here touches the ledger: an entry keeps the factors in force at its delivery. Every change is
audited; the caller commits.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from commerce.models import Partner, Product
from commissions import audit
from commissions.errors import ProgrammeError
from commissions.models import ProductMultiplier, Promotion
from commissions.programme_admin import NAME_LENGTH, catalogue_families, programme_or_refuse
from commissions.programmes import aware
from extensions import db

MAX_FACTOR = Decimal(10)
FACTOR_PLACES = 3  # Numeric(6, 3)


@dataclass(frozen=True)
class Window:
    """A half-open window [starts_at, ends_at), aware datetimes."""

    starts_at: datetime
    ends_at: datetime


def _factor(value: Any, errors: dict[str, str], field: str) -> Decimal:
    try:
        factor = Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        errors[field] = str(_l("not a decimal, e.g. 2 for double"))
        return Decimal(0)
    if isinstance(value, bool) or not factor.is_finite() or not 0 < factor <= MAX_FACTOR:
        errors[field] = str(_l("a factor above 0 and at most %(max)s, e.g. 2 for double",
                               max=MAX_FACTOR))
    elif -factor.as_tuple().exponent > FACTOR_PLACES:  # type: ignore[operator]
        errors[field] = str(_l("at most %(places)d decimal places", places=FACTOR_PLACES))
    return factor


def _name(value: str, errors: dict[str, str]) -> str:
    name = " ".join((value or "").split())
    if not name or len(name) > NAME_LENGTH:
        errors["name"] = str(_l("1 to %(limit)d characters", limit=NAME_LENGTH))
    return name


def _window(window: Window, now: datetime, errors: dict[str, str]) -> None:
    if aware(window.starts_at) < now:
        errors["starts_at"] = str(_l("is in the past: it starts now or later (sales already "
                                     "accrued keep their commission)"))
    if aware(window.ends_at) <= window.starts_at:
        errors["ends_at"] = str(_l("must be after the start"))


def _family(family: str | None, families: Collection[str], errors: dict[str, str]
            ) -> str | None:
    family = (family or "").strip().lower() or None
    if family is not None and family not in families:
        errors["family"] = str(_l("no product family %(family)s in the catalogue; the families "
                                  "are: %(families)s", family=repr(family),
                                  families=", ".join(sorted(families))))
    return family


def check_promotion(name: str, multiplier: Any, window: Window, family: str | None,
                    now: datetime) -> tuple[str, Decimal, str | None]:
    """A promotion's clean values, or ProgrammeError naming each bad field."""
    aware(now)
    errors: dict[str, str] = {}
    clean_name = _name(name, errors)
    factor = _factor(multiplier, errors, "multiplier")
    _window(window, now, errors)
    clean_family = _family(family, catalogue_families(kind=None), errors)
    if errors:
        raise ProgrammeError(errors)
    return clean_name, factor, clean_family


def create_promotion(
    partner: Partner, name: str, multiplier: Any, window: Window, actor: str, now: datetime,
    family: str | None = None,
) -> Promotion:
    """Add a promotion to the partner's programme, starting now or later."""
    programme = programme_or_refuse(partner)
    clean_name, factor, clean_family = check_promotion(name, multiplier, window, family, now)
    promotion = Promotion(name=clean_name, multiplier=factor, starts_at=window.starts_at,
                          ends_at=window.ends_at, family=clean_family, created_by=actor)
    programme.promotions.append(promotion)
    db.session.flush()
    audit.record(programme, "promotion created", actor, now, subject_id=promotion.id,
                 after=audit.promotion_values(promotion))
    db.session.flush()
    return promotion


def edit_promotion(
    promotion: Promotion, name: str, multiplier: Any, window: Window, actor: str, now: datetime,
    family: str | None = None,
) -> Promotion:
    """Change a promotion that has not started yet."""
    aware(now)
    if promotion.starts_at <= now:
        raise ProgrammeError({"promotion": str(_l("%(name)s has started: it can only be ended",
                                                  name=promotion.name))})
    clean_name, factor, clean_family = check_promotion(name, multiplier, window, family, now)
    before = audit.promotion_values(promotion)
    promotion.name, promotion.multiplier, promotion.family = clean_name, factor, clean_family
    promotion.starts_at, promotion.ends_at = window.starts_at, window.ends_at
    db.session.flush()
    after = audit.promotion_values(promotion)
    if after != before:
        audit.record(promotion.programme, "promotion edited", actor, now,
                     subject_id=promotion.id, before=before, after=after)
    db.session.flush()
    return promotion


def _end(subject: Promotion | ProductMultiplier, kind: str, values: dict[str, Any], actor: str,
         now: datetime) -> str:
    """End a running promotion or multiplier now, or withdraw one that has not started."""
    aware(now)
    programme = subject.programme
    if subject.ends_at <= now:
        raise ProgrammeError({kind: str(_l("%(name)s is already over", name=subject.name))})
    if subject.starts_at > now:
        if isinstance(subject, Promotion):
            programme.promotions.remove(subject)  # delete-orphan: the row goes with it
        else:
            programme.multipliers.remove(subject)
        audit.record(programme, f"{kind} withdrawn", actor, now, subject_id=subject.id,
                     before=values)
        db.session.flush()
        return "withdrawn"
    subject.ends_at = now
    db.session.flush()
    after = (audit.promotion_values(subject) if isinstance(subject, Promotion)
             else audit.multiplier_values(subject))
    audit.record(programme, f"{kind} ended", actor, now, subject_id=subject.id, before=values,
                 after=after)
    db.session.flush()
    return "ended"


def end_promotion(promotion: Promotion, actor: str, now: datetime) -> str:
    """End a running promotion now ("ended"), or withdraw one not started ("withdrawn")."""
    return _end(promotion, "promotion", audit.promotion_values(promotion), actor, now)


def _product_codes(codes: Collection[str], errors: dict[str, str]) -> list[str]:
    clean = sorted({c.strip().upper() for c in codes if c and c.strip()})
    if clean:
        found = set(db.session.scalars(select(Product.code).where(Product.code.in_(clean))))
        missing = [c for c in clean if c not in found]
        if missing:
            errors["product_codes"] = str(_l("not in the catalogue: %(codes)s",
                                             codes=", ".join(missing)))
    return clean


def check_multiplier(name: str, factor: Any, window: Window, now: datetime, *,
                     product_codes: Collection[str] = (), family: str | None = None
                     ) -> tuple[str, Decimal, list[str], str | None]:
    """A multiplier's clean values, or ProgrammeError naming each bad field."""
    aware(now)
    errors: dict[str, str] = {}
    clean_name = _name(name, errors)
    clean_factor = _factor(factor, errors, "factor")
    _window(window, now, errors)
    codes = _product_codes(product_codes, errors)
    clean_family = _family(family, catalogue_families(kind=None), errors)
    if bool(codes) == bool(clean_family) and "product_codes" not in errors:
        errors["scope"] = str(_l("give either product codes or a family"))
    if errors:
        raise ProgrammeError(errors)
    return clean_name, clean_factor, codes, clean_family


def create_multiplier(
    partner: Partner, name: str, factor: Any, window: Window, actor: str, now: datetime, *,
    product_codes: Collection[str] = (), family: str | None = None,
) -> ProductMultiplier:
    """Make sales of some products (or a family) count `factor` times over a window."""
    programme = programme_or_refuse(partner)
    clean_name, clean_factor, codes, clean_family = check_multiplier(
        name, factor, window, now, product_codes=product_codes, family=family)
    multiplier = ProductMultiplier(name=clean_name, factor=clean_factor, product_codes=codes,
                                   family=clean_family, starts_at=window.starts_at,
                                   ends_at=window.ends_at, created_at=now, created_by=actor)
    programme.multipliers.append(multiplier)
    db.session.flush()
    audit.record(programme, "multiplier created", actor, now, subject_id=multiplier.id,
                 after=audit.multiplier_values(multiplier))
    db.session.flush()
    return multiplier


def end_multiplier(multiplier: ProductMultiplier, actor: str, now: datetime) -> str:
    """End a running multiplier now ("ended"), or withdraw one not started ("withdrawn")."""
    return _end(multiplier, "multiplier", audit.multiplier_values(multiplier), actor, now)


def add_promotion(
    partner: Partner, name: str, multiplier: Decimal, starts_at: datetime, ends_at: datetime,
    family: str | None = None, actor: str = "system",
) -> Promotion:
    """Add a promotion as set up at its start (for scripts and tests); commits."""
    promotion = create_promotion(partner, name, multiplier, Window(starts_at, ends_at), actor,
                                 now=starts_at, family=family)
    db.session.commit()
    return promotion
