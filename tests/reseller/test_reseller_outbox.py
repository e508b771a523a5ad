"""A commission accrual that fails is never lost: it waits in the outbox and is credited once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

import commissions.consumers
from commerce.models import utcnow
from commissions.models import LedgerEntry
from events import LineDelivered, emit
from events.models import EventDelivery
from events.relay import sweep as relay_sweep
from fulfilment.delivery import issue_unit_licences, store_units
from fulfilment.models import FulfilmentLine, LineStatus
from fulfilment.wholesalers import DeliveredItem


def _delivered_line(db, order) -> FulfilmentLine:
    from licensing.keys import ensure_signing_key

    ensure_signing_key()
    (order_line,) = order.product_lines
    line = FulfilmentLine(order_id=order.id, order_line_id=order_line.id, wholesaler_code="nexway",
                          status=LineStatus.DELIVERED, delivered_at=utcnow())
    db.session.add(line)
    db.session.flush()
    store_units(line, (DeliveredItem("VK001X-7QPRT-M4HC2-WJ9KD-00001", "https://dl.example/1",
                                     utcnow() + timedelta(days=21)),))
    issue_unit_licences(line)
    return line


def _accruals(db) -> int:
    return db.session.scalar(select(func.count()).select_from(LedgerEntry)
                             .where(LedgerEntry.kind == "accrual"))


def test_a_failed_accrual_is_credited_exactly_once_later(app, db, world, sell, monkeypatch):
    order = sell(world.n, [("OFFICE-HOME-2024-WIN", 1)], "ines@example.com", "Inès Roy",
                 code=world.a.code)
    real, calls = commissions.consumers.accrue_for_delivery, []

    def fails_once(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise ConnectionError("ledger unreachable")
        return real(*args, **kwargs)

    monkeypatch.setattr(commissions.consumers, "accrue_for_delivery", fails_once)
    line = _delivered_line(db, order)
    emit(LineDelivered(order_id=order.id, line_id=line.id, order_line_id=line.order_line_id))
    db.session.commit()  # relayed at once (in-process): the accrual fails

    owed = db.session.scalar(select(EventDelivery).where(EventDelivery.consumer == "commissions"))
    assert owed.done_at is None and owed.attempts == 1
    assert "ledger unreachable" in owed.last_error and owed.next_attempt_at > utcnow()
    assert _accruals(db) == 0
    assert relay_sweep().done == 0  # not due yet: its backoff runs

    later = utcnow() + timedelta(hours=2)
    assert relay_sweep(later).done == 1
    for _ in range(3):  # a repeated sweep, and the delivery run again by hand, change nothing
        relay_sweep(later + timedelta(days=1))
    from events.relay import deliver

    deliver([owed.event_id])
    db.session.refresh(owed)
    assert owed.done_at is not None and owed.attempts == 2 and owed.last_error is None
    assert _accruals(db) == 1 and len(calls) == 2
