"""Human numbers beside UUIDs: CPT-2026-000123."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from commerce.models import Counter
from extensions import db


def next_value(name: str) -> int:
    """Increment a named counter inside the caller's transaction and return the new value."""
    for _ in range(2):
        result = db.session.execute(
            update(Counter)
            .where(Counter.name == name)
            .values(value=Counter.value + 1)
            .returning(Counter.value)
        ).scalar_one_or_none()
        if result is not None:
            return int(result)
        try:
            with db.session.begin_nested():
                db.session.add(Counter(name=name, value=0))
        except IntegrityError:
            pass  # another transaction created it first; the update now finds it
    raise RuntimeError(f"counter {name} could not be incremented")


def next_order_number(now: datetime | None = None) -> str:
    year = (now or datetime.now(UTC)).year
    return f"CPT-{year}-{next_value(f'order-{year}'):06d}"
