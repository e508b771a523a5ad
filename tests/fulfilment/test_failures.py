"""Failures the shop survives: duplicate events at once, a killed worker, callbacks, operators."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from support.outbox import hold_events
from support.processes import Child
from support.simulators import simulator_changes

from commerce.models import FulfilmentStatus, Order, PaymentStatus, utcnow
from commerce.orders import BuyerDetails, LineRequest, place_order
from fulfilment import operations, services
from fulfilment.delivery import line_deliveries
from fulfilment.models import DeliveredUnit, FulfilmentLine, LineStatus
from fulfilment.wholesalers.nexway import sign_callback
from licensing.models import LicenceRecord
from licensing.services import verify_licence_token
from payments import refunds

ROOT = Path(__file__).resolve().parents[2]


def _count(db, model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_the_same_stripe_event_five_times_at_once_buys_once_and_mails_once(
    postgres_only, wired, db, catalogue, sims, inbox
):
    from support.stripe_signing import make_event, signed_delivery

    wired.config.update(STRIPE_SECRET_KEY="sk_test_x", STRIPE_WEBHOOK_SECRET="whsec_test_x")
    order = place_order(
        catalogue["arvato_shop"],
        [LineRequest("OFFICE-HOME-2024-WIN", 2)],
        BuyerDetails("race@example.com", "Race"),
    )
    db.session.commit()
    session = {
        "id": "cs_test_race",
        "object": "checkout.session",
        "payment_status": "paid",
        "status": "complete",
        "amount_total": order.total_cents,
        "currency": "eur",
        "client_reference_id": str(order.id),
        "metadata": {"order_id": str(order.id), "order_number": order.number},
    }
    payload, headers = signed_delivery(
        make_event("checkout.session.completed", session, event_id="evt_race"),
        secret="whsec_test_x",
    )
    barrier, codes = threading.Barrier(5), []

    def deliver() -> None:
        client = wired.test_client()
        barrier.wait()
        codes.append(client.post("/webhooks/stripe", data=payload, headers=headers).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 5
    db.session.expire_all()
    assert db.session.get(Order, order.id).fulfilment_status == FulfilmentStatus.DELIVERED
    assert sims["arvato"].state()["purchases"] == 1
    assert _count(db, LicenceRecord) == 2 and _count(db, DeliveredUnit) == 2
    assert len(inbox.to("race@example.com")) == 1


def test_a_worker_killed_mid_task_is_finished_once_by_the_sweep(
    wired, db, paid_order, sims, inbox, test_settings, tmp_path
):
    hold_events(wired)  # nobody picks the order up at payment
    order = paid_order("arvato_shop")
    services.start_fulfilment(order.id)
    db.session.commit()
    wired.config["EVENTS_RELAY"] = True  # from here on, events flow as in production
    (line,) = db.session.scalars(select(FulfilmentLine)).all()
    # The wholesaler buys, then holds the answer: the worker is killed while it waits.
    # (Held for longer than any test lasts: stopping the session's simulator releases it.)
    sims["arvato"].configure(timeout_next_n=1, timeout_ms=600_000, fault_scope=["create_order"])
    settings = {
        k: v
        for k, v in wired.config.items()
        if k in test_settings
        or k.startswith(
            ("NEXWAY_", "ARVATO_", "WHOLESALER_", "FULFILMENT_", "SMTP_", "MAIL_", "PRODUCT_KEYS")
        )
    }
    settings.update(WHOLESALER_TIMEOUT=30.0, INSTANCE_PATH=str(tmp_path))
    script = (
        "import json, os, uuid\n"
        "from app import create_app\n"
        "from fulfilment.services import attempt_line\n"
        "app = create_app(json.loads(os.environ['SETTINGS']))\n"
        "with app.app_context(): attempt_line(uuid.UUID(os.environ['LINE']))\n"
    )
    env = {**os.environ, "SETTINGS": json.dumps(settings, default=str), "LINE": str(line.id)}
    arvato = simulator_changes(sims["arvato"])
    with Child([sys.executable, "-c", script], cwd=ROOT, env=env) as worker:
        try:
            arvato.wait_until(lambda: sims["arvato"].state()["purchases"] == 1, what="the purchase")
        except AssertionError:
            worker.fail("bought nothing")
        worker.signal(signal.SIGKILL)
        assert worker.wait() == -signal.SIGKILL
    db.session.expire_all()
    line = db.session.get(FulfilmentLine, line.id)
    assert (
        line.status == LineStatus.PENDING and line.lease_until is not None
    )  # died holding the lease
    assert services.sweep().lines_tried == 0  # the lease still stands
    services.sweep(now=utcnow() + timedelta(hours=1))
    db.session.refresh(line)
    assert line.status == LineStatus.DELIVERED
    assert sims["arvato"].state()["purchases"] == 1
    assert _count(db, DeliveredUnit) == 1 and len(inbox.to("buyer@example.com")) == 1


def test_a_signed_callback_delivers_the_order(live_app, db, paid_order, sims, inbox):
    sims["nexway"].configure(delivery_delay_ms=200)
    order = paid_order("nexway_shop")
    inbox.wait_for("buyer@example.com")  # sent once the callback's delivery is committed
    db.session.expire_all()
    assert db.session.get(Order, order.id).fulfilment_status == FulfilmentStatus.DELIVERED
    assert len(inbox.to("buyer@example.com")) == 1
    assert sims["nexway"].state()["purchases"] == 1


def test_a_badly_signed_callback_is_refused_and_changes_nothing(
    wired, db, paid_order, client, sims
):
    sims["nexway"].configure(delivery_delay_ms=60_000)
    order = paid_order("nexway_shop")
    (line,) = db.session.scalars(select(FulfilmentLine)).all()
    body = json.dumps(
        {"reference": line.supplier_reference, "status": "delivered", "items": []}
    ).encode()
    now = int(time.time())
    for signature in (
        sign_callback("wrong-secret", body, now),
        sign_callback("test-nexway-callback-secret", body, now - 3600),
        "t=1,v1=00",
        None,
    ):
        headers = {"Nexway-Signature": signature} if signature else {}
        response = client.post("/webhooks/wholesalers/nexway", data=body, headers=headers)
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "invalid_signature"
    db.session.refresh(line)
    assert line.status == LineStatus.ORDERED and _count(db, DeliveredUnit) == 0
    assert client.post("/webhooks/wholesalers/unknown", data=body).status_code == 404
    db.session.refresh(order)
    assert order.fulfilment_status == FulfilmentStatus.IN_PROGRESS


def test_an_already_activated_key_is_replaced_and_its_licence_revoked(
    wired, db, paid_order, client, inbox
):
    order = paid_order("arvato_shop")
    (line,) = db.session.scalars(select(FulfilmentLine)).all()
    old = line_deliveries(order)[line.order_line_id][1][0]
    with client.session_transaction() as session:
        session["guest_orders"] = [str(order.id)]
    report = f"/p/oem/orders/{order.id}/units/{old.unit_id}/activated"
    html = client.get(report).get_data(as_text=True)  # the confirmation page
    token = __import__("re").search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    response = client.post(report, data={"csrf_token": token, "confirm": "y"})
    assert response.status_code == 302
    db.session.expire_all()
    new = line_deliveries(order)[line.order_line_id][1][0]
    assert new.product_key != old.product_key and new.licence_number != old.licence_number
    assert verify_licence_token(old.licence_token).status == "revoked"
    assert verify_licence_token(new.licence_token).status == "valid"
    replaced = db.session.get(LicenceRecord, db.session.get(DeliveredUnit, old.unit_id).licence_id)
    assert replaced.revocation_reason == "replacement"
    mails = inbox.to("buyer@example.com")
    assert len(mails) == 2 and new.product_key in mails[-1].get_body(("plain",)).get_content()
    again = client.post(report, data={"csrf_token": token, "confirm": "y"})
    assert again.status_code == 404


def test_operator_retries_and_reroutes_a_line_that_needs_attention(
    wired, db, paid_order, sims, catalogue
):
    sims["arvato"].configure(unknown_skus=["AR-OFF-HOME-24"])
    order = paid_order("arvato_shop")
    (line,) = db.session.scalars(select(FulfilmentLine)).all()
    assert line.status == LineStatus.NEEDS_ATTENTION
    assert (
        operations.retry_now(line.order_line_id, actor="operator:test")
        == LineStatus.NEEDS_ATTENTION
    )
    with pytest.raises(operations.OperationError):
        operations.retry_now(order.lines[0].id, actor="x") if False else operations.route_elsewhere(
            __import__("uuid").uuid4(), actor="x"
        )
    status = operations.route_elsewhere(line.order_line_id, actor="operator:test")
    assert status == LineStatus.ORDERED
    db.session.refresh(line)
    assert line.wholesaler_code == "nexway" and "rerouted by operator:test" in line.routing_reason
    assert catalogue["arvato_shop"].allow_failover is False
    services.sweep(now=utcnow() + timedelta(minutes=5))
    db.session.refresh(line)
    assert line.status == LineStatus.DELIVERED
    actions = [a.action for a in line.attempts_log]
    assert "retry_now" in actions and "route_elsewhere" in actions


def test_operator_refund_cancels_and_revokes(wired, db, paid_order):
    order = paid_order("arvato_shop")
    (line,) = db.session.scalars(select(FulfilmentLine)).all()
    token = line_deliveries(order)[line.order_line_id][1][0].licence_token
    refunds.refund_order(order.id, None, "operator:test", "buyer withdrew before activation")
    db.session.refresh(order)
    assert order.payment_status == PaymentStatus.REFUNDED
    assert order.fulfilment_status == FulfilmentStatus.CANCELLED
    assert verify_licence_token(token).status == "revoked"
    with pytest.raises(refunds.RefundError, match="refunded cannot be refunded"):
        refunds.refund_order(order.id, None, "operator:test", "twice")


def test_back_office_shows_the_queue_and_acts_on_it(
    wired, db, paid_order, sims, client, sign_in_operator, form_token
):
    sims["arvato"].configure(unknown_skus=["AR-OFF-HOME-24"])
    order = paid_order("arvato_shop")
    sign_in_operator(client)
    queue = client.get("/admin/attention").get_data(as_text=True)
    assert order.number in queue and "UNKNOWN_SKU" in queue
    detail = client.get(f"/admin/orders/{order.id}").get_data(as_text=True)
    assert "contracted wholesaler of oem" in detail and "Route to the other wholesaler" in detail
    token = form_token(f"/admin/orders/{order.id}")
    response = client.post(f"/admin/lines/{order.lines[0].id}/reroute", data={"csrf_token": token})
    assert response.status_code == 302
    db.session.expire_all()
    (line,) = db.session.scalars(select(FulfilmentLine)).all()
    assert line.wholesaler_code == "nexway"
    assert client.post(f"/admin/lines/{order.lines[0].id}/reroute", data={}).status_code == 400


def test_a_replaced_key_is_kept_in_the_lines_backup(wired, db, catalogue, client, inbox):
    from backups.vault import Actor, ActorKind, backup_for_line, open_backup
    from commerce.orders import ADDON_BACKUP
    from payments.base import PaymentEvent, PaymentOutcome
    from payments.services import confirm_payment

    order = place_order(
        catalogue["arvato_shop"],
        [LineRequest("OFFICE-HOME-2024-WIN", 1, (ADDON_BACKUP,))],
        BuyerDetails("buyer@example.com", "Camille"),
    )
    db.session.commit()
    confirm_payment(
        PaymentEvent(
            f"evt_{order.id}",
            "checkout.session.completed",
            PaymentOutcome.PAID,
            order.id,
            None,
            order.total_cents,
            "EUR",
        ),
        "stripe",
    )
    (line,) = db.session.scalars(select(FulfilmentLine)).all()
    support = Actor(ActorKind.OPERATOR, "support@example.com", None)

    def backed_up_key() -> str:
        backup = backup_for_line(str(line.order_line_id))
        return open_backup(backup.id, support).bundle["units"][0]["product_key"]

    old = line_deliveries(order)[line.order_line_id][1][0]
    assert backed_up_key() == old.product_key
    operations.report_activated_key(old.unit_id, order, actor="buyer:test")
    db.session.expire_all()
    new = line_deliveries(order)[line.order_line_id][1][0]
    assert new.product_key != old.product_key
    assert backed_up_key() == new.product_key
