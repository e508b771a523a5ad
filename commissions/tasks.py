"""The scheduled payout run: every hour, so that a missed or failed run is caught up well
within the 48-hour promise (commissions/payouts.py)."""

from __future__ import annotations

from datetime import datetime

from celery.schedules import crontab

from commissions.payouts import run_payouts
from extensions import celery

PAYOUT_SCHEDULE = crontab(minute=0)  # the top of every hour, as payouts.next_run_after says


@celery.task(name="comptoir.commissions.run_payouts")
def run_payouts_task(now: str | None = None) -> int:
    """Pay and file every reseller that is due; returns how many payouts were made."""
    return len(run_payouts(datetime.fromisoformat(now) if now else None))


BEAT_SCHEDULE = {
    "commissions-run-payouts": {"task": run_payouts_task.name, "schedule": PAYOUT_SCHEDULE},
}
