"""Periodic vault jobs: retry pending uploads, purge expired backups."""

from __future__ import annotations

from extensions import celery
from licensing.vault.lifecycle import purge_expired, retry_pending_backups

RETRY_EVERY_SECONDS = 300.0
PURGE_EVERY_SECONDS = 86_400.0


@celery.task(name="comptoir.vault.retry_pending")
def retry_pending_task() -> int:
    """Upload backups still waiting for the object store."""
    return retry_pending_backups()


@celery.task(name="comptoir.vault.purge_expired")
def purge_expired_task() -> int:
    """Purge backups past their expiry."""
    return len(purge_expired())


BEAT_SCHEDULE = {
    "vault-retry-pending": {"task": retry_pending_task.name, "schedule": RETRY_EVERY_SECONDS},
    "vault-purge-expired": {"task": purge_expired_task.name, "schedule": PURGE_EVERY_SECONDS},
}
