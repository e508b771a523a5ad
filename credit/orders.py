"""Buying on account: a reseller's order for a client, paid by its credit line.

The account's row is locked first (`SELECT ... FOR UPDATE` on PostgreSQL), so two orders placed
at once are checked one after the other against what the first left. Refused, nothing is
written; accepted, the order, its attribution, the charge and the payment's confirmation commit
together: the payment goes through `payments.services.confirm_payment` as a card's would, so
the order's `OrderPaid` starts fulfilment, the invoice, the commission and the e-mails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l

from commerce.models import Order
from commerce.orders import BuyerDetails, LineRequest, place_order
from commerce.tax import TaxDecision
from commerce.vies import ViesAnswer
from commissions import attribute_order
from commissions.models import Reseller
from credit.accounts import lock_account, money, standing
from credit.errors import CreditRefused
from credit.models import CreditEntry, EntryKind
from credit.terms import due_on
from extensions import db
from payments.base import PaymentEvent, PaymentOutcome
from payments.services import ConfirmResult, confirm_payment

GATEWAY = "account"
EVENT_TYPE = "credit.charge"
SOURCE = "account"


@dataclass(frozen=True)
class AccountOrder:
    """What the reseller asks: the client's lines and details, and the terms they accepted."""

    lines: list[LineRequest]
    buyer: BuyerDetails
    terms_version: str
    consent_at: datetime
    consent_version: str
    tax: TaxDecision | None = None
    vies: ViesAnswer | None = None


def buy_on_account(reseller: Reseller, command: AccountOrder, now: datetime) -> Order:
    """Place and pay an order on the reseller's credit line, or raise CreditRefused (and the
    OrderError of an order that cannot be placed) with nothing written."""
    try:
        return _buy(reseller, command, now)
    except BaseException:
        db.session.rollback()
        raise


def _buy(reseller: Reseller, command: AccountOrder, now: datetime) -> Order:
    account = lock_account(reseller)
    if account is None or not account.active or not reseller.active:
        raise CreditRefused(str(_l("You have no credit line on this shop: ask the platform to "
                                   "open one, or send your client a cart link to pay by card.")),
                            "no_credit_line")
    now_standing = standing(account, now)
    late = now_standing.oldest_overdue
    if late is not None:
        raise CreditRefused(str(_l(
            "Orders on account are blocked: %(amount)s was due on %(date)s and is still unpaid. "
            "Pay it by card or transfer and order again.",
            amount=money(now_standing.overdue_cents, account.currency),
            date=late.on.isoformat())), "overdue")
    order = place_order(reseller.partner, command.lines, command.buyer, gateway=GATEWAY,
                        source=SOURCE, tax=command.tax, vies=command.vies,
                        terms_version=command.terms_version, consent_at=command.consent_at,
                        consent_version=command.consent_version)
    db.session.flush()  # the order's defaults (currency) are set; a refusal rolls it back
    if order.currency != account.currency:
        raise CreditRefused(str(_l("This credit line is in %(currency)s; the order is not.",
                                   currency=account.currency)), "currency")
    if order.total_cents > now_standing.available_cents:
        raise CreditRefused(str(_l(
            "This order of %(total)s is more than your available credit of %(available)s: "
            "remove some items, or pay part of your balance first.",
            total=money(order.total_cents, order.currency),
            available=money(now_standing.available_cents, account.currency))), "over_limit")
    attribute_order(order, assisted_by=reseller.code, source="account")
    db.session.add(CreditEntry(
        account_id=account.id, kind=EntryKind.CHARGE, amount_cents=order.total_cents,
        currency=order.currency, order_id=order.id, due_on=due_on(now, account.term_days),
        booked_at=now, description=f"{order.number} · {order.name}"[:200]))
    event = PaymentEvent(event_id=f"charge:{order.id}", event_type=EVENT_TYPE,
                         outcome=PaymentOutcome.PAID, order_id=order.id, reference=None,
                         amount_cents=order.total_cents, currency=order.currency)
    result = confirm_payment(event, GATEWAY)  # commits the order, the charge and OrderPaid
    if result != ConfirmResult.PAID:
        raise RuntimeError(f"order {order.number} on account was not confirmed: {result}")
    return order
