"""One product key is never delivered on two orders: a key seen before stops its line."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from commerce.models import FulfilmentStatus, utcnow
from fulfilment.delivery import DuplicateProductKey, store_units
from fulfilment.models import DeliveredUnit, FulfilmentLine, LineStatus
from fulfilment.secrets import key_digest
from fulfilment.wholesalers import DeliveredItem
from licensing.models import LicenceRecord


def test_a_key_the_wholesaler_delivers_again_sends_the_line_to_an_operator(
    wired, db, paid_order, sims, inbox, caplog
):
    first = paid_order("arvato_shop", email="first@example.com")
    db.session.refresh(first)
    assert first.fulfilment_status == FulfilmentStatus.DELIVERED
    sims["arvato"].configure(repeat_key_next_n=1)
    with caplog.at_level(logging.ERROR):
        second = paid_order("arvato_shop", email="second@example.com")
    line = db.session.scalar(select(FulfilmentLine).where(FulfilmentLine.order_id == second.id))
    assert line.status == LineStatus.NEEDS_ATTENTION
    assert "already delivered on order " + first.number in line.last_error
    assert "nothing was issued" in line.last_error
    assert [a.outcome for a in line.attempts_log][-1] == "duplicate_key"
    db.session.refresh(second)
    assert second.fulfilment_status == FulfilmentStatus.NEEDS_ATTENTION
    # Nothing issued for the second order: no unit, no licence, no e-mail with the key.
    assert db.session.scalar(select(func.count()).select_from(DeliveredUnit).where(
        DeliveredUnit.fulfilment_line_id == line.id)) == 0
    assert db.session.scalar(select(func.count()).select_from(LicenceRecord)) == 1
    for message in inbox.to("second@example.com"):  # at most a "delayed" notice, without the key
        assert line.order.number in message["Subject"]
        text = message.get_body(preferencelist=("plain",)).get_content()
        assert "Product key" not in text and "Clé produit" not in text
    assert "needs attention" in caplog.text  # the operator's alert: the queue and the error log


def test_the_same_key_twice_in_one_answer_stores_nothing(wired, db, paid_order, sims):
    sims["arvato"].configure(repeat_key_next_n=1)
    order = paid_order("arvato_shop", [("OFFICE-HOME-2024-WIN", 2)])
    line = db.session.scalar(select(FulfilmentLine).where(FulfilmentLine.order_id == order.id))
    # A malformed answer: retried later (and sent to an operator when tries run out).
    assert line.status in (LineStatus.PENDING, LineStatus.NEEDS_ATTENTION)
    assert "twice" in line.last_error or "two units" in line.last_error
    assert db.session.scalar(select(func.count()).select_from(DeliveredUnit)) == 0


def test_storing_the_same_unit_again_is_not_a_duplicate(wired, db, paid_order):
    order = paid_order("arvato_shop")
    line = db.session.scalar(select(FulfilmentLine).where(FulfilmentLine.order_id == order.id))
    unit = line.units[0]
    from fulfilment.delivery import unit_views

    [view] = unit_views(line)
    again = DeliveredItem(view.product_key, view.download_url, unit.download_expires_at)
    store_units(line, (again,))  # a retry after a crash: the same unit, the same key
    assert db.session.scalar(select(func.count()).select_from(DeliveredUnit)) == 1


def test_the_database_refuses_one_key_on_two_units_whatever_the_code_does(wired, db, paid_order):
    order = paid_order("arvato_shop")
    line = db.session.scalar(select(FulfilmentLine).where(FulfilmentLine.order_id == order.id))
    unit = line.units[0]
    db.session.add(DeliveredUnit(
        fulfilment_line_id=line.id, unit=2, generation=1, product_key_ciphertext=b"x",
        product_key_sha256=unit.product_key_sha256, product_key_masked="x",
        download_url="https://x.example", download_expires_at=utcnow() + timedelta(days=1)))
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_a_key_seen_on_another_order_is_refused_by_the_store(wired, db, paid_order):
    first = paid_order("arvato_shop")
    second = paid_order("arvato_shop", email="other@example.com")
    line_1 = db.session.scalar(select(FulfilmentLine).where(FulfilmentLine.order_id == first.id))
    line_2 = db.session.scalar(select(FulfilmentLine).where(FulfilmentLine.order_id == second.id))
    from fulfilment.delivery import unit_views

    [view] = unit_views(line_1)
    with pytest.raises(DuplicateProductKey, match=first.number):
        store_units(line_2, (DeliveredItem(view.product_key, view.download_url,
                                           utcnow() + timedelta(days=1)),), generation=2)
    assert key_digest(view.product_key) == line_1.units[0].product_key_sha256
