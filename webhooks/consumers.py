"""The outbox consumer that owes partners' webhook endpoints the events of their orders.

It runs in the relay's transaction and never commits. Each webhook event has a natural key (the
order paid, the order delivered, the line refunded, the licence revoked, the backup expiring on
a date): the delivery's event id is derived from it, so however often the domain event is
relayed, each endpoint is owed it once, and a receiver sees the same `id` on a retry or replay.
"""

from __future__ import annotations

import uuid
from typing import Any

from events import (
    BackupExpiring,
    Event,
    LicenceRevoked,
    LineRefunded,
    OrderDelivered,
    OrderPaid,
    consumer,
)
from extensions import db

WEBHOOK_TYPE = {
    OrderPaid.kind: "order.paid", OrderDelivered.kind: "order.delivered",
    LineRefunded.kind: "order.refunded", LicenceRevoked.kind: "licence.revoked",
    BackupExpiring.kind: "backup.expiring",
}
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://comptoir.example/webhooks")


def natural_key(event: Event) -> str:
    kind = WEBHOOK_TYPE[event.kind]
    if isinstance(event, LineRefunded):
        return f"{kind}:{event.order_line_id}"
    if isinstance(event, LicenceRevoked):
        return f"{kind}:{event.licence_id}"
    if isinstance(event, BackupExpiring):
        return f"{kind}:{event.backup_id}:{event.expires_at}"
    return f"{kind}:{event.order_id}"


def _listened(event: Event) -> bool:
    from webhooks.services import partner_listens

    return partner_listens(event.order_id)


def _data(event: Event, order: Any) -> dict[str, Any]:
    from partner_api.services import order_representation

    data: dict[str, Any] = {"order": order_representation(order, with_units=False)}
    if isinstance(event, LineRefunded):
        data["refunded_line_id"] = str(event.order_line_id)
        data["reason"] = event.reason
    elif isinstance(event, LicenceRevoked):
        data["licence"] = {"id": str(event.licence_id), "reason": event.reason}
    elif isinstance(event, BackupExpiring):
        data["backup"] = {"id": str(event.backup_id), "expires_at": event.expires_at}
    return data


@consumer("webhooks", OrderPaid, OrderDelivered, LineRefunded, LicenceRevoked, BackupExpiring,
          wanted=_listened)
def owe_webhooks(event: Event) -> None:
    """One delivery per active endpoint of the order's partner that subscribes to the event."""
    from commerce.models import Order
    from webhooks.services import enqueue

    order = db.session.get(Order, event.order_id) if event.order_id is not None else None
    if order is None:
        return
    enqueue(order, uuid.uuid5(NAMESPACE, natural_key(event)), WEBHOOK_TYPE[event.kind],
            _data(event, order))
