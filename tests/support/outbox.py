"""Tests that stop at the outbox: events are written but not relayed, and read back from it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from flask import Flask
from sqlalchemy import select

from events.models import OutboxEvent
from extensions import db


class PaidOrders:
    """The ids of the orders whose OrderPaid event is in the outbox, oldest first (read live)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def _ids(self) -> list[uuid.UUID]:
        with self.app.app_context():
            return [i for i in db.session.scalars(
                select(OutboxEvent.order_id).where(OutboxEvent.kind == "OrderPaid")
                .order_by(OutboxEvent.created_at))]

    def __iter__(self) -> Iterator[uuid.UUID]:
        return iter(self._ids())

    def __len__(self) -> int:
        return len(self._ids())

    def __getitem__(self, index: int) -> uuid.UUID:
        return self._ids()[index]

    def __eq__(self, other: object) -> bool:
        return self._ids() == list(other) if isinstance(other, list | tuple) else NotImplemented

    def __repr__(self) -> str:
        return f"PaidOrders({self._ids()!r})"


def hold_events(app: Flask) -> PaidOrders:
    """Leave events in the outbox (EVENTS_RELAY off): nothing after payment runs."""
    app.config["EVENTS_RELAY"] = False
    return PaidOrders(app)
