"""The newcomer offer: a programme's self-use benefit, free for a new reseller's first year.

At each anniversary the next year is decided once: free when the reseller made at least
`SALES_TO_KEEP_FREE` sales in the year just ended, else billed at `BILLED_FRACTION` of the
benefit's public price, as a negative ledger adjustment netted against the reseller's next
payout. A sale is an order attributed to the reseller, paid within the year (its `paid_at` in
[start, end)) and not refunded in full nor under refund or dispute when the year is decided.
The year's row (`reseller_benefit_periods`, unique per reseller and year) and its charge are
written in one transaction, so a repeated or concurrent run decides an anniversary once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from commerce.models import Order, Partner, PaymentStatus
from commissions.errors import BenefitError
from commissions.models import (
    BenefitPeriod,
    BenefitStatus,
    EntryKind,
    LedgerEntry,
    OrderAttribution,
    Programme,
    Reseller,
)
from commissions.programmes import aware, now_or, programme_for
from commissions.rules import format_amount, to_cents
from commissions.services import _add_months
from extensions import db
from partners.models import PartnerChange

log = logging.getLogger("comptoir.commissions")

SALES_TO_KEEP_FREE = 2
BILLED_FRACTION = Decimal("0.5")
# Still a sale: paid, or refunded for some lines only.
SALE_STATUSES = (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED)
BENEFIT_NAME_LENGTH = 200


@dataclass(frozen=True)
class BenefitDecision:
    """What a run decided (or found decided) for one anniversary of one reseller."""

    reseller_code: str
    year: int
    starts_at: datetime
    status: str
    sales_counted: int | None
    price_cents: int
    currency: str
    outcome: str  # granted, renewed, already_decided


@dataclass(frozen=True)
class BenefitView:
    """Where a reseller stands with the self-use benefit, for its dashboard."""

    name: str
    year: int
    status: str
    starts_at: datetime
    ends_at: datetime
    sales_so_far: int
    sales_needed: int
    billed_price_cents: int  # what the next year costs if it is billed
    charged_cents: int  # what this year cost (0 when free)
    currency: str

    @property
    def keeps_free(self) -> bool:
        return self.sales_needed == 0


def billed_price(programme: Programme) -> int:
    """Half the benefit's public price, rounded half-even to the cent."""
    return to_cents(Decimal(programme.benefit_price_cents or 0) * BILLED_FRACTION)


def offer_running(programme: Programme | None) -> bool:
    """Whether a programme offers the benefit at all."""
    return bool(programme is not None and programme.benefit_name
                and programme.benefit_price_cents and programme.benefit_starts_at)


def set_benefit(partner: Partner, name: str, price_cents: int, starts_at: datetime, actor: str,
                now: datetime | None = None) -> Programme:
    """Define the programme's newcomer offer (benefit, public price excl. VAT, start); audited."""
    programme = programme_for(partner.id)
    if programme is None:
        raise BenefitError(f"partner {partner.slug} runs no programme")
    name = name.strip()
    if not name or len(name) > BENEFIT_NAME_LENGTH:
        raise BenefitError(f"name the benefit (at most {BENEFIT_NAME_LENGTH} characters)")
    if price_cents <= 0:
        raise BenefitError("the public price is a positive amount")
    if starts_at.tzinfo is None:
        raise BenefitError("give the offer's start with a time zone")
    if not actor.strip():
        raise BenefitError("say who makes the change (actor)")
    before = {"benefit_name": programme.benefit_name,
              "benefit_price_cents": programme.benefit_price_cents,
              "benefit_starts_at": programme.benefit_starts_at.isoformat()
              if programme.benefit_starts_at else None}
    after = {"benefit_name": name, "benefit_price_cents": price_cents,
             "benefit_starts_at": starts_at.isoformat()}
    changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    if changes:
        db.session.add(PartnerChange(partner_id=partner.id, action="benefit", actor=actor.strip(),
                                     changes=changes, at=now_or(now)))
        programme.benefit_name = name
        programme.benefit_price_cents = price_cents
        programme.benefit_starts_at = starts_at
        db.session.commit()
    return programme


def sales_in(reseller: Reseller, starts_at: datetime, ends_at: datetime) -> int:
    """The reseller's sales paid in [starts_at, ends_at) that still stand."""
    return int(db.session.scalar(
        select(func.count(Order.id))
        .join(OrderAttribution, OrderAttribution.order_id == Order.id)
        .where(OrderAttribution.reseller_id == reseller.id,
               Order.partner_id == reseller.partner_id,
               Order.payment_status.in_([str(s) for s in SALE_STATUSES]),
               Order.paid_at >= starts_at, Order.paid_at < ends_at)) or 0)


def periods_of(reseller: Reseller) -> list[BenefitPeriod]:
    """A reseller's benefit years, first year first."""
    return list(db.session.scalars(select(BenefitPeriod)
                                   .where(BenefitPeriod.reseller_id == reseller.id)
                                   .order_by(BenefitPeriod.year)))


def _period(reseller: Reseller, year: int) -> BenefitPeriod | None:
    return db.session.scalar(select(BenefitPeriod).where(
        BenefitPeriod.reseller_id == reseller.id, BenefitPeriod.year == year))


def _write_once(period: BenefitPeriod, charge: LedgerEntry | None) -> bool:
    """Write a year (and its charge) in a savepoint; False if another run wrote that year."""
    try:
        with db.session.begin_nested():
            db.session.add(period)
            db.session.flush()  # the unique (reseller, year) decides before any charge exists
            if charge is not None:
                db.session.add(charge)
                db.session.flush()
                period.ledger_entry_id = charge.id
    except IntegrityError:
        return False
    return True


