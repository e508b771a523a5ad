"""Credit accounts: the operator's settings (audited) and where an account stands at a moment.

Nothing is a stored counter: the balance is the sum of the entries booked so far; what is due,
and what is overdue, follows from settling the oldest charges first with every credit (payments
and refunds alike).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from commerce.models import (
    Order,
    OrderLine,
    Partner,
    PartnerKind,
    PartnerProduct,
    PaymentStatus,
    Product,
    ProductKind,
    Refund,
    RefundLine,
    RefundStatus,
)
from commerce.money import format_money
from commissions.models import OrderAttribution, Reseller
from credit.errors import CreditError
from credit.models import CreditAccount, CreditChange, CreditEntry, CreditExtra, ExtraKind
from credit.terms import MAX_TERM_DAYS, paris_day, structured_reference
from extensions import ACTOR_LENGTH, db

MAX_LIMIT_CENTS = 10_000_000_00  # ten million euros: anything above is a typing mistake
# An OEM volume extra counts orders that stay paid: neither refunded nor disputed nor flagged.
FIRM_STATUSES = (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED,
                 PaymentStatus.REFUND_PENDING)


def money(cents: int, currency: str = "EUR") -> str:
    return format_money(cents, currency, str(get_locale() or "fr"))


# --- reading ------------------------------------------------------------------------------------


def account_of(reseller: Reseller) -> CreditAccount | None:
    return db.session.scalar(select(CreditAccount).where(CreditAccount.reseller_id == reseller.id))


def lock_account(reseller: Reseller) -> CreditAccount | None:
    """The reseller's account, its row locked until the transaction ends (PostgreSQL)."""
    return db.session.scalar(
        select(CreditAccount).where(CreditAccount.reseller_id == reseller.id)
        .with_for_update().execution_options(populate_existing=True))


@dataclass(frozen=True)
class ExtraValue:
    extra: CreditExtra
    amount_cents: int  # what it adds now (0 when it does not apply)
    why: str  # how it was worked out, for the dashboard and the back office


@dataclass(frozen=True)
class Due:
    on: date
    amount_cents: int
    overdue: bool


@dataclass(frozen=True)
class Standing:
    """An account at a moment: what it may spend, what it owes and when."""

    account: CreditAccount
    at: datetime
    limit_cents: int
    extras: list[ExtraValue]
    outstanding_cents: int
    dues: list[Due] = field(default_factory=list)

    @property
    def extras_cents(self) -> int:
        return sum(e.amount_cents for e in self.extras)

    @property
    def available_cents(self) -> int:
        if not self.account.active:
            return 0
        return max(0, self.limit_cents + self.extras_cents - self.outstanding_cents)

    @property
    def overdue_cents(self) -> int:
        return sum(d.amount_cents for d in self.dues if d.overdue)

    @property
    def oldest_overdue(self) -> Due | None:
        return next((d for d in self.dues if d.overdue), None)

    @property
    def next_due(self) -> Due | None:
        return next((d for d in self.dues if not d.overdue), None)


def standing(account: CreditAccount, now: datetime, *, as_of: bool = False) -> Standing:
    """Where the account stands at `now`, what is overdue then included.

    Every entry counts, however close to `now` it was booked (an order placed a moment before,
    by a process whose clock ran ahead, is owed all the same); `as_of` leaves out those booked
    from `now` on, for a statement of a past month.
    """
    query = select(CreditEntry).where(CreditEntry.account_id == account.id)
    if as_of:
        query = query.where(CreditEntry.booked_at < now)
    entries = db.session.scalars(query.order_by(CreditEntry.booked_at, CreditEntry.id)).all()
    outstanding = sum(e.amount_cents for e in entries)
    return Standing(account, now, account.limit_cents, extra_values(account, now), outstanding,
                    _dues(entries, paris_day(now)))


def _dues(entries: Sequence[CreditEntry], today: date) -> list[Due]:
    """What is left of each due date once every credit has settled the oldest charges first."""
    credit = -sum(e.amount_cents for e in entries if e.amount_cents < 0)
    left: dict[date, int] = {}
    for charge in sorted((e for e in entries if e.amount_cents > 0 and e.due_on is not None),
                         key=lambda e: (e.due_on, e.booked_at)):
        settled = min(credit, charge.amount_cents)
        credit -= settled
        if charge.amount_cents > settled:
            assert charge.due_on is not None
            left[charge.due_on] = left.get(charge.due_on, 0) + charge.amount_cents - settled
    return [Due(on, amount, on < today) for on, amount in sorted(left.items())]


