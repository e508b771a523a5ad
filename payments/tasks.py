"""The refund sweep: pending refunds asked again, effects left undone finished."""

from __future__ import annotations

from extensions import celery
from payments.refunds import retry_due

SWEEP_SECONDS = 60.0


@celery.task(name="comptoir.refunds.retry_due")
def retry_refunds_task() -> int:
    """Ask the gateway again for refunds whose answer was lost; apply refunds' effects."""
    return retry_due()


BEAT_SCHEDULE = {
    "refunds-retry-due": {"task": retry_refunds_task.name, "schedule": SWEEP_SECONDS},
}
