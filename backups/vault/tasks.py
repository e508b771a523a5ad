"""Periodic vault jobs: retry pending uploads, purge expired backups."""

from __future__ import annotations

from backups.vault.lifecycle import purge_expired, retry_pending_backups
from extensions import celery

RETRY_EVERY_SECONDS = 300.0
PURGE_EVERY_SECONDS = 86_400.0


@celery.task(name="comptoir.vault.retry_pending")
def retry_pending_task() -> int:
    """Upload the pending backups whose retry time has come; return how many were stored."""
    return retry_pending_backups(due_only=True).stored


@celery.task(name="comptoir.vault.purge_expired")
def purge_expired_task() -> int:
    """Purge backups past their expiry."""
    return len(purge_expired())


BEAT_SCHEDULE = {
    "vault-retry-pending": {"task": retry_pending_task.name, "schedule": RETRY_EVERY_SECONDS},
    "vault-purge-expired": {"task": purge_expired_task.name, "schedule": PURGE_EVERY_SECONDS},
}
