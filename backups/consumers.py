"""The backup service's consumer of domain events: keep each protected line's keys in the vault.

Runs in the outbox relay's transaction and never commits. Storing is idempotent (one backup per
order line); a line whose keys were replaced gets its bundle replaced.
"""

from __future__ import annotations

from backups.vault import BackupRequest, backup_for_line, replace_bundle, store_backup
from events import BackupDue, Event, consumer
from extensions import db
from fulfilment.delivery import unit_views
from fulfilment.models import FulfilmentLine


@consumer("vault", BackupDue)
def back_up_line(event: Event) -> None:
    """Store the line's licence bundle for two years, or refresh it after a key replacement."""
    line = db.session.get(FulfilmentLine, event.line_id)  # type: ignore[attr-defined]
    if line is None:
        return
    bundle = line_bundle(line)
    existing = backup_for_line(str(line.order_line_id))
    if existing is None:
        order = line.order
        store_backup(BackupRequest(partner=order.partner.slug,
                                   order_line_ref=str(line.order_line_id),
                                   buyer_ref=order.email, bundle=bundle,
                                   delivered_at=line.delivered_at))
    elif event.replacement:  # type: ignore[attr-defined]
        replace_bundle(str(line.order_line_id), bundle)


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