def extra_values(account: CreditAccount, now: datetime) -> list[ExtraValue]:
    """Each extra of the account with what it adds at `now`."""
    return [_extra_value(account, extra, now) for extra in account.extras
            if extra.starts_at <= now and (extra.ends_at is None or now < extra.ends_at)]


def _extra_value(account: CreditAccount, extra: CreditExtra, now: datetime) -> ExtraValue:
    if extra.kind == ExtraKind.WHOLESALER:
        contracted = account.reseller.partner.wholesaler_code
        if contracted != extra.wholesaler_code:
            return ExtraValue(extra, 0, str(_l(
                "%(wholesaler)s's programme: the network now buys from %(contracted)s",
                wholesaler=extra.wholesaler_code, contracted=contracted)))
        return ExtraValue(extra, extra.amount_cents, str(_l(
            "%(wholesaler)s's programme", wholesaler=extra.wholesaler_code)))
    assert extra.step_cents is not None
    firm = firm_oem_cents(account.reseller, extra.starts_at, now)
    steps = firm // extra.step_cents
    return ExtraValue(extra, steps * extra.amount_cents, str(_l(
        "%(firm)s of firm OEM orders since %(since)s: %(steps)d × %(amount)s per %(step)s",
        firm=money(firm), since=paris_day(extra.starts_at).isoformat(), steps=steps,
        amount=money(extra.amount_cents), step=money(extra.step_cents))))


def oem_product_ids() -> Any:
    """OEM products: software a PC maker's store (a partner of kind oem) offers."""
    return (select(PartnerProduct.product_id).join(Partner, Partner.id == PartnerProduct.partner_id)
            .join(Product, Product.id == PartnerProduct.product_id)
            .where(Partner.kind == PartnerKind.OEM, Product.kind == ProductKind.SOFTWARE))


def firm_oem_cents(reseller: Reseller, since: datetime, until: datetime) -> int:
    """The reseller's firm OEM orders paid in [since, until), VAT excluded.

    The reseller's orders are those attributed to it (any rule, on account or not); firm lines
    are OEM software lines of orders still paid, less any line a refund holds or gave back.
    """
    refunded = (select(RefundLine.order_line_id).join(Refund, Refund.id == RefundLine.refund_id)
                .where(Refund.status != RefundStatus.FAILED))
    total = db.session.scalar(
        select(func.coalesce(func.sum(OrderLine.total_cents - OrderLine.vat_cents), 0))
        .join(Order, Order.id == OrderLine.order_id)
        .join(OrderAttribution, OrderAttribution.order_id == Order.id)
        .where(OrderAttribution.reseller_id == reseller.id,
               Order.payment_status.in_(FIRM_STATUSES),
               Order.paid_at >= since, Order.paid_at < until,
               OrderLine.parent_line_id.is_(None),
               OrderLine.product_id.in_(oem_product_ids()),
               OrderLine.id.not_in(refunded)))
    return int(total or 0)


# --- the operator's settings --------------------------------------------------------------------


def _audit(account: CreditAccount, action: str, changes: dict[str, Any], actor: str,
           reason: str) -> None:
    db.session.add(CreditChange(account_id=account.id, action=action, actor=actor[:ACTOR_LENGTH],
                                changes=changes, reason=reason[:300]))


def set_line(reseller: Reseller, *, limit_cents: int, term_days: int | None = None,
             active: bool | None = None, actor: str, reason: str = "") -> CreditAccount:
    """Open or change a reseller's credit line (the caller commits); audited field by field."""
    if isinstance(limit_cents, bool) or not isinstance(limit_cents, int) \
            or not 0 <= limit_cents <= MAX_LIMIT_CENTS:
        raise CreditError(str(_l("The limit must be an amount from 0 to %(max)s.",
                                 max=money(MAX_LIMIT_CENTS))), "limit")
    if term_days is not None and not 0 <= term_days <= MAX_TERM_DAYS:
        raise CreditError(str(_l("Payment terms are from 0 to %(max)d days end of month.",
                                 max=MAX_TERM_DAYS)), "term_days")
    account = account_of(reseller)
    if account is None:
        account = CreditAccount(id=uuid.uuid4(), reseller_id=reseller.id, limit_cents=0,
                                term_days=30, active=True,
                                reference=structured_reference(reseller.code))
        db.session.add(account)
        db.session.flush()
        _audit(account, "open", {"reference": [None, account.reference]}, actor, reason)
    after = {"limit_cents": limit_cents, "term_days": term_days, "active": active}
    changes = {name: [getattr(account, name), value] for name, value in after.items()
               if value is not None and getattr(account, name) != value}
    for name, (_before, value) in changes.items():
        setattr(account, name, value)
    if changes:
        _audit(account, "update", changes, actor, reason)
    db.session.flush()
    return account


