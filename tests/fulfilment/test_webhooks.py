"""Partners hear about their orders: signed webhooks from the outbox, retried for three days,
never slowing the shop, exactly one delivery per event and endpoint, replayable."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from support.receiver import receiving

from commerce.models import FulfilmentStatus, Order
from events import relay
from events.models import OutboxEvent
from extensions import utcnow
from webhooks import services, signing
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery


@pytest.fixture
def receiver():  # type: ignore[no-untyped-def]
    with receiving() as found:
        yield found


@pytest.fixture
def endpoint(db, wired, catalogue, receiver):  # type: ignore[no-untyped-def]
    """An endpoint of the arvato shop's partner (every event), with its clear secret."""
    made, secret = services.create_endpoint(catalogue["arvato_shop"], receiver.url + "/hooks",
                                            actor="test")
    db.session.commit()
    return made, secret


def _deliveries(db, event_type: str | None = None) -> list[WebhookDelivery]:  # type: ignore[no-untyped-def]
    db.session.expire_all()
    query = select(WebhookDelivery).order_by(WebhookDelivery.created_at)
    if event_type:
        query = query.where(WebhookDelivery.event_type == event_type)
    return list(db.session.scalars(query))


def _settled(db, count: int) -> list[WebhookDelivery]:  # type: ignore[no-untyped-def]
    """Wait until `count` deliveries have left the pending and sending states."""
    for _ in range(300):
        found = _deliveries(db)
        done = [d for d in found if d.status not in (DeliveryStatus.PENDING,
                                                     DeliveryStatus.SENDING)]
        if len(done) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{[(d.event_type, d.status) for d in _deliveries(db)]}")


def test_a_paid_and_delivered_order_is_told_signed_once_each(db, paid_order, endpoint, receiver):
    made, secret = endpoint
    order = paid_order("arvato_shop")
    assert order.fulfilment_status == FulfilmentStatus.DELIVERED
    received = receiver.wait_for(2)
    by_type = {json.loads(r.body)["type"]: r for r in received}
    assert set(by_type) == {"order.paid", "order.delivered"}
    paid = by_type["order.paid"]
    assert paid.path == "/hooks"
    assert signing.verify(secret, paid.body, paid.headers["Comptoir-Signature"])
    assert not signing.verify("whsec_other", paid.body, paid.headers["Comptoir-Signature"])
    assert paid.headers["Comptoir-Event"] == "order.paid"
    body = json.loads(paid.body)
    assert body["partner"] == "oem" and body["id"].startswith("evt_")
    assert body["data"]["order"]["number"] == order.number
    delivered = json.loads(by_type["order.delivered"].body)
    assert delivered["data"]["order"]["fulfilment_status"] == "delivered"
    assert "product_key" not in by_type["order.delivered"].body.decode()  # keys never leave
    deliveries = _settled(db, 2)
    assert {d.status for d in deliveries} == {DeliveryStatus.DELIVERED}
    assert db.session.scalar(select(func.count()).select_from(WebhookAttempt)) == 2

    # the same domain events relayed again owe nothing more
    paid_event = db.session.scalar(select(OutboxEvent).where(OutboxEvent.kind == "OrderPaid"))
    from events.outbox import consumer_for
    from events.types import OrderPaid

    with db.session.begin_nested():
        consumer_for("webhooks", "OrderPaid").handler(OrderPaid.from_payload(paid_event.payload))
    db.session.commit()
    assert len(_deliveries(db)) == 2
    relay.sweep()
    assert len(receiver.received) == 2


def test_a_failing_endpoint_is_retried_with_backoff_then_delivered(db, paid_order, endpoint,
                                                                    receiver):
    receiver.answers = [500, 503]
    paid_order("arvato_shop")
    receiver.wait_for(2)  # order.paid and order.delivered both refused once
    deliveries = _settled(db, 0)
    for _ in range(100):
        deliveries = _deliveries(db)
        if all(d.attempts == 1 and d.status == DeliveryStatus.PENDING for d in deliveries):
            break
        time.sleep(0.05)
    assert {d.last_error for d in deliveries} == {"HTTP 500", "HTTP 503"}
    first = deliveries[0]
    assert timedelta(seconds=25) < first.next_attempt_at - utcnow() <= timedelta(seconds=31)
    assert services.send_due() == 0  # not due yet
    assert services.send_due(now=utcnow() + timedelta(minutes=1)) == 2
    assert {d.status for d in _deliveries(db)} == {DeliveryStatus.DELIVERED}
    attempts = db.session.scalars(select(WebhookAttempt).where(
        WebhookAttempt.delivery_id == first.id).order_by(WebhookAttempt.at)).all()
    assert [a.status_code for a in attempts][0] in (500, 503) and attempts[-1].status_code == 200