def _decision(reseller: Reseller, period: BenefitPeriod, outcome: str) -> BenefitDecision:
    return BenefitDecision(reseller.code, period.year, period.starts_at, str(period.status),
                           period.sales_counted, period.price_cents, period.currency, outcome)


def grant_newcomer(
    reseller: Reseller, programme: Programme | None = None
) -> BenefitDecision | None:
    """Give a reseller that joined after the offer started its free first year (no commit)."""
    programme = programme or programme_for(reseller.partner_id)
    if not offer_running(programme):
        return None
    assert programme is not None and programme.benefit_starts_at is not None
    joined = aware(reseller.created_at)
    if joined < programme.benefit_starts_at:
        return None
    existing = _period(reseller, 1)
    if existing is not None:
        return _decision(reseller, existing, "already_decided")
    period = BenefitPeriod(reseller_id=reseller.id, programme_id=programme.id, year=1,
                           benefit_name=programme.benefit_name, starts_at=joined,
                           ends_at=_add_months(joined, 12), status=BenefitStatus.FREE,
                           sales_counted=None, price_cents=0, currency=programme.currency)
    if not _write_once(period, None):
        found = _period(reseller, 1)
        assert found is not None
        return _decision(reseller, found, "already_decided")
    return _decision(reseller, period, "granted")


def _renew(reseller: Reseller, programme: Programme, anchor: datetime, last: BenefitPeriod,
           now: datetime) -> tuple[BenefitPeriod, str]:
    """Decide the anniversary that ends `last`: the next year, free or billed, written once.

    Years are counted from the first year's start (`anchor`), so one joined on 29 February
    has its anniversary on the 28th in common years and on the 29th again in leap years.
    """
    sales = sales_in(reseller, last.starts_at, last.ends_at)
    free = sales >= SALES_TO_KEEP_FREE
    price = 0 if free else billed_price(programme)
    year = last.year + 1
    period = BenefitPeriod(
        reseller_id=reseller.id, programme_id=programme.id, year=year,
        benefit_name=programme.benefit_name, starts_at=last.ends_at,
        ends_at=_add_months(anchor, 12 * year),
        status=BenefitStatus.FREE if free else BenefitStatus.BILLED, sales_counted=sales,
        price_cents=price, currency=programme.currency)
    charge = None
    if not free:
        public = format_amount(programme.benefit_price_cents or 0, programme.currency)
        charge = LedgerEntry(
            reseller_id=reseller.id, kind=EntryKind.ADJUSTMENT, amount_cents=-price,
            currency=programme.currency, rule="benefit.renewal", rate=None,
            explanation=(f"{programme.benefit_name}, year {year}: 50% × {public} public price"
                         f" (VAT excluded) = {format_amount(price, programme.currency)}"),
            created_at=now, payable_at=last.ends_at,
            reason=(f"newcomer offer: {sales} sale(s) from {last.starts_at.date().isoformat()}"
                    f" to {last.ends_at.date().isoformat()}; {SALES_TO_KEEP_FREE} keep it free"),
            actor="system")
    if _write_once(period, charge):
        return period, "renewed"
    found = _period(reseller, year)
    assert found is not None
    return found, "already_decided"


def renew_due(reseller: Reseller, now: datetime) -> list[BenefitDecision]:
    """Decide each anniversary of a reseller that has passed, oldest first; commits each."""
    programme = programme_for(reseller.partner_id)
    if not offer_running(programme) or not reseller.active:
        return []
    assert programme is not None
    decisions = []
    granted = grant_newcomer(reseller, programme)
    if granted is not None and granted.outcome == "granted":
        decisions.append(granted)
        db.session.commit()
    periods = periods_of(reseller)
    if not periods:
        return decisions
    last = periods[-1]
    while last.ends_at <= now:
        last, outcome = _renew(reseller, programme, periods[0].starts_at, last, now)
        db.session.commit()
        decisions.append(_decision(reseller, last, outcome))
        if outcome == "renewed":
            log.info("benefit of %s, year %d: %s (%s sales)", reseller.code, last.year,
                     last.status, last.sales_counted)
    return decisions


def run_benefits(now: datetime | None = None) -> list[BenefitDecision]:
    """The daily job: first years owed and anniversaries due, for every active reseller."""
    now = now_or(now)
    programmes = db.session.scalars(select(Programme).where(
        Programme.benefit_starts_at.is_not(None), Programme.benefit_starts_at <= now)).all()
    decisions: list[BenefitDecision] = []
    for programme in programmes:
        resellers = db.session.scalars(select(Reseller).where(
            Reseller.partner_id == programme.partner_id, Reseller.active.is_(True),
            Reseller.created_at >= programme.benefit_starts_at).order_by(Reseller.code)).all()
        for reseller in resellers:
            decisions += renew_due(reseller, now)
    return decisions


def benefit_status(reseller: Reseller, now: datetime) -> BenefitView | None:
    """The reseller's current benefit year, the sales counted in it so far, what is still needed."""
    programme = programme_for(reseller.partner_id)
    periods = periods_of(reseller)
    if programme is None or not periods:
        return None
    current = next((p for p in periods if p.starts_at <= now < p.ends_at), periods[-1])
    sales = sales_in(reseller, current.starts_at, min(now, current.ends_at))
    return BenefitView(current.benefit_name, current.year, str(current.status),
                       current.starts_at, current.ends_at, sales,
                       max(0, SALES_TO_KEEP_FREE - sales), billed_price(programme),
                       current.price_cents, current.currency)
