"""The hourly renewal job."""

from __future__ import annotations

from extensions import celery
from subscriptions.services import renew_due

RENEW_EVERY_SECONDS = 3600.0


@celery.task(name="comptoir.subscriptions.renew_due")
def renew_due_task() -> dict[str, int]:
    """End, charge and suspend what is due; returns the counts."""
    return vars(renew_due())


BEAT_SCHEDULE = {
    "subscriptions-renew-due": {"task": renew_due_task.name, "schedule": RENEW_EVERY_SECONDS},
}