def test_redirects_are_not_followed_and_three_days_of_failures_abandon(db, paid_order, endpoint,
                                                                     receiver):
    made, _secret = endpoint
    services.set_active(made, True)
    receiver.answers = [302] * 100
    paid_order("arvato_shop")
    receiver.wait_for(2)
    time.sleep(0.2)
    deliveries = _deliveries(db)
    assert all("redirect" in (d.last_error or "") and "not followed" in d.last_error
               for d in deliveries), [d.last_error for d in deliveries]
    assert all(r.path == "/hooks" for r in receiver.received)  # /elsewhere was never asked
    later = utcnow()
    for _ in range(20):  # keep failing for more than three days
        later += timedelta(hours=6)
        services.send_due(now=later)
    deliveries = _deliveries(db)
    assert {d.status for d in deliveries} == {DeliveryStatus.ABANDONED}
    assert all(d.attempts > 5 for d in deliveries)
    assert services.send_due(now=later + timedelta(days=1)) == 0  # abandoned: left alone

    receiver.answers = []
    services.replay(deliveries[0])
    db.session.commit()
    replayed = deliveries[0].id
    for _ in range(200):
        found = db.session.get(WebhookDelivery, replayed, populate_existing=True)
        if found.status == DeliveryStatus.DELIVERED:
            break
        time.sleep(0.05)
    assert found.status == DeliveryStatus.DELIVERED
    (again,) = db.session.scalars(select(WebhookAttempt).where(
        WebhookAttempt.delivery_id == replayed, WebhookAttempt.replay.is_(True))).all()
    assert again.status_code == 200
    sent = [r.body for r in receiver.received if json.loads(r.body)["id"]
            == json.loads(found.body)["id"]]
    assert len(set(sent)) == 1 and len(sent) > 5  # the same bytes each time


def test_a_hung_endpoint_never_holds_up_payment_delivery_or_the_buyers_email(
        db, paid_order, endpoint, receiver, inbox):
    receiver.hold = threading.Event()
    try:
        order = paid_order("arvato_shop", email="patient@example.com")
        receiver.wait_in_flight()
        # the endpoint still holds its request, and the order is delivered and e-mailed
        assert receiver.in_flight >= 1 and receiver.received == []
        assert db.session.get(Order, order.id).fulfilment_status == FulfilmentStatus.DELIVERED
        assert inbox.wait_for("patient@example.com")
    finally:
        receiver.hold.set()
    receiver.wait_for(2)


def test_a_timeout_or_a_tls_error_is_an_attempt_with_its_reason(db, wired, catalogue, receiver):
    wired.config["WEBHOOK_TIMEOUT"] = 0.3
    receiver.hold = threading.Event()
    slow, _ = services.create_endpoint(catalogue["arvato_shop"], receiver.url + "/slow",
                                       actor="test", events=["order.paid"])
    tls, _ = services.create_endpoint(catalogue["arvato_shop"],  # TLS to a plain-HTTP server
                                      receiver.url.replace("http://", "https://") + "/tls",
                                      actor="test", events=["order.paid"])
    db.session.commit()
    order = _an_order(db, catalogue)
    services.enqueue(order, order.id, "order.paid", {"order": {"number": order.number}})
    db.session.commit()
    try:
        for _ in range(200):
            errors = {d.endpoint_id: d.last_error for d in _deliveries(db) if d.last_error}
            if len(errors) == 2:
                break
            time.sleep(0.05)
    finally:
        receiver.hold.set()
    assert errors[slow.id] == "no answer within 0.3 s"
    assert errors[tls.id].startswith(("TLS error", "SSLError", "ConnectionError")), errors[tls.id]


