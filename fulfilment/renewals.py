"""Paid renewals of two-year licence backups: extend each backup to the date the buyer paid for."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select

from commerce.models import FulfilmentStatus, Order, OrderLine
from commerce.status import transition_fulfilment_atomically
from extensions import db
from licensing.vault import VaultError, extend_backup

log = logging.getLogger(__name__)


def apply_renewals(order_id: uuid.UUID) -> int:
    """Extend every backup the order renews; idempotent, since each line names its end date.

    An order made only of renewals is then delivered; one that fails to extend waits for an
    operator as needs-attention (the buyer paid: nothing is dropped).
    """
    lines = db.session.scalars(
        select(OrderLine).where(
            OrderLine.order_id == order_id, OrderLine.renews_backup_id.is_not(None)
        )
    ).all()
    if not lines:
        return 0
    failures = []
    for line in lines:
        assert line.renews_backup_id is not None and line.renews_until is not None
        try:
            extend_backup(line.renews_backup_id, line.renews_until)
            _credit_reseller(line.id)
        except VaultError as exc:
            db.session.rollback()
            failures.append(f"{line.product_code}: {exc}")
            log.error("order line %s: backup renewal failed: %s", line.id, exc)
    order = db.session.get(Order, order_id)
    assert order is not None
    only_renewals = all(line.renews_backup_id is not None for line in order.product_lines)
    if only_renewals:
        target = FulfilmentStatus.NEEDS_ATTENTION if failures else FulfilmentStatus.DELIVERED
        reason = "; ".join(failures) or "licence backup renewed"
        transition_fulfilment_atomically(
            order_id, FulfilmentStatus(order.fulfilment_status), target, reason
        )
        db.session.commit()
    return len(lines) - len(failures)


def _credit_reseller(order_line_id: uuid.UUID) -> None:
    """A renewal is a backup sale: the buyer's reseller earns the add-on rate, once."""
    from fulfilment.commissions import accrue_for_line

    try:
        accrue_for_line(order_line_id)
    except Exception:
        db.session.rollback()
        log.exception("commission of renewal line %s not credited", order_line_id)
