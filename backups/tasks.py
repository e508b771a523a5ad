"""The daily backup reminder job."""

from __future__ import annotations

from backups.reminders import send_reminders
from extensions import celery

REMIND_EVERY_SECONDS = 86_400.0


@celery.task(name="comptoir.backups.send_reminders")
def send_reminders_task() -> int:
    """E-mail the buyers whose backup expires within 30 days; return how many were sent."""
    return sum(outcome.sent for outcome in send_reminders())


BEAT_SCHEDULE = {
    "backups-send-reminders": {"task": send_reminders_task.name, "schedule": REMIND_EVERY_SECONDS},
}