def _an_order(db, catalogue):  # type: ignore[no-untyped-def]
    from commerce.orders import BuyerDetails, LineRequest, place_order

    order = place_order(catalogue["arvato_shop"], [LineRequest("OFFICE-HOME-2024-WIN", 1)],
                        BuyerDetails("x@example.com", "X"))
    db.session.commit()
    return order


def test_two_senders_at_once_make_one_attempt(db, app, wired, catalogue, receiver):
    endpoint, _ = services.create_endpoint(catalogue["arvato_shop"], receiver.url, actor="test")
    order = _an_order(db, catalogue)
    delivery = WebhookDelivery(endpoint_id=endpoint.id, event_id=order.id,  # owed, not sent
                               event_type="order.paid", body="{}")
    db.session.add(delivery)
    db.session.commit()
    delivery_id = delivery.id
    results: list[object] = []
    barrier = threading.Barrier(4)

    def send() -> None:
        with app.app_context():
            barrier.wait(5)
            results.append(services.send(delivery_id))
            db.session.remove()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    attempts = db.session.scalar(select(func.count()).select_from(WebhookAttempt).where(
        WebhookAttempt.delivery_id == delivery_id))
    assert attempts == 1 and len(receiver.received) == 1
    assert sorted(map(str, results)) == ["None", "None", "None", "delivered"]


def test_rotation_signs_with_both_secrets_for_a_while(db, wired, catalogue, receiver):
    made, old = services.create_endpoint(catalogue["arvato_shop"], receiver.url, actor="test",
                                         events=["order.paid"])
    new = services.rotate_secret(made, overlap=timedelta(hours=1))
    db.session.commit()
    body = b'{"a":1}'
    now = utcnow()
    both = signing.header(services.live_secrets(made, now), body)
    assert both.count("v1=") == 2
    assert signing.verify(old, body, both) and signing.verify(new, body, both)
    after = signing.header(services.live_secrets(made, now + timedelta(hours=2)), body)
    assert signing.verify(new, body, after) and not signing.verify(old, body, after)
    stale = signing.header([new], body, timestamp=int(time.time()) - 3600)
    assert not signing.verify(new, body, stale)  # too old: a replayed capture is refused


def test_endpoints_are_checked(db, wired, catalogue):
    partner = catalogue["arvato_shop"]
    for url, field in (("http://hooks.example/in", "url"), ("ftp://x", "url"),
                       ("https://user:pw@hooks.example/", "url"), ("https://x y", "url")):
        with pytest.raises(services.WebhookError) as refused:
            services.create_endpoint(partner, url, actor="test")
        assert field in refused.value.errors, url
    with pytest.raises(services.WebhookError) as unknown:
        services.create_endpoint(partner, "https://hooks.example/in", actor="test",
                                 events=["order.shipped"])
    assert "order.shipped" in unknown.value.english()["events"]
    wired.config["ENV"] = "production"
    try:
        with pytest.raises(services.WebhookError):
            services.create_endpoint(partner, "http://127.0.0.1:9/in", actor="test")
    finally:
        wired.config["ENV"] = "testing"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


def test_the_commands_add_list_and_replay(db, runner, wired, catalogue, receiver):
    added = runner.invoke(args=["webhooks", "add", "oem", receiver.url + "/cli",
                                "--event", "order.paid"])
    assert added.exit_code == 0, added.output
    assert "whsec_" in added.output and "order.paid" in added.output
    refused = runner.invoke(args=["webhooks", "add", "oem", "http://hooks.example/x"])
    assert refused.exit_code == 1 and "url:" in refused.output
    listed = runner.invoke(args=["webhooks", "list", "oem"]).output
    assert receiver.url + "/cli" in listed and "active" in listed
    order = _an_order(db, catalogue)
    services.enqueue(order, order.id, "order.paid", {})
    db.session.commit()
    receiver.wait_for(1)
    (delivery,) = _settled(db, 1)
    shown = runner.invoke(args=["webhooks", "deliveries", "oem"]).output
    assert str(delivery.id) in shown and "delivered" in shown
    assert runner.invoke(args=["webhooks", "replay", str(delivery.id)]).exit_code == 0
    receiver.wait_for(2)
