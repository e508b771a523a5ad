"""The scheduled payout run and the daily newcomer-offer run."""

from __future__ import annotations

from commissions.benefits import run_benefits
from commissions.payouts import run_payouts
from extensions import celery

PAYOUT_EVERY_SECONDS = 86_400.0
BENEFITS_EVERY_SECONDS = 86_400.0


@celery.task(name="comptoir.commissions.run_payouts")
def run_payouts_task() -> int:
    """Pay every reseller that is due; returns how many payouts were made."""
    return len(run_payouts())


@celery.task(name="comptoir.commissions.run_benefits")
def run_benefits_task() -> int:
    """Grant newcomers' free years and decide the anniversaries due; returns how many."""
    return sum(d.outcome != "already_decided" for d in run_benefits())


BEAT_SCHEDULE = {
    "commissions-run-payouts": {"task": run_payouts_task.name, "schedule": PAYOUT_EVERY_SECONDS},
    "commissions-run-benefits": {"task": run_benefits_task.name,
                                 "schedule": BENEFITS_EVERY_SECONDS},
}
