"""The outbox seam, the circuit breakers, the callback inbox and the line state machine."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from commerce.models import FulfilmentStatus, Order, StatusChange, utcnow
from commerce.orders import ADDON_BACKUP
from commerce.status import InvalidTransition
from events.models import EventDelivery, OutboxEvent
from fulfilment import emails, services
from fulfilment.breaker import breaker
from fulfilment.models import (
    CallbackStatus,
    DeliveredUnit,
    FulfilmentAttempt,
    FulfilmentLine,
    FulfilmentStatusChange,
    LineStatus,
    OutgoingEmail,
    UnitStatus,
    WholesalerCallback,
)
from fulfilment.status import set_line_status, set_unit_status
from fulfilment.wholesalers.nexway import sign_callback


def _line(db, order) -> FulfilmentLine:
    (line,) = db.session.scalars(select(FulfilmentLine).where(FulfilmentLine.order_id == order.id))
    db.session.refresh(line)
    return line


def _requests(sim, operation: str) -> int:
    return sim.state()["requests"].get(operation, 0)


# -- the outbox ------------------------------------------------------------------------------


def test_payment_delivery_and_email_travel_as_events_each_done_once(wired, db, paid_order, inbox):
    order = paid_order("arvato_shop", [("OFFICE-HOME-2024-WIN", 1, (ADDON_BACKUP,))])
    kinds = db.session.scalars(select(OutboxEvent.kind).order_by(OutboxEvent.created_at)).all()
    # The invoice's InvoiceIssued is written outside the chain: its PDF is made after the commit.
    assert [k for k in kinds if k != "InvoiceIssued"] == [
        "OrderPaid", "LineDelivered", "BackupDue", "OrderDelivered"]
    assert kinds.count("InvoiceIssued") == 1
    deliveries = db.session.execute(
        select(OutboxEvent.kind, EventDelivery.consumer, EventDelivery.done_at,
               EventDelivery.attempts).join(EventDelivery.event)
    ).all()
    assert sorted((k, c) for k, c, _, _ in deliveries) == [
        ("BackupDue", "vault"), ("InvoiceIssued", "invoice-pdf"),
        ("LineDelivered", "buyer-email"), ("LineDelivered", "commissions"),
        ("OrderDelivered", "webhooks"), ("OrderPaid", "fulfilment"), ("OrderPaid", "invoicing"),
        ("OrderPaid", "webhooks")]
    assert all(done is not None and attempts == 1 for _, _, done, attempts in deliveries)
    [mail] = inbox.to("buyer@example.com")
    # The delivery e-mail, rendered in the same relay after the invoice was issued, links it.
    text = mail.get_body(("plain",)).get_content()
    assert "/invoices/F-" in text and "(PDF)" in text
    db.session.refresh(order)
    assert order.fulfilment_status == FulfilmentStatus.DELIVERED


def test_an_event_rolled_back_with_its_change_is_never_delivered(wired, db, paid_order, sims):
    from events import OrderPaid, emit

    order = paid_order("arvato_shop")
    emit(OrderPaid(order_id=order.id))
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(OutboxEvent)
                             .where(OutboxEvent.kind == "OrderPaid")) == 1
    assert sims["arvato"].state()["purchases"] == 1


def test_a_failing_consumer_is_shown_in_the_back_office_with_its_error(
    wired, db, paid_order, inbox, client, sign_in_operator, monkeypatch
):
    sign_in_operator(client)

    def broken(*args, **kwargs):
        raise RuntimeError("template exploded")

    monkeypatch.setattr(emails, "render_email", broken)  # the buyer's e-mail cannot be made
    order = paid_order("arvato_shop")
    page = client.get("/admin/events").get_data(as_text=True)
    assert "buyer-email" in page and "LineDelivered" in page and "template exploded" in page
    assert order.number in page


def test_a_first_consumer_failing_alone_leaves_the_others_to_run_and_is_retried(
    wired, db, paid_order, catalogue, sims, inbox, monkeypatch
):
    from webhooks import services as webhooks
    from webhooks.models import WebhookDelivery

    webhooks.create_endpoint(catalogue["arvato_shop"], "http://127.0.0.1:9/hooks",
                             actor="test", events=["order.paid"])
    db.session.commit()
    real = services.fulfil_in_transaction

    def down(*args, **kwargs):
        raise RuntimeError("fulfilment is down")

    # The fulfilment consumer runs first and without a savepoint; it fails, so its transaction
    # is rolled back whole, and the partner's webhook consumer runs in a transaction of its own.
    monkeypatch.setattr(services, "fulfil_in_transaction", down)
    order = paid_order("arvato_shop")
    deliveries = {d.consumer: d for d in db.session.scalars(
        select(EventDelivery).join(EventDelivery.event).where(OutboxEvent.kind == "OrderPaid"))}
    assert deliveries["fulfilment"].done_at is None and deliveries["fulfilment"].attempts == 1
    assert "fulfilment is down" in deliveries["fulfilment"].last_error
    assert deliveries["webhooks"].done_at is not None and deliveries["webhooks"].attempts == 1
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
    assert sims["arvato"].state()["purchases"] == 0
    monkeypatch.setattr(services, "fulfil_in_transaction", real)
    services.sweep(now=utcnow() + timedelta(hours=1))
    db.session.refresh(order)
    assert order.fulfilment_status == FulfilmentStatus.DELIVERED
    assert sims["arvato"].state()["purchases"] == 1 and len(inbox.to("buyer@example.com")) == 1
    # order.paid owed once, not again by the retry (the endpoint takes no order.delivered)
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


# -- breakers --------------------------------------------------------------------------------


@pytest.fixture
def trips(wired, request):
    """A fresh, in-process circuit per test. Its cooldown is long enough that a busy machine
    does not see it pass; a test that waits for it gives a short one (indirect parameter)."""
    cooldown = getattr(request, "param", 30.0)
    wired.config.update(WHOLESALER_BREAKER_THRESHOLD=2, WHOLESALER_BREAKER_COOLDOWN=cooldown,
                        FULFILMENT_MAX_ATTEMPTS=10, WHOLESALER_RETRY_ATTEMPTS=1)
    wired.extensions.pop("comptoir.breaker", None)
    return breaker(wired)


def test_an_open_breaker_fails_over_where_the_partner_allows_it(
    wired, db, paid_order, catalogue, sims, inbox, trips
):
    catalogue["nexway_shop"].allow_failover = True
    db.session.commit()
    sims["nexway"].configure(fail_next_n=100, fail_status=503)
    first = paid_order("nexway_shop")
    assert _line(db, first).status == LineStatus.PENDING  # one failure: a retry later
    # The second failure in a row opens nexway's circuit: that line fails over at once...
    second = paid_order("nexway_shop")
    assert trips.state("nexway") == "open"
    assert _line(db, second).status == LineStatus.DELIVERED
    assert _line(db, second).wholesaler_code == "arvato"
    calls = sum(sims["nexway"].state()["requests"].values())
    # ...and a third order goes straight to arvato without a call to nexway.
    third = paid_order("nexway_shop", email="third@example.com")
    line = _line(db, third)
    assert line.status == LineStatus.DELIVERED and line.wholesaler_code == "arvato"
    assert "circuit open" in line.routing_reason
    assert sum(sims["nexway"].state()["requests"].values()) == calls
    # The waiting line fails over too at its next try, while the circuit is still open.
    services.sweep(now=utcnow() + timedelta(hours=1))
    assert {_line(db, o).wholesaler_code for o in (first, second)} == {"arvato"}
    assert sims["nexway"].state()["purchases"] == 0 and sims["arvato"].state()["purchases"] == 3
    assert len(inbox.to("third@example.com")) == 1 and len(inbox.to("buyer@example.com")) == 2


@pytest.mark.parametrize("trips", [0.5], indirect=True)
def test_without_failover_lines_wait_for_the_probe_which_closes_the_circuit(
    wired, db, paid_order, sims, inbox, trips
):
    sims["arvato"].configure(fail_next_n=2, fail_status=503, fault_scope=["create_order"])
    waiting = [paid_order("arvato_shop", email=f"b{i}@example.com") for i in range(3)]
    assert trips.state("arvato") == "open"
    assert _requests(sims["arvato"], "create_order") == 2  # the third order made no call
    third = _line(db, waiting[2])
    assert third.status == LineStatus.PENDING and "circuit open" in third.last_error
    assert third.attempts == 0  # waiting on a circuit is not the line's failure
    time.sleep(0.6)  # the cooldown passes: the next try is the probe
    services.sweep(now=utcnow() + timedelta(hours=1))
    assert trips.state("arvato") == "closed"
    assert all(_line(db, o).status == LineStatus.DELIVERED for o in waiting)
    assert sims["arvato"].state()["purchases"] == 3
    assert all(len(inbox.to(f"b{i}@example.com")) == 1 for i in range(3))


def test_a_hung_wholesaler_holds_a_try_for_one_timeout_then_the_line_is_scheduled(
    wired, db, paid_order, sims
):
    """One call per try: the hung request times out once, and the retry is a scheduled attempt."""
    sims["arvato"].configure(timeout_next_n=5, timeout_ms=5_000, fault_scope=["create_order"])
    # A retry pause long enough that "scheduled for later" cannot depend on how busy we are.
    wired.config.update(WHOLESALER_RETRY_ATTEMPTS=1, FULFILMENT_RETRY_BASE=60.0)
    order = paid_order("arvato_shop")
    line = _line(db, order)
    assert line.status == LineStatus.PENDING and line.attempts == 1
    assert "after 1 attempts" in line.last_error and "no answer in time" in line.last_error
    assert line.next_attempt_at > utcnow() + timedelta(seconds=20)  # a new attempt, for later
    assert _requests(sims["arvato"], "create_order") == 1  # no loop of calls inside the task


# -- the callback inbox ----------------------------------------------------------------------


def test_a_callback_for_a_busy_line_is_recorded_at_once_and_applied_after(
    live_app, db, paid_order, sims, inbox, monkeypatch
):
    tries: list[CallbackStatus] = []
    apply_callback = services.apply_callback

    def observed_apply(callback_id, now=None, leave_if_busy=False):
        tries.append(status := apply_callback(callback_id, now, leave_if_busy))
        return status

    monkeypatch.setattr(services, "apply_callback", observed_apply)
    sims["nexway"].configure(delivery_delay_ms=400)
    live_app.config["FULFILMENT_POLL_INTERVAL"] = 3600.0  # no poll: only the callback delivers
    order = paid_order("nexway_shop")
    line = _line(db, order)
    assert line.status == LineStatus.ORDERED
    # A worker holds the line (a poll in progress, whose process then dies before it could
    # apply what came meanwhile) when the delivery notification arrives.
    db.session.execute(update(FulfilmentLine).where(FulfilmentLine.id == line.id)
                       .values(lease_until=utcnow() + timedelta(minutes=5)))
    db.session.commit()
    deadline = time.monotonic() + 10
    while not sims["nexway"].state()["orders"][line.supplier_reference]["callbacks"]:
        assert time.monotonic() < deadline, "no notification came"
        time.sleep(0.05)
    (answer,) = sims["nexway"].state()["orders"][line.supplier_reference]["callbacks"]
    assert answer["status"] == 202  # answered at once: no 503, no retry by the wholesaler
    record = db.session.scalar(select(WholesalerCallback))
    assert record.status == CallbackStatus.RECEIVED and record.reference == line.supplier_reference
    while not tries:  # its application, right after the answer, finds the line busy
        assert time.monotonic() < deadline, "the callback was never tried"
        time.sleep(0.05)
    assert tries == [CallbackStatus.RECEIVED]
    db.session.refresh(record)  # left for the line's holder: nothing written
    assert (record.status, record.attempts, record.last_error) == (CallbackStatus.RECEIVED, 0,
                                                                   None)
    assert record.next_attempt_at <= utcnow()  # due for the sweep, should the holder not apply it
    assert _line(db, order).status == LineStatus.ORDERED  # not applied under another's lease
    # The lease runs out; the sweep applies the recorded callback, once.
    db.session.execute(update(FulfilmentLine).where(FulfilmentLine.id == line.id)
                       .values(lease_until=None))
    db.session.commit()
    report = services.sweep(now=utcnow() + timedelta(seconds=5))
    assert report.callbacks_applied == 1
    assert _line(db, order).status == LineStatus.DELIVERED
    db.session.refresh(record)
    assert record.status == CallbackStatus.APPLIED
    assert services.sweep(now=utcnow() + timedelta(minutes=5)).callbacks_applied == 0
    assert len(inbox.to("buyer@example.com")) == 1 and sims["nexway"].state()["purchases"] == 1
    assert db.session.scalar(select(func.count()).select_from(DeliveredUnit)) == 1


def test_the_same_callback_twice_is_recorded_once(live_app, db, paid_order, sims, client, inbox):
    sims["nexway"].configure(delivery_delay_ms=100)
    order = paid_order("nexway_shop")
    inbox.wait_for("buyer@example.com")
    line = _line(db, order)
    (record,) = db.session.scalars(select(WholesalerCallback)).all()
    assert record.status == CallbackStatus.APPLIED
    # The wholesaler sends the very same notification again (its own retry, a replay).
    simulator = sims["nexway"].simulator
    body = json.dumps(simulator.notification(simulator.orders[line.supplier_reference])).encode()
    headers = {"Nexway-Signature": sign_callback("test-nexway-callback-secret", body,
                                                 int(time.time()))}
    response = client.post("/webhooks/wholesalers/nexway", data=body, headers=headers)
    assert response.status_code == 202 and response.get_json()["recorded"] == "duplicate"
    services.sweep(now=utcnow() + timedelta(minutes=5))
    assert db.session.scalar(select(func.count()).select_from(WholesalerCallback)) == 1
    assert len(inbox.to("buyer@example.com")) == 1


# -- state machines --------------------------------------------------------------------------


def test_an_illegal_line_or_unit_transition_is_refused_and_changes_nothing(
    wired, db, paid_order
):
    order = paid_order("arvato_shop")
    line = _line(db, order)
    audit = db.session.scalar(select(func.count()).select_from(FulfilmentStatusChange))
    for illegal in (LineStatus.PENDING, LineStatus.ORDERED, LineStatus.NEEDS_ATTENTION):
        with pytest.raises(InvalidTransition, match="delivered"):
            set_line_status(line, illegal, "a bug")
    assert line.status == LineStatus.DELIVERED
    (unit,) = line.units
    set_unit_status(unit, UnitStatus.REPLACED, "reported")
    with pytest.raises(InvalidTransition):
        set_unit_status(unit, UnitStatus.ACTIVE, "a bug")
    db.session.commit()
    db.session.refresh(unit)
    assert unit.status == UnitStatus.REPLACED
    assert db.session.scalar(select(func.count()).select_from(FulfilmentStatusChange)) == audit + 1


def test_each_line_move_is_audited(wired, db, paid_order, sims):
    sims["arvato"].configure(fail_next_n=1, fault_scope=["create_order"])
    order = paid_order("arvato_shop")
    services.sweep(now=utcnow() + timedelta(hours=1))
    line = _line(db, order)
    moves = db.session.execute(
        select(FulfilmentStatusChange.from_status, FulfilmentStatusChange.to_status)
        .where(FulfilmentStatusChange.line_id == line.id, FulfilmentStatusChange.unit_id.is_(None))
        .order_by(FulfilmentStatusChange.at)
    ).all()
    assert [tuple(m) for m in moves] == [("pending", "delivered")]
    assert db.session.get(Order, order.id).fulfilment_status == FulfilmentStatus.DELIVERED


# -- chains and e-mails after the commit -----------------------------------------------------


def test_the_follow_ups_of_a_delivery_run_in_its_own_transaction(wired, db, paid_order, inbox):
    order = paid_order("arvato_shop")
    rows = db.session.execute(
        select(OutboxEvent.kind, EventDelivery.consumer, EventDelivery.done_at,
               EventDelivery.attempts).join(EventDelivery.event)
        .where(OutboxEvent.order_id == order.id)).all()
    done = {(kind, consumer): (at, attempts) for kind, consumer, at, attempts in rows}
    assert set(done) == {("OrderPaid", "fulfilment"), ("OrderPaid", "webhooks"),
                         ("OrderPaid", "invoicing"), ("InvoiceIssued", "invoice-pdf"),
                         ("LineDelivered", "buyer-email"), ("LineDelivered", "commissions"),
                         ("OrderDelivered", "webhooks")}
    # One relay: the line's consumers ran in the fulfilment's transaction, each delivery row
    # written once, done at its first attempt, at the same moment as the one that caused them.
    assert {attempts for _at, attempts in done.values()} == {1}
    pdf_at = done.pop(("InvoiceIssued", "invoice-pdf"))[0]
    assert len({at for at, _attempts in done.values()}) == 1
    # The invoice's PDF alone is made after that transaction committed (docs/invoices.md).
    assert pdf_at > next(iter(done.values()))[0]
    assert len(inbox.to("buyer@example.com")) == 1


def test_an_email_leaves_only_once_its_transaction_has_committed(wired, db, paid_order, inbox):
    order = paid_order("arvato_shop")
    assert len(inbox.to("buyer@example.com")) == 1
    assert emails.send_once(f"replacement:test-{order.id}", order.id, "replacement")
    db.session.rollback()  # the transaction that owed it failed: nothing owed, nothing sent
    assert len(inbox.to("buyer@example.com")) == 1
    assert db.session.scalar(select(func.count()).select_from(OutgoingEmail).where(
        OutgoingEmail.key == f"replacement:test-{order.id}")) == 0
    assert emails.send_once(f"replacement:test-{order.id}", order.id, "replacement")
    db.session.commit()
    inbox.wait_for("buyer@example.com", count=2)
    owed = db.session.scalar(select(OutgoingEmail).where(
        OutgoingEmail.key == f"replacement:test-{order.id}"))
    db.session.refresh(owed)
    assert owed.status == "sent" and owed.sent_at is not None and owed.lease_until is None
    assert not emails.send_once(f"replacement:test-{order.id}", order.id, "replacement")


def test_a_callback_that_overtakes_its_purchase_is_applied_by_the_purchase(
    live_app, db, paid_order, sims, inbox
):
    # Nexway delivers and notifies before it has answered the purchase: the callback lands
    # while the purchase's transaction is still open, so no line carries its reference yet.
    sims["nexway"].configure(delivery_delay_ms=0, notify_before_answer=True)
    live_app.config["FULFILMENT_POLL_INTERVAL"] = 3600.0  # no poll: only the callback delivers
    live_app.config["WHOLESALER_TIMEOUT"] = 5.0  # the answer waits for the notification's
    order = paid_order("nexway_shop")
    if db.engine.dialect.name == "postgresql":
        # The purchase reads the inbox before it commits and delivers the line itself.
        line = _line(db, order)
        assert line.status == LineStatus.DELIVERED
        record = db.session.scalar(select(WholesalerCallback))
        assert record.status == CallbackStatus.APPLIED
        assert record.reference == line.supplier_reference
        actions = [a.action for a in db.session.scalars(
            select(FulfilmentAttempt).where(FulfilmentAttempt.line_id == line.id)
            .order_by(FulfilmentAttempt.at))]
        assert actions == ["place_order", "callback"]
        moves = db.session.scalars(select(StatusChange.to_status).where(
            StatusChange.order_id == order.id, StatusChange.field == "fulfilment")
            .order_by(StatusChange.created_at)).all()
        assert moves == ["awaiting_fulfilment", "delivered"]  # in the purchase's transaction
    else:
        # SQLite: the callback's write and the purchase's collide on the database's one write
        # lock, and the purchase's transaction is refused; the relay's retry finishes it.
        services.sweep(now=utcnow() + timedelta(minutes=5))
    inbox.wait_for("buyer@example.com")
    assert _line(db, order).status == LineStatus.DELIVERED
    assert services.sweep(now=utcnow() + timedelta(minutes=10)).callbacks_applied == 0
    assert len(inbox.to("buyer@example.com")) == 1 and sims["nexway"].state()["purchases"] == 1
    assert db.session.scalar(select(func.count()).select_from(DeliveredUnit)) == 1
    assert db.session.scalar(select(func.count()).select_from(WholesalerCallback)) == 1


def test_a_callback_recorded_while_its_purchase_commits_is_applied_right_after_it(
    live_app, db, postgres_only, paid_order, sims, inbox, monkeypatch
):
    # Nexway answers the purchase, then notifies at once: the callback is recorded after the
    # purchase has read the inbox, and its first application finds no line it can take. It
    # writes nothing and leaves the callback to the purchase, which applies it once committed,
    # with no sweep and no retry a second later. (PostgreSQL: on SQLite the purchase's open
    # transaction holds the one write lock, and the callback is recorded only after its commit.)
    sims["nexway"].configure(delivery_delay_ms=0)
    live_app.config["FULFILMENT_POLL_INTERVAL"] = 3600.0  # no poll: only the callback delivers
    first_tries: list[CallbackStatus] = []
    read_done, first_done = threading.Event(), threading.Event()
    apply_callback, read_inbox = services.apply_callback, services._apply_waiting_callbacks
    receive_callback = services.receive_callback

    def held_receive(code, body, headers):  # recorded only once the purchase has read the inbox
        assert read_done.wait(10), "the purchase never read the inbox"
        return receive_callback(code, body, headers)

    def observed_apply(callback_id, now=None, leave_if_busy=False):
        status = apply_callback(callback_id, now, leave_if_busy)
        if not first_done.is_set():
            first_tries.append(status)
            first_done.set()
        return status

    def read_then_wait(line, now):
        applied = read_inbox(line, now)
        read_done.set()
        assert first_done.wait(10), "the callback's first application never ran"
        return applied

    monkeypatch.setattr(services, "receive_callback", held_receive)
    monkeypatch.setattr(services, "apply_callback", observed_apply)
    monkeypatch.setattr(services, "_apply_waiting_callbacks", read_then_wait)
    order = paid_order("nexway_shop")
    inbox.wait_for("buyer@example.com")
    assert first_tries == [CallbackStatus.RECEIVED]  # it found the line in flight: left it
    line = _line(db, order)
    assert line.status == LineStatus.DELIVERED
    record = db.session.scalar(select(WholesalerCallback))
    db.session.refresh(record)
    assert record.status == CallbackStatus.APPLIED and record.attempts == 1
    assert record.last_error is None  # never put off for a retry
    actions = [a.action for a in db.session.scalars(
        select(FulfilmentAttempt).where(FulfilmentAttempt.line_id == line.id)
        .order_by(FulfilmentAttempt.at))]
    assert actions == ["place_order", "callback"]
    assert services.sweep(now=utcnow() + timedelta(minutes=10)).callbacks_applied == 0
    assert len(inbox.to("buyer@example.com")) == 1 and sims["nexway"].state()["purchases"] == 1
    assert db.session.scalar(select(func.count()).select_from(DeliveredUnit)) == 1
