"""Ledger use cases: accrue on delivery, claw back on refund, adjust, and read balances.

Every entry is written once: a unique constraint on (order line, reseller, kind) holds however
many times, and however concurrently, a delivery or refund is reported. Accruals and clawbacks
run in the caller's transaction (an outbox consumer's); `adjust` is an operator action and commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from commerce.models import LicenceType, Order, OrderLine, PaymentStatus
from commerce.orders import ADDON_BACKUP, ADDON_INSTALL
from commissions.attribution import attach_buyer, attribution_for
from commissions.errors import InvalidAdjustment, UnknownOrder, UnknownReseller
from commissions.models import (
    Beneficiary,
    EntryKind,
    LedgerEntry,
    Programme,
    ProgrammeRole,
    Reseller,
)
from commissions.programmes import (
    multipliers_at,
    now_or,
    programme_for,
    promotions_at,
    reseller_by_code,
    version_at,
)
from commissions.rules import (
    Commission,
    LineFacts,
    Rates,
    SubscriptionEvent,
    commission_for,
    format_amount,
    split_margin,
)
from extensions import db

ADDON_KIND_BY_CODE = {ADDON_BACKUP: "backup", ADDON_INSTALL: "install"}
# The same subscription bought again from 60 days before its term ends to 90 days after is a
# renewal; later, the client is starting over.
RENEWAL_WINDOW = timedelta(days=60)
RENEWAL_GRACE = timedelta(days=90)
DEFAULT_MINIMUM_PAYOUT_CENTS = 5000


@dataclass(frozen=True)
class Balances:
    """A reseller's commissions by state, as sums of ledger entries at a time (cents)."""

    accrued: int
    payable: int
    paid: int
    minimum_payout: int

    @property
    def total(self) -> int:
        return self.accrued + self.payable + self.paid

    @property
    def next_payout(self) -> int:
        """What the next payout run would pay now: the payable sum if it reaches the minimum."""
        return self.payable if self.payable >= max(self.minimum_payout, 1) else 0


def line_facts(line: OrderLine) -> LineFacts:
    """The rules' view of an order line: net of VAT, add-on kind, licence type."""
    product = line.product
    return LineFacts(
        family=product.family,
        licence_type=str(product.licence_type),
        net_cents=line.total_cents - line.vat_cents,
        currency=line.order.currency,
        # An add-on rides on its product line, or stands alone as a backup renewal.
        addon=(ADDON_KIND_BY_CODE.get(line.product_code)
               if line.parent_line_id or line.renews_backup_id else None),
        term_months=product.term_months,
        product_code=line.product_code,
    )


def _add_months(when: datetime, months: int) -> datetime:
    month0 = when.month - 1 + months
    year, month = when.year + month0 // 12, month0 % 12 + 1
    for day in (when.day, 30, 29, 28):
        try:
            return when.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise ValueError(f"cannot add {months} months to {when}")


def infer_event(line: OrderLine, now: datetime) -> SubscriptionEvent:
    """First year, renewal or upsell, from the buyer's earlier subscription accruals in the network.

    Renewal: the same product again from 60 days before its term's end to 90 days after. Upsell
    (added users, or a new application): a subscription of the buyer still running. Else first year.
    Lines clawed back do not count.
    """
    order = line.order
    clawed = aliased(LedgerEntry)
    rows = db.session.execute(
        select(OrderLine.product_code, LedgerEntry.created_at, LedgerEntry.rule)
        .join(LedgerEntry, LedgerEntry.order_line_id == OrderLine.id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            Order.partner_id == order.partner_id,
            Order.email == order.email,
            LedgerEntry.kind == EntryKind.ACCRUAL,
            LedgerEntry.rule.like("subscription.%"),
            OrderLine.id != line.id,
            LedgerEntry.created_at <= now,
            ~select(clawed.id).where(clawed.order_line_id == OrderLine.id,
                                     clawed.kind == EntryKind.CLAWBACK).exists(),
        )
    ).all()
    if not rows:
        return SubscriptionEvent.FIRST_YEAR
    term = line.product.term_months or 12
    # A term starts with a first year or a renewal; added users ride on the running term.
    starts = [created for code, created, rule in rows
              if code == line.product_code and rule != "subscription.upsell"]
    term_end = _add_months(max(starts), term) if starts else None
    if term_end and term_end - RENEWAL_WINDOW <= now <= term_end + RENEWAL_GRACE:
        return SubscriptionEvent.RENEWAL
    if any(now < _add_months(created, term) for _, created, _ in rows):
        return SubscriptionEvent.UPSELL
    return SubscriptionEvent.FIRST_YEAR


def _entry(line_id: uuid.UUID, reseller_id: uuid.UUID, kind: EntryKind) -> LedgerEntry | None:
    return db.session.scalar(select(LedgerEntry).where(
        LedgerEntry.order_line_id == line_id, LedgerEntry.reseller_id == reseller_id,
        LedgerEntry.kind == kind))


