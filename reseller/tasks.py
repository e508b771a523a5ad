"""The scheduled digest run: daily, each reseller's digest going out once per ISO week."""

from __future__ import annotations

from celery.schedules import crontab

from extensions import celery
from reseller.digest import send_digests


@celery.task(name="comptoir.resellers.weekly_digest")
def weekly_digest_task() -> int:
    """Send the week's digests still owed; returns how many went out."""
    return sum(outcome.outcome == "sent" for outcome in send_digests())


# Daily at 07:00 UTC: the first run of a week sends; later ones catch a failed send or alerts
# that appear during the week, and never send a reseller a second digest that week.
BEAT_SCHEDULE = {
    "resellers-weekly-digest": {"task": weekly_digest_task.name,
                                "schedule": crontab(minute=0, hour=7)},
}
