"""Orders held for VIES: placed while the register could not answer, paid once it has.

With COMPTOIR_VIES_UNAVAILABLE=hold, a business buyer from another member state whose VAT
number VIES cannot check at checkout gets an unpaid order marked `vies_status = "held"`: its
payment does not start. `recheck_held_orders` (every few minutes, and `comptoir vat recheck`)
asks VIES again; once it answers, the order is priced as the answer says (reverse charge for a
valid number, the buyer's country's VAT otherwise), and the buyer is e-mailed a link to pay it.
An order held longer than COMPTOIR_VIES_HOLD_HOURS is priced with VAT and released the same way:
the buyer is never left without a way to pay.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from commerce import vies
from commerce.models import Order, PaymentStatus
from commerce.orders import line_amounts
from commerce.tax import PARIS, TaxDecision, decide
from commerce.taxation import merchant_vat_number
from commerce.vies import ViesAnswer, ViesStatus
from extensions import db
from fulfilment.emails import send_once

log = logging.getLogger(__name__)
HELD = "held"


@dataclass
class RecheckReport:
    released: int = 0  # priced and e-mailed
    still_held: int = 0


def reprice(order: Order, tax: TaxDecision) -> None:
    """Price an unpaid order's lines under `tax` from their own prices, the price before VAT
    unchanged: what the buyer saw, whatever the catalogue says since."""
    for line in order.lines:
        unit, total, vat = line_amounts(line.unit_price_cents, line.vat_rate, line.quantity, tax)
        line.unit_price_cents, line.total_cents, line.vat_cents = unit, total, vat
        line.vat_rate = tax.rate
    order.total_cents = sum(line.total_cents for line in order.lines)
    order.vat_cents = sum(line.vat_cents for line in order.lines)
    order.tax_treatment, order.vat_country = tax.treatment, tax.country


def recheck_held_orders(now: datetime | None = None) -> RecheckReport:
    """Ask VIES again about every held order; release those it answers for (commits each)."""
    now = now or datetime.now(UTC)
    cfg = current_app.config
    give_up = now - timedelta(hours=float(cfg["VIES_HOLD_HOURS"]))
    report = RecheckReport()
    held = db.session.scalars(
        select(Order.id).where(Order.vies_status == HELD,
                               Order.payment_status == PaymentStatus.PENDING)
    ).all()
    db.session.rollback()  # no transaction held open while VIES is asked
    for order_id in held:
        order = db.session.get(Order, order_id)
        if order is None:
            continue
        answer = vies.check(order.vat_number, base_url=str(cfg["VIES_URL"]),
                            requester=merchant_vat_number(order.partner),
                            timeout=float(cfg["VIES_TIMEOUT"]))
        if answer.status == ViesStatus.UNAVAILABLE and order.created_at > give_up:
            report.still_held += 1
            db.session.rollback()
            continue
        if _release(order, answer):
            report.released += 1
    return report


def _release(order: Order, answer: ViesAnswer) -> bool:
    """Price the order by the answer and let it be paid; once, whoever else is releasing it."""
    valid = answer.status == ViesStatus.VALID
    placed_on = order.created_at.astimezone(PARIS).date()  # the rates of the day it was placed
    tax = decide(order.billing_country, vat_number=order.vat_number, vat_number_valid=valid,
                 on=placed_on)
    claimed = db.session.execute(
        update(Order)
        .where(Order.id == order.id, Order.vies_status == HELD)
        .values(vies_status=answer.status.value, vies_reference=answer.reference,
                vies_checked_at=answer.checked_at)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if claimed != 1:
        db.session.rollback()
        return False
    reprice(order, tax)
    # Owed in the same transaction, sent once it commits (or by the e-mail sweep).
    send_once(f"released:{order.id}", order.id, "released")
    db.session.commit()
    log.info("order %s released from its VIES hold: %s", order.number, answer.status.value)
    return True