def _insert_once(entry: LedgerEntry) -> LedgerEntry:
    """Insert an entry in a savepoint; if the unique constraint says it exists, return that one."""
    try:
        with db.session.begin_nested():
            db.session.add(entry)
    except IntegrityError:
        assert entry.order_line_id is not None
        existing = _entry(entry.order_line_id, entry.reseller_id, EntryKind(entry.kind))
        if existing is None:
            raise
        return existing
    return entry


def accrue_for_line(
    order_line_id: uuid.UUID,
    now: datetime | None = None,
    event: SubscriptionEvent | None = None,
) -> LedgerEntry | None:
    """Credit the attributed reseller for a delivered line, exactly once; None if nothing is due."""
    now = now_or(now)
    line = db.session.get(OrderLine, order_line_id)
    if line is None:
        raise UnknownOrder(f"no order line {order_line_id}")
    order = line.order
    attribution = attribution_for(order.id)
    if attribution is None or order.payment_status != PaymentStatus.PAID:
        return None
    existing = _entry(line.id, attribution.reseller_id, EntryKind.ACCRUAL)
    if existing is not None:
        return existing
    programme = programme_for(order.partner_id)
    version = version_at(programme, now) if programme is not None else None
    if programme is None or version is None:
        return None
    facts = line_facts(line)
    if event is None and line.subscription_event:  # a subscription's charge names its event
        event = SubscriptionEvent(line.subscription_event)
    if facts.licence_type == LicenceType.SUBSCRIPTION and facts.addon is None and event is None:
        event = infer_event(line, now)
    commission = commission_for(facts, Rates.from_json(version.rates),
                                promotions_at(programme, now),
                                event or SubscriptionEvent.FIRST_YEAR,
                                multipliers=multipliers_at(programme, now))
    if commission is None:
        return None
    shares = _shares(attribution.reseller, commission, programme, order.currency)
    written = [_insert_once(LedgerEntry(
        reseller_id=beneficiary_id, order_id=order.id, order_line_id=line.id,
        kind=EntryKind.ACCRUAL, amount_cents=amount, currency=order.currency,
        rule=commission.rule, rate=commission.rate, programme_version_id=version.id,
        explanation=explanation, created_at=now,
        payable_at=now + timedelta(hours=programme.holding_hours),
        reason=f"delivered; attributed by {attribution.rule}", beneficiary=beneficiary,
        share=share,
    )) for beneficiary, beneficiary_id, amount, share, explanation in shares]
    attach_buyer(order)
    db.session.flush()
    return written[0] if written else None


Share = tuple[Beneficiary, uuid.UUID, int, Decimal | None, str]


def _shares(
    seller: Reseller, commission: Commission, programme: Programme, currency: str
) -> list[Share]:
    """Who gets what of a line's margin: the seller, and its distributor when it is indirect.

    Shares of zero cents are not written; the seller's comes first.
    """
    whole: list[Share] = [(Beneficiary.SELLER, seller.id, commission.amount_cents, None,
                           commission.explanation)]
    if seller.programme_role != ProgrammeRole.INDIRECT or seller.distributor_id is None:
        return whole
    split = split_margin(commission.amount_cents, Decimal(programme.distributor_share), currency)
    if split.distributor_cents == 0:
        return whole
    shares: list[Share] = [(Beneficiary.SELLER, seller.id, split.seller_cents, 1 - split.share,
               f"{commission.explanation}; {split.seller_text}"),
              (Beneficiary.DISTRIBUTOR, seller.distributor_id, split.distributor_cents,
               split.share, f"{commission.explanation}; {split.distributor_text}"
                            f" on the sale of {seller.code}")]
    return [s for s in shares if s[2] != 0]


def accrue_for_order(
    order_id: uuid.UUID, now: datetime | None = None
) -> list[LedgerEntry]:
    """Accrue every line of a delivered order (add-ons included); idempotent."""
    line_ids = db.session.scalars(select(OrderLine.id).where(OrderLine.order_id == order_id)
                                  .order_by(OrderLine.position)).all()
    entries = [accrue_for_line(line_id, now) for line_id in line_ids]
    return [e for e in entries if e is not None]


def _with_addons(order_line_id: uuid.UUID) -> list[uuid.UUID]:
    line = db.session.get(OrderLine, order_line_id)
    if line is None:
        return [order_line_id]
    return [order_line_id, *(addon.id for addon in line.addons)]


def accrue_for_delivery(
    order_line_id: uuid.UUID, now: datetime | None = None
) -> list[LedgerEntry]:
    """Accrue a delivered software line and its add-ons (backup, installation help); idempotent."""
    entries = [accrue_for_line(line_id, now) for line_id in _with_addons(order_line_id)]
    return [e for e in entries if e is not None]


def clawback_for_refund(
    order_line_id: uuid.UUID, reason: str, now: datetime | None = None, actor: str = "system"
) -> list[LedgerEntry]:
    """Claw back a refunded or cancelled software line and its add-ons; idempotent."""
    return [e for i in _with_addons(order_line_id) for e in clawback_shares(i, reason, now, actor)]


