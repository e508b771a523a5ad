"""The scheduled payout run."""

from __future__ import annotations

from commissions.payouts import run_payouts
from extensions import celery

PAYOUT_EVERY_SECONDS = 86_400.0


@celery.task(name="comptoir.commissions.run_payouts")
def run_payouts_task() -> int:
    """Pay every reseller that is due; returns how many payouts were made."""
    return len(run_payouts())


BEAT_SCHEDULE = {
    "commissions-run-payouts": {"task": run_payouts_task.name, "schedule": PAYOUT_EVERY_SECONDS},
}
