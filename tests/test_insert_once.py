"""`extensions.insert_once`: one INSERT ... ON CONFLICT DO NOTHING, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from commerce.models import ProcessedEvent
from extensions import ValueTooLong, insert_once


def _count(db) -> int:  # type: ignore[no-untyped-def]
    return db.session.scalar(select(func.count()).select_from(ProcessedEvent))


def test_the_first_insert_wins_and_the_repeat_says_so(app, db):
    assert insert_once(ProcessedEvent, id="stripe:evt_1", kind="checkout.session.completed")
    assert not insert_once(ProcessedEvent, id="stripe:evt_1", kind="checkout.session.completed")
    db.session.commit()  # the duplicate broke nothing: the transaction commits
    assert _count(db) == 1
    row = db.session.get(ProcessedEvent, "stripe:evt_1")
    assert row is not None and row.received_at is not None  # the column's default applied


def test_a_value_too_long_is_refused_before_the_database(app, db):
    with pytest.raises(ValueTooLong, match="processed_events.kind"):
        insert_once(ProcessedEvent, id="stripe:evt_2", kind="k" * 81)
    db.session.commit()
    assert _count(db) == 0