def clawback_for_line(
    order_line_id: uuid.UUID, reason: str, now: datetime | None = None, actor: str = "system"
) -> LedgerEntry | None:
    """Take back a line's accrual (refund, wholesaler cancellation) once; None if none accrued.

    Each share (the seller's, its distributor's) is reversed by its own clawback; the seller's
    is returned.
    """
    entries = clawback_shares(order_line_id, reason, now, actor)
    return entries[0] if entries else None


def clawback_shares(
    order_line_id: uuid.UUID, reason: str, now: datetime | None = None, actor: str = "system"
) -> list[LedgerEntry]:
    """Reverse every accrued share of a line once, seller's first."""
    now = now_or(now)
    accruals = db.session.scalars(select(LedgerEntry).where(
        LedgerEntry.order_line_id == order_line_id, LedgerEntry.kind == EntryKind.ACCRUAL)
        .order_by(case((LedgerEntry.beneficiary == Beneficiary.SELLER, 0), else_=1))).all()
    entries = []
    for accrual in accruals:
        existing = _entry(order_line_id, accrual.reseller_id, EntryKind.CLAWBACK)
        if existing is not None:
            entries.append(existing)
            continue
        currency = accrual.currency
        # Payable no earlier than the accrual it cancels, so an unpaid pair nets to zero in
        # every state.
        entries.append(_insert_once(LedgerEntry(
            reseller_id=accrual.reseller_id, order_id=accrual.order_id,
            order_line_id=order_line_id, kind=EntryKind.CLAWBACK,
            amount_cents=-accrual.amount_cents, currency=accrual.currency, rule=accrual.rule,
            rate=accrual.rate, programme_version_id=accrual.programme_version_id,
            explanation=(f"reverses the accrual of {format_amount(accrual.amount_cents, currency)}"
                         f" made on {accrual.created_at.date().isoformat()} ({accrual.rule})"),
            created_at=now, payable_at=max(now, accrual.payable_at), reason=reason, actor=actor,
            beneficiary=accrual.beneficiary, share=accrual.share,
        )))
    db.session.flush()
    return entries


def clawback_for_order(
    order_id: uuid.UUID, reason: str, now: datetime | None = None, actor: str = "system"
) -> list[LedgerEntry]:
    """Claw back every accrued line of an order (a full refund); idempotent."""
    line_ids = db.session.scalars(select(OrderLine.id).where(OrderLine.order_id == order_id)
                                  .order_by(OrderLine.position)).all()
    return [e for line_id in line_ids for e in clawback_shares(line_id, reason, now, actor)]


def _reseller(reseller: Reseller | str) -> Reseller:
    if isinstance(reseller, Reseller):
        return reseller
    found = reseller_by_code(reseller)
    if found is None:
        raise UnknownReseller(f"no reseller {reseller!r}")
    return found


def adjust(
    reseller: Reseller | str, amount_cents: int, reason: str, actor: str,
    now: datetime | None = None,
) -> LedgerEntry:
    """Write an operator's adjustment (either sign) with its reason; payable at once."""
    reseller = _reseller(reseller)
    if not reason.strip() or not actor.strip() or amount_cents == 0:
        raise InvalidAdjustment("an adjustment needs a non-zero amount, a reason and an actor")
    now = now_or(now)
    programme = programme_for(reseller.partner_id)
    entry_currency = programme.currency if programme else "EUR"
    entry = LedgerEntry(
        reseller_id=reseller.id, kind=EntryKind.ADJUSTMENT, amount_cents=amount_cents,
        currency=entry_currency, rule="adjustment", rate=None,
        explanation=f"operator adjustment of {format_amount(amount_cents, entry_currency)}",
        created_at=now,
        payable_at=now, reason=reason.strip(), actor=actor.strip(),
    )
    db.session.add(entry)
    db.session.commit()
    return entry


def balances(reseller: Reseller | str, now: datetime | None = None) -> Balances:
    """Accrued (in holding), payable and paid sums of a reseller's ledger at a time."""
    reseller = _reseller(reseller)
    now = now_or(now)
    unpaid = LedgerEntry.payout_id.is_(None)
    amount = LedgerEntry.amount_cents

    def total(condition):  # type: ignore[no-untyped-def]
        return func.coalesce(func.sum(case((condition, amount), else_=0)), 0)

    accrued, payable, paid = db.session.execute(
        select(total(and_(unpaid, LedgerEntry.payable_at > now)),
               total(and_(unpaid, LedgerEntry.payable_at <= now)),
               total(LedgerEntry.payout_id.is_not(None)))
        .where(LedgerEntry.reseller_id == reseller.id)
    ).one()
    programme = programme_for(reseller.partner_id)
    minimum = programme.minimum_payout_cents if programme else DEFAULT_MINIMUM_PAYOUT_CENTS
    return Balances(int(accrued), int(payable), int(paid), minimum)