def add_extra(account: CreditAccount, *, kind: str, amount_cents: int, starts_at: datetime,
              ends_at: datetime | None, actor: str, label: str = "",
              wholesaler_code: str | None = None, step_cents: int | None = None) -> CreditExtra:
    """Add guaranteed credit on top of the limit for a period (the caller commits); audited."""
    from fulfilment.wholesalers import WHOLESALERS

    if kind not in set(ExtraKind):
        raise CreditError(str(_l("Choose a wholesaler's programme or an OEM volume extra.")),
                          "kind")
    if not 0 < amount_cents <= MAX_LIMIT_CENTS:
        raise CreditError(str(_l("The extra must be a positive amount.")), "amount")
    if ends_at is not None and ends_at <= starts_at:
        raise CreditError(str(_l("The extra must end after it starts.")), "ends_at")
    if kind == ExtraKind.WHOLESALER:
        if wholesaler_code not in WHOLESALERS:
            raise CreditError(str(_l("Choose one of the wholesalers: %(names)s.",
                                     names=", ".join(sorted(WHOLESALERS)))), "wholesaler")
        step_cents = None
    else:
        if step_cents is None or not 0 < step_cents <= MAX_LIMIT_CENTS:
            raise CreditError(str(_l("Give the amount of firm OEM orders that earns each step.")),
                              "step")
        wholesaler_code = None
    extra = CreditExtra(account_id=account.id, kind=kind, amount_cents=amount_cents,
                        wholesaler_code=wholesaler_code, step_cents=step_cents,
                        starts_at=starts_at, ends_at=ends_at, label=label.strip()[:160],
                        created_by=actor[:ACTOR_LENGTH])
    db.session.add(extra)
    db.session.flush()
    _audit(account, "add_extra", {"extra": [None, _describe(extra)]}, actor, label)
    db.session.refresh(account)
    return extra


def end_extra(account: CreditAccount, extra_id: uuid.UUID, now: datetime, actor: str) -> None:
    """End an extra now (the caller commits); an extra already over is left as it is."""
    extra = db.session.get(CreditExtra, extra_id)
    if extra is None or extra.account_id != account.id:
        raise CreditError(str(_l("This extra is not on this credit line.")), "extra")
    if extra.ends_at is not None and extra.ends_at <= now:
        raise CreditError(str(_l("This extra has already ended.")), "extra")
    before = _describe(extra)
    extra.ends_at = max(now, extra.starts_at)
    _audit(account, "end_extra", {"extra": [before, _describe(extra)]}, actor, "")
    db.session.flush()


def _describe(extra: CreditExtra) -> dict[str, Any]:
    return {"kind": str(extra.kind), "amount_cents": extra.amount_cents,
            "wholesaler": extra.wholesaler_code, "step_cents": extra.step_cents,
            "starts_at": extra.starts_at.isoformat(),
            "ends_at": extra.ends_at.isoformat() if extra.ends_at else None}


def changes_of(account: CreditAccount, limit: int = 50) -> list[CreditChange]:
    return list(db.session.scalars(select(CreditChange).where(
        CreditChange.account_id == account.id).order_by(CreditChange.at.desc()).limit(limit)))


def entries_of(account: CreditAccount, limit: int = 200) -> list[CreditEntry]:
    return list(db.session.scalars(select(CreditEntry).where(
        CreditEntry.account_id == account.id)
        .order_by(CreditEntry.booked_at.desc(), CreditEntry.id).limit(limit)))


def all_accounts() -> list[CreditAccount]:
    return list(db.session.scalars(select(CreditAccount).join(Reseller)
                                   .order_by(Reseller.code)))
