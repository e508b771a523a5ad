"""What else happens when a line is delivered or refunded: its backup and its reseller's commission.

Each follow-up is idempotent (unique constraints in the vault and the ledger) and never blocks the
delivery: a failure is logged, and the backup's own retry job or the next delivery event catches up.
"""

from __future__ import annotations

import logging

from commerce.orders import ADDON_BACKUP
from fulfilment.delivery import unit_views
from fulfilment.models import FulfilmentLine

log = logging.getLogger(__name__)


def line_delivered(line: FulfilmentLine) -> None:
    """Store the line's backup when the buyer took it, and credit the referring reseller."""
    try:
        if line.order_line.has_addon(ADDON_BACKUP):
            store_line_backup(line)
    except Exception:
        log.exception(
            "backup of order line %s not stored; the vault's retry job will", line.order_line_id
        )
    try:
        from fulfilment.commissions import accrue_for_delivery, attach_client

        attach_client(line.order_id)
        accrue_for_delivery(line.order_line_id, now=line.delivered_at)
    except Exception:
        log.exception("commission of order line %s not credited", line.order_line_id)


def store_line_backup(line: FulfilmentLine) -> None:
    """Put the line's licence bundle in the two-year vault (once per line)."""
    from licensing.vault.services import BackupRequest, store_backup

    order = line.order
    store_backup(
        BackupRequest(
            partner=order.partner.slug,
            order_line_ref=str(line.order_line_id),
            buyer_ref=order.email,
            bundle=line_bundle(line),
            delivered_at=line.delivered_at,
        )
    )


def key_replaced(line: FulfilmentLine) -> None:
    """Keep the line's backup in step with its keys after a replacement."""
    if not line.order_line.has_addon(ADDON_BACKUP):
        return
    try:
        from licensing.vault import replace_bundle

        replace_bundle(str(line.order_line_id), line_bundle(line))
    except Exception:
        log.exception("backup of order line %s still holds the replaced key", line.order_line_id)


def line_bundle(line: FulfilmentLine) -> dict[str, object]:
    """What the vault keeps for a line: its active keys, links and licences, and who bought it."""
    order, order_line = line.order, line.order_line
    return {
        "order": order.number,
        "invoice": order.number,
        "order_line": str(order_line.id),
        "partner": order.partner.slug,
        "buyer": {"email": order.email, "name": order.name},
        "product": {"code": order_line.product_code, "name": order_line.product_name},
        "units": [
            {
                "unit": u.unit,
                "product_key": u.product_key,
                "download_url": u.download_url,
                "download_expires_at": u.download_expires_at.isoformat(),
                "licence_number": u.licence_number,
                "licence": u.licence_token,
            }
            for u in unit_views(line)
        ],
    }


def line_refunded(line: FulfilmentLine, reason: str) -> None:
    """Take back the reseller's commission on a refunded line."""
    try:
        from fulfilment.commissions import clawback_for_refund

        clawback_for_refund(line.order_line_id, reason)
    except Exception:
        log.exception("commission clawback of order line %s failed", line.order_line_id)


def renewal_refunded(order_line_id: object, reason: str) -> None:
    """Take back the reseller's commission on a refunded backup renewal."""
    try:
        from fulfilment.commissions import clawback_for_line

        clawback_for_line(order_line_id, reason)  # type: ignore[arg-type]
    except Exception:
        log.exception("commission clawback of renewal line %s failed", order_line_id)
