"""The refund sweep: pending refunds asked again, effects left undone finished."""

from __future__ import annotations

from extensions import celery
from payments.held import recheck_held_orders
from payments.refunds import retry_due

SWEEP_SECONDS = 60.0


@celery.task(name="comptoir.refunds.retry_due")
def retry_refunds_task() -> int:
    """Ask the gateway again for refunds whose answer was lost; apply refunds' effects."""
    return retry_due()


@celery.task(name="comptoir.vat.recheck_held")
def recheck_held_task() -> int:
    """Ask VIES again about orders held for it; returns how many were released."""
    return recheck_held_orders().released


BEAT_SCHEDULE = {
    "refunds-retry-due": {"task": retry_refunds_task.name, "schedule": SWEEP_SECONDS},
    "vat-recheck-held": {"task": recheck_held_task.name, "schedule": 5 * SWEEP_SECONDS},
}
