"""The daily retention job (accounts/retention.py, docs/privacy.md)."""

from __future__ import annotations

from accounts.retention import run_retention
from extensions import celery

RETENTION_EVERY_SECONDS = 86_400.0


@celery.task(name="comptoir.accounts.apply_retention")
def apply_retention_task() -> int:
    """Apply the retention schedule; return how many guest orders were pseudonymised."""
    return run_retention().guest_orders


BEAT_SCHEDULE = {
    "accounts-apply-retention": {"task": apply_retention_task.name,
                                 "schedule": RETENTION_EVERY_SECONDS},
}
