"""The production path: a paid order queued on Redis, delivered by a separate `comptoir worker`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from support.environment import redis_problem, require
from support.processes import Child

from commerce.models import FulfilmentStatus, Order

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[2]
BROKER = "redis://127.0.0.1:6379/14"


@pytest.fixture
def worker(wired, tmp_path):
    """`comptoir worker` in its own process, sharing the test database and secrets."""
    if problem := redis_problem():
        require("Redis on 127.0.0.1:6379", problem)
    import redis

    queue = wired.config["CELERY_QUEUE"]  # this run's own (tests/conftest.py)
    with redis.Redis.from_url(BROKER) as broker:
        broker.delete(queue)
    names = ("DATABASE_URL", "SECRET_KEY", "LICENSING_KEK", "VAULT_KEY", "PRODUCT_KEYS_KEY",
             "NEXWAY_URL", "NEXWAY_API_KEY", "NEXWAY_CALLBACK_SECRET", "ARVATO_URL",
             "ARVATO_USERNAME", "ARVATO_PASSWORD", "SMTP_HOST", "SMTP_PORT", "MAIL_BACKEND",
             "WHOLESALER_TIMEOUT", "VAULT_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPTOIR_")}
    env.update({f"COMPTOIR_{n}": str(wired.config[n]) for n in names})
    env.update(COMPTOIR_ENV="testing", COMPTOIR_TASKS_EAGER="false",
               COMPTOIR_CELERY_BROKER_URL=BROKER, COMPTOIR_CELERY_QUEUE=queue,
               COMPTOIR_INSTANCE_PATH=str(tmp_path))
    assert wired.config["CELERY_BROKER_URL"] == BROKER  # set for the whole run in tests/conftest.py
    from extensions import celery

    command = [sys.executable, "-c", "from app import cli; cli()", "worker", "-P", "solo",
               "--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", queue]
    try:
        with Child(command, cwd=ROOT, env=env) as process:
            process.wait_for_line(r"\bready\.")  # connected to the broker, consuming
            wired.config["TASKS_EAGER"] = False
            celery.conf.task_always_eager = False
            try:
                yield process
            finally:
                celery.conf.task_always_eager = True
        if os.environ.get("COMPTOIR_SHOW_WORKER_LOG"):
            print(process.output)  # noqa: T201 - opt-in debugging aid
    finally:
        with redis.Redis.from_url(BROKER) as broker:
            broker.delete(queue)


def test_a_worker_on_redis_delivers_the_paid_order(worker, db, paid_order, sims, inbox):
    order = paid_order("arvato_shop")
    db.session.refresh(order)
    assert order.fulfilment_status == FulfilmentStatus.AWAITING  # queued, not run in-process
    # The worker sends the e-mail once it has committed the delivery: wait for the e-mail.
    try:
        inbox.wait_for("buyer@example.com")
    except AssertionError:
        worker.fail("delivered no e-mail: " + json.dumps(sims["arvato"].state()["requests"]))
    db.session.expire_all()
    status = db.session.scalar(select(Order.fulfilment_status).where(Order.id == order.id))
    assert status == FulfilmentStatus.DELIVERED
    assert sims["arvato"].state()["purchases"] == 1
    assert len(inbox.to("buyer@example.com")) == 1
