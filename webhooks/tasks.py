"""The webhook jobs, on a queue of their own (WEBHOOK_QUEUE, "webhooks"): a slow endpoint
occupies a webhook worker, never one that delivers licences."""

from __future__ import annotations

import uuid

from extensions import celery
from webhooks import services


@celery.task(name="comptoir.webhooks.send", ignore_result=True)
def send_deliveries(delivery_ids: list[str]) -> None:
    for delivery_id in delivery_ids:
        services.send(uuid.UUID(delivery_id))


@celery.task(name="comptoir.webhooks.replay", ignore_result=True)
def replay_delivery(delivery_id: str) -> None:
    services.send(uuid.UUID(delivery_id), replay=True)


@celery.task(name="comptoir.webhooks.send_due", ignore_result=True)
def send_due_task() -> int:
    return services.send_due()


ROUTES = (send_deliveries.name, replay_delivery.name, send_due_task.name)
BEAT_SCHEDULE = {
    "webhooks-send-due": {"task": send_due_task.name, "schedule": 30.0},
}
