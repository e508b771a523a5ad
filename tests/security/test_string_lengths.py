"""Strings fit their columns on every backend: SQLite is held to what PostgreSQL refuses."""

from __future__ import annotations

import pytest

from commerce.models import Order, StatusChange, User
from extensions import ACTOR_LENGTH, ValueTooLong
from extensions import db as _db


def test_an_overlong_string_is_refused_before_the_database_naming_the_column(db):
    db.session.add(User(email="x" * 255, password_hash="h"))
    with pytest.raises(ValueTooLong, match=r"users\.email holds at most 254 characters, not 255"):
        db.session.flush()
    db.session.rollback()


def test_a_changed_value_is_checked_too(db, make_user):
    user = make_user()
    user.name = "n" * 121
    with pytest.raises(ValueTooLong, match=r"users\.name"):
        db.session.commit()
    db.session.rollback()


def test_every_column_that_names_who_did_something_holds_an_operators_address(app):
    """'operator:' and an e-mail address of up to 254 characters."""
    longest = len("operator:") + 254
    actors = [(t.name, c.name) for t in _db.metadata.tables.values() for c in t.columns
              if c.name in ("actor", "actor_id", "revoked_by", "changed_by")]
    assert len(actors) >= 7
    for table, column in actors:
        length = _db.metadata.tables[table].columns[column].type.length
        assert length >= longest, (table, column, length)
    assert ACTOR_LENGTH >= longest


def test_no_status_column_is_too_short_for_its_values(app):
    from commerce.models import FulfilmentStatus, PaymentStatus

    payment = Order.__table__.columns["payment_status"].type.length
    fulfilment = Order.__table__.columns["fulfilment_status"].type.length
    audit = StatusChange.__table__.columns["to_status"].type.length
    assert all(len(s) <= min(payment, audit) for s in PaymentStatus)
    assert all(len(s) <= min(fulfilment, audit) for s in FulfilmentStatus)
