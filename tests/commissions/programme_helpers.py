"""Helpers of the programme tests: deliver lines as fulfilment does, snapshot the ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from commerce.models import Order
from commissions import accrue_for_delivery
from commissions.models import LedgerEntry
from extensions import db
from fulfilment.models import FulfilmentLine, LineStatus


def deliver(order: Order, when: datetime) -> list[LedgerEntry]:
    """Mark the order's software lines delivered at `when` and accrue them, as the consumer does."""
    entries: list[LedgerEntry] = []
    for line in order.lines:
        if line.parent_line_id is not None:
            continue
        db.session.add(FulfilmentLine(order_id=order.id, order_line_id=line.id,
                                      status=LineStatus.DELIVERED, delivered_at=when))
        db.session.flush()
        entries += accrue_for_delivery(line.id, now=when)
    db.session.commit()
    return entries


def ledger_snapshot() -> list[tuple[Any, ...]]:
    """Every ledger entry's stored values, in a stable order."""
    db.session.expire_all()
    return [
        (e.id, e.kind, e.amount_cents, e.rule, e.rate, e.programme_version_id, e.explanation,
         e.created_at, e.payable_at, e.payout_id)
        for e in db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.id))
    ]
