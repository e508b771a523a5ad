"""The monthly statements job, on the 1st of each month."""

from __future__ import annotations

from celery.schedules import crontab

from credit.statements import run_statements
from extensions import celery, utcnow


@celery.task(name="comptoir.credit.monthly_statements")
def monthly_statements_task() -> int:
    """Make and e-mail last month's statements still owed; returns how many were handled."""
    return len(run_statements(None, utcnow()))


# 1st of the month at 06:00 UTC (07:00 or 08:00 in Paris): the Paris month is over. Later runs of
# the command for the same month make nothing twice and send what a failed run left.
BEAT_SCHEDULE = {
    "credit-monthly-statements": {"task": monthly_statements_task.name,
                                  "schedule": crontab(minute=0, hour=6, day_of_month=1)},
}
