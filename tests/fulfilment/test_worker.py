"""The production path: a paid order queued on Redis, delivered by a separate `comptoir worker`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from commerce.models import FulfilmentStatus, Order

ROOT = Path(__file__).resolve().parents[2]
BROKER = "redis://127.0.0.1:6379/14"


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def worker(wired, tmp_path):
    """`comptoir worker` in its own process, sharing the test database and secrets."""
    if not _redis_up():
        pytest.skip("needs Redis on 127.0.0.1:6379 (CI machines run it)")
    import redis

    redis.Redis.from_url(BROKER).flushdb()
    names = ("DATABASE_URL", "SECRET_KEY", "LICENSING_KEK", "VAULT_KEY", "PRODUCT_KEYS_KEY",
             "NEXWAY_URL", "NEXWAY_API_KEY", "NEXWAY_CALLBACK_SECRET", "ARVATO_URL",
             "ARVATO_USERNAME", "ARVATO_PASSWORD", "SMTP_HOST", "SMTP_PORT", "MAIL_BACKEND",
             "WHOLESALER_TIMEOUT", "VAULT_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPTOIR_")}
    env.update({f"COMPTOIR_{n}": str(wired.config[n]) for n in names})
    env.update(COMPTOIR_ENV="testing", COMPTOIR_TASKS_EAGER="false",
               COMPTOIR_CELERY_BROKER_URL=BROKER, COMPTOIR_INSTANCE_PATH=str(tmp_path))
    process = subprocess.Popen(
        [sys.executable, "-c", "from app import cli; cli()", "worker", "-P", "solo",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", "celery"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    assert wired.config["CELERY_BROKER_URL"] == BROKER  # set for the whole run in tests/conftest.py
    wired.config["TASKS_EAGER"] = False
    from extensions import celery

    celery.conf.task_always_eager = False
    yield process
    process.terminate()
    output, _ = process.communicate(timeout=20)
    celery.conf.task_always_eager = True
    redis.Redis.from_url(BROKER).flushdb()
    if os.environ.get("COMPTOIR_SHOW_WORKER_LOG"):
        print(output.decode(errors="replace"))  # noqa: T201 - opt-in debugging aid


def test_a_worker_on_redis_delivers_the_paid_order(worker, db, paid_order, sims, inbox):
    order = paid_order("arvato_shop")
    db.session.refresh(order)
    assert order.fulfilment_status == FulfilmentStatus.AWAITING  # queued, not run in-process
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        db.session.expire_all()
        status = db.session.scalar(select(Order.fulfilment_status).where(Order.id == order.id))
        if status == FulfilmentStatus.DELIVERED:
            break
        time.sleep(0.2)
    assert status == FulfilmentStatus.DELIVERED, json.dumps(sims["arvato"].state()["requests"])
    while time.monotonic() < deadline and not inbox.to("buyer@example.com"):
        time.sleep(0.1)  # the worker sends the e-mail just after committing the delivery
    assert sims["arvato"].state()["purchases"] == 1
    assert len(inbox.to("buyer@example.com")) == 1
