"""The scheduled runs: payouts every hour, so that a missed or failed run is caught up well
within the 48-hour promise (commissions/payouts.py), and the daily newcomer-offer run."""

from __future__ import annotations

from datetime import datetime

from celery.schedules import crontab

from commissions.benefits import run_benefits
from commissions.payouts import run_payouts
from extensions import celery

PAYOUT_SCHEDULE = crontab(minute=0)  # the top of every hour, as payouts.next_run_after says
BENEFITS_EVERY_SECONDS = 86_400.0


@celery.task(name="comptoir.commissions.run_payouts")
def run_payouts_task(now: str | None = None) -> int:
    """Pay and file every reseller that is due; returns how many payouts were made."""
    return len(run_payouts(datetime.fromisoformat(now) if now else None))


@celery.task(name="comptoir.commissions.run_benefits")
def run_benefits_task() -> int:
    """Grant newcomers' free years and decide the anniversaries due; returns how many."""
    return sum(d.outcome != "already_decided" for d in run_benefits())


BEAT_SCHEDULE = {
    "commissions-run-payouts": {"task": run_payouts_task.name, "schedule": PAYOUT_SCHEDULE},
    "commissions-run-benefits": {"task": run_benefits_task.name,
                                 "schedule": BENEFITS_EVERY_SECONDS},
}
