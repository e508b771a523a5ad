"""Paying the balance: by card through the shop's gateway, or by a SEPA transfer an operator
records. Each payment is applied once.

A card payment is a `credit_payments` row (pending) and a checkout at the gateway for its
amount, marked with the purpose `credit`. Its events come back through the same seam as an
order's (the Stripe webhook, the return page, the test card page): each event id is claimed in
`processed_events`, the payment moves `pending -> applied` with a conditional UPDATE, and its
entry is unique per payment, so a repeated or concurrent event never credits twice. A transfer
is unique by its bank reference.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from commerce.models import ProcessedEvent
from commerce.numbers import next_value
from commissions.models import Reseller
from credit.accounts import money, standing
from credit.errors import CreditError
from credit.models import (
    CreditAccount,
    CreditEntry,
    CreditPayment,
    EntryKind,
    PaymentMethod,
    PaymentState,
)
from credit.terms import clean_reference
from extensions import ACTOR_LENGTH, db, insert_once
from payments.base import (
    CheckoutLine,
    CheckoutRedirect,
    CheckoutRequest,
    PaymentEvent,
    PaymentOutcome,
)

log = logging.getLogger("comptoir.credit")

PURPOSE = "credit"


def _number(now: datetime) -> str:
    return f"CLP-{now.year}-{next_value(f'credit-payment-{now.year}'):06d}"


# --- by card ------------------------------------------------------------------------------------


def start_card_payment(account: CreditAccount, amount_cents: int, *, success_url: str,
                       cancel_url: str, locale: str, now: datetime) -> CheckoutRedirect:
    """Open a checkout for part or all of the balance; the payment waits for the gateway."""
    from payments.services import gateway_for

    owed = standing(account, now).outstanding_cents
    if owed <= 0:
        raise CreditError(str(_l("Nothing is owed on your credit line.")), "amount")
    if not 0 < amount_cents <= owed:
        raise CreditError(str(_l("Pay an amount from %(min)s to %(max)s.", min=money(1),
                                 max=money(owed, account.currency))), "amount")
    gateway = gateway_for()
    payment = CreditPayment(id=uuid.uuid4(), account_id=account.id, number=_number(now),
                            method=PaymentMethod.CARD, status=PaymentState.PENDING,
                            amount_cents=amount_cents, currency=account.currency,
                            gateway=gateway.name, actor=f"reseller:{account.reseller.code}",
                            created_at=now)
    db.session.add(payment)
    db.session.commit()
    redirect = gateway.start_checkout(CheckoutRequest(
        order_id=payment.id, order_number=payment.number, currency=payment.currency,
        lines=(CheckoutLine(f"Credit line {account.reference} · {payment.number}",
                            amount_cents, 1),),
        customer_email=account.reseller.email,
        success_url=success_url,
        cancel_url=cancel_url, locale=locale, purpose=PURPOSE))
    payment.gateway_reference = redirect.reference
    db.session.commit()
    return redirect


def payment_for_event(event: PaymentEvent) -> CreditPayment | None:
    if event.order_id is not None:
        found = db.session.get(CreditPayment, event.order_id)
        if found is not None:
            return found
    if event.reference:
        return db.session.scalar(select(CreditPayment).where(
            CreditPayment.gateway_reference == event.reference))
    return None


def apply_card_event(event: PaymentEvent, gateway: str, now: datetime) -> str:
    """Apply one authenticated gateway event about a card payment of a balance, once."""
    if event.outcome == PaymentOutcome.IGNORED:
        return "ignored"
    payment = payment_for_event(event)
    if payment is None:
        log.warning("credit payment event %s names no payment we know", event.event_id)
        return "unknown_payment"
    if not insert_once(ProcessedEvent, id=f"{gateway}:{event.event_id}"[:255],
                       kind=event.event_type[:80], order_id=None):
        db.session.rollback()
        return "already_processed"
    if event.outcome == PaymentOutcome.PAID:
        outcome = _paid(payment, event, now)
    elif event.outcome in (PaymentOutcome.FAILED, PaymentOutcome.EXPIRED):
        state = PaymentState.FAILED if event.outcome == PaymentOutcome.FAILED \
            else PaymentState.EXPIRED
        outcome = str(state) if _move(payment, state, now) else "already_processed"
    else:
        outcome = "pending"
    db.session.commit()
    return outcome


def _move(payment: CreditPayment, state: PaymentState, now: datetime, note: str = "") -> bool:
    """Move a pending payment on; False when another caller moved it first."""
    values: dict[str, object] = {"status": state}
    if state == PaymentState.APPLIED:
        values["applied_at"] = now
    if note:
        values["note"] = note
    moved = db.session.execute(
        update(CreditPayment).where(CreditPayment.id == payment.id,
                                    CreditPayment.status == PaymentState.PENDING)
        .values(**values).execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
    return bool(moved == 1)


def _paid(payment: CreditPayment, event: PaymentEvent, now: datetime) -> str:
    if event.amount_cents != payment.amount_cents or \
            (event.currency or "").upper() != payment.currency:
        note = (f"paid {event.amount_cents} {event.currency} for a payment of "
                f"{payment.amount_cents} {payment.currency}")
        log.error("credit payment %s flagged: %s", payment.number, note)
        return "flagged" if _move(payment, PaymentState.FLAGGED, now, note) \
            else "already_processed"
    if not _move(payment, PaymentState.APPLIED, now):
        return "already_processed"
    db.session.add(CreditEntry(
        account_id=payment.account_id, kind=EntryKind.PAYMENT, amount_cents=-payment.amount_cents,
        currency=payment.currency, payment_id=payment.id, booked_at=now,
        description=f"{payment.number} · card"))
    log.info("credit payment %s applied: %d cents", payment.number, payment.amount_cents)
    return "applied"


# --- by transfer --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransferRecorded:
    payment: CreditPayment
    created: bool  # False: this bank reference was recorded before


def record_transfer(reference: str, bank_reference: str, amount_cents: int, received_on: date,
                    actor: str, now: datetime) -> TransferRecorded:
    """Apply a SEPA transfer received for an account's structured reference, once per bank
    reference (the bank's own id of the credit on our statement); commits."""
    bank_reference = bank_reference.strip()
    if not bank_reference or len(bank_reference) > 120:
        raise CreditError(str(_l("Give the bank's reference of the transfer (up to 120 "
                                 "characters).")), "bank_reference")
    try:
        compact = clean_reference(reference)
    except ValueError as exc:
        raise CreditError(str(_l("%(reference)s is not a valid structured reference (RF…).",
                                 reference=reference)), "reference") from exc
    account = db.session.scalar(select(CreditAccount).where(CreditAccount.reference == compact))
    if account is None:
        raise CreditError(str(_l("No credit line has the reference %(reference)s.",
                                 reference=compact)), "reference")
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        raise CreditError(str(_l("The amount received must be positive.")), "amount")
    known = _known_transfer(bank_reference)
    if known is not None:
        return _same_transfer(known, account, amount_cents)
    payment = CreditPayment(
        id=uuid.uuid4(), account_id=account.id, number=_number(now),
        method=PaymentMethod.TRANSFER, status=PaymentState.APPLIED, amount_cents=amount_cents,
        currency=account.currency, bank_reference=bank_reference, received_on=received_on,
        actor=actor[:ACTOR_LENGTH], created_at=now, applied_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(payment)
            db.session.flush()  # the payment before its entry, which refers to it
            db.session.add(CreditEntry(
                account_id=account.id, kind=EntryKind.PAYMENT, amount_cents=-amount_cents,
                currency=account.currency, payment_id=payment.id, booked_at=now,
                description=f"{payment.number} · transfer {bank_reference}"[:200]))
    except IntegrityError:
        known = _known_transfer(bank_reference)
        if known is None:
            raise
        db.session.rollback()
        return _same_transfer(known, account, amount_cents)
    db.session.commit()
    log.info("transfer %s of %d cents applied to %s by %s", bank_reference, amount_cents,
             account.reference, actor)
    return TransferRecorded(payment, True)


def _known_transfer(bank_reference: str) -> CreditPayment | None:
    return db.session.scalar(select(CreditPayment).where(
        CreditPayment.bank_reference == bank_reference))


def _same_transfer(known: CreditPayment, account: CreditAccount,
                   amount_cents: int) -> TransferRecorded:
    if known.account_id != account.id or known.amount_cents != amount_cents:
        raise CreditError(str(_l(
            "The bank reference %(bank)s was already recorded, for %(amount)s on another "
            "line or amount: check the statement.", bank=known.bank_reference,
            amount=money(known.amount_cents, known.currency))), "bank_reference")
    return TransferRecorded(known, False)


def payments_of(account: CreditAccount, limit: int = 50) -> list[CreditPayment]:
    return list(db.session.scalars(select(CreditPayment).where(
        CreditPayment.account_id == account.id).order_by(CreditPayment.created_at.desc())
        .limit(limit)))


def payment_of(reseller: Reseller, payment_id: uuid.UUID) -> CreditPayment | None:
    """One of the reseller's own payments; None for anyone else's."""
    payment = db.session.get(CreditPayment, payment_id)
    if payment is None or payment.account.reseller_id != reseller.id:
        return None
    return payment
