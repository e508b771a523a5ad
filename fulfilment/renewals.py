"""Paid renewals of two-year licence backups: extend each backup to the date the buyer paid for."""

from __future__ import annotations

import logging

from backups.vault import VaultError, extend_backup
from commerce.models import FulfilmentStatus, Order
from commerce.status import FULFILMENT_TRANSITIONS, set_fulfilment_status
from events import BackupRenewed, OrderDelivered, emit
from extensions import db

log = logging.getLogger(__name__)


def apply_renewals(order: Order) -> int:
    """Extend every backup the order renews, in the caller's transaction; idempotent, since each
    line names its end date. Each renewal raises BackupRenewed (its reseller's commission).

    An order made only of renewals is then delivered; one that fails to extend waits for an
    operator as needs-attention (the buyer paid: nothing is dropped).
    """
    lines = [line for line in order.lines if line.renews_backup_id is not None]
    if not lines:
        return 0
    failures = []
    for line in lines:
        assert line.renews_backup_id is not None and line.renews_until is not None
        try:
            with db.session.begin_nested():
                extend_backup(line.renews_backup_id, line.renews_until)
                emit(BackupRenewed(order_id=order.id, order_line_id=line.id))
        except VaultError as exc:
            failures.append(f"{line.product_code}: {exc}")
            log.error("order line %s: backup renewal failed: %s", line.id, exc)
    only_renewals = all(line.renews_backup_id is not None for line in order.product_lines)
    if only_renewals:
        target = FulfilmentStatus.NEEDS_ATTENTION if failures else FulfilmentStatus.DELIVERED
        current = FulfilmentStatus(order.fulfilment_status)
        if target != current and target in FULFILMENT_TRANSITIONS[current]:
            set_fulfilment_status(order, target, "; ".join(failures) or "licence backup renewed")
            if target == FulfilmentStatus.DELIVERED:
                emit(OrderDelivered(order_id=order.id))
    return len(lines) - len(failures)
