"""The job that applies scheduled prices when they fall due (pages and the API also apply a
partner's due prices as they read it, so a price is never late by more than this job's period
for a shop nobody visits)."""

from __future__ import annotations

from extensions import celery, db
from partners.services import apply_due_prices


@celery.task(name="comptoir.partners.apply_due_prices")
def apply_due_prices_task() -> int:
    """Apply every scheduled price now due; returns how many were applied."""
    applied = apply_due_prices()
    db.session.commit()
    return applied


BEAT_SCHEDULE = {
    "partners-apply-due-prices": {"task": apply_due_prices_task.name, "schedule": 60.0},
}
