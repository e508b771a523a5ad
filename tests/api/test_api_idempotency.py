"""Idempotency-Key: a retry replays the first answer, another body conflicts, races settle."""

from __future__ import annotations

import threading
import uuid

import pytest
from api_support import CONSENT_VERSION, consented_at, order_body
from sqlalchemy import select, update
from support.processes import PATIENCE, join_all

from commerce.models import Order, PaymentStatus, ProcessedEvent
from legal.terms import in_force
from partner_api import services
from partner_api.models import ApiIdempotency


def test_same_key_and_body_replays_the_same_answer(api, catalogue, count, handed_off):
    body = order_body({"product": "OFFICE-HOME-2024-WIN", "quantity": 2, "backup": True})
    headers = {"Idempotency-Key": "order-42"}
    first = api("POST", "/orders", catalogue.key_a, body, headers=headers)
    again = api("POST", "/orders", catalogue.key_a, body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_data() == first.get_data()
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(Order) == 1 and count(ProcessedEvent) == 1 and len(handed_off) == 1


def test_key_order_and_spacing_do_not_make_another_body(api, catalogue, count, handed_off):
    headers = {"Idempotency-Key": "order-43", "Content-Type": "application/json"}
    auth = {"Authorization": f"Bearer {catalogue.key_a}"}
    terms = in_force().version
    consent = f'"consented_at":"{consented_at()}","wording_version":"{CONSENT_VERSION}"'
    first = api("POST", "/orders", data='{"lines":[{"product":"WIN11-PRO","quantity":1}],'
                '"buyer":{"email":"c@example.com","name":"C"},'
                f'"terms_version":"{terms}","immediate_delivery":{{{consent}}}}}',
                headers=headers | auth)
    again = api("POST", "/orders", data=f'{{ "terms_version": "{terms}",\n'
                f' "immediate_delivery": {{ {consent.replace(",", ", ")} }},\n'
                ' "buyer": {"name": "C", "email": "c@example.com"},\n'
                '  "lines": [{"quantity": 1, "product": "WIN11-PRO"}] }', headers=headers | auth)
    assert first.status_code == 201 and again.get_data() == first.get_data()
    assert count(Order) == 1


def test_same_key_with_another_body_is_a_conflict(api, catalogue, count, handed_off):
    headers = {"Idempotency-Key": "order-44"}
    first = api("POST", "/orders", catalogue.key_a, order_body(), headers=headers)
    other = order_body({"product": "OFFICE-HOME-2024-WIN", "quantity": 3})
    response = api("POST", "/orders", catalogue.key_a, other, headers=headers)
    assert first.status_code == 201 and response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "idempotency_conflict" and error["message"]
    assert count(Order) == 1
    replay = api("POST", "/orders", catalogue.key_a, order_body(), headers=headers)
    assert replay.get_data() == first.get_data()


def test_keys_belong_to_one_partner(api, catalogue, count, handed_off):
    headers = {"Idempotency-Key": "shared-name"}
    a = api("POST", "/orders", catalogue.key_a, order_body(), headers=headers)
    b = api("POST", "/orders", catalogue.key_b, order_body(), headers=headers)
    assert a.status_code == b.status_code == 201
    assert a.get_json()["id"] != b.get_json()["id"] and count(Order) == 2


def test_a_refused_request_does_not_spend_its_key(api, catalogue, count, handed_off):
    headers = {"Idempotency-Key": "retry-after-fix"}
    refused = api("POST", "/orders", catalogue.key_a,
                  order_body({"product": "NOPE", "quantity": 1}), headers=headers)
    assert refused.status_code == 422 and count(ApiIdempotency) == 0
    fixed = api("POST", "/orders", catalogue.key_a, order_body(), headers=headers)
    assert fixed.status_code == 201 and count(Order) == 1


@pytest.mark.parametrize("key", ["", "with space", "é", "x" * 256])
def test_malformed_idempotency_key_is_refused(api, catalogue, count, key):
    response = api("POST", "/orders", catalogue.key_a, order_body(),
                   headers={"Idempotency-Key": key})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_request" and error["details"]["field"] == "Idempotency-Key"
    assert count(Order) == 0


def test_request_that_died_after_placing_the_order_is_finished_by_its_retry(
    api, catalogue, count, db, handed_off, monkeypatch
):
    def crash(order: Order) -> services.Answer:
        raise RuntimeError("worker killed")

    headers = {"Idempotency-Key": "dies-once"}
    with monkeypatch.context() as patch:
        patch.setattr(services, "_confirm_and_answer", crash)
        with pytest.raises(RuntimeError, match="worker killed"):
            api("POST", "/orders", catalogue.key_a, order_body(), headers=headers)
    db.session.remove()
    pending = db.session.scalar(select(Order))
    assert pending.payment_status == PaymentStatus.PENDING and handed_off == []

    retry = api("POST", "/orders", catalogue.key_a, order_body(), headers=headers)
    assert retry.status_code == 201 and retry.get_json()["id"] == str(pending.id)
    assert retry.get_json()["payment_status"] == "paid"
    assert count(Order) == 1 and handed_off == [pending.id]
    third = api("POST", "/orders", catalogue.key_a, order_body(), headers=headers)
    assert third.get_data() == retry.get_data()


def test_request_that_died_before_storing_its_answer_is_not_paid_twice(
    api, catalogue, count, db, handed_off
):
    headers = {"Idempotency-Key": "lost-answer"}
    first = api("POST", "/orders", catalogue.key_a, order_body(), headers=headers)
    db.session.execute(update(ApiIdempotency).values(response_status=None, response_body=None))
    db.session.commit()
    retry = api("POST", "/orders", catalogue.key_a, order_body(), headers=headers)
    assert retry.status_code == 201 and retry.get_json()["id"] == first.get_json()["id"]
    assert count(Order) == 1 and count(ProcessedEvent) == 1 and len(handed_off) == 1


def test_concurrent_requests_with_one_key_place_one_order(
    app, catalogue, count, handed_off, postgres_only
):
    body = order_body({"product": "OFFICE-HOME-2024-WIN", "quantity": 1, "backup": True})
    headers = {"Idempotency-Key": f"race-{uuid.uuid4()}",
               "Authorization": f"Bearer {catalogue.key_a}"}
    threads_count = 8
    barrier = threading.Barrier(threads_count)
    answers: list[tuple[int, bytes]] = []
    failures: list[BaseException] = []

    def post() -> None:
        try:
            client = app.test_client()
            barrier.wait(timeout=PATIENCE)
            response = client.post("/api/v1/orders", json=body, headers=headers)
            answers.append((response.status_code, response.get_data()))
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=post) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    join_all(threads)
    assert not failures, failures
    assert len(answers) == threads_count
    assert {status for status, _ in answers} == {201}
    assert len({data for _, data in answers}) == 1
    assert count(Order) == 1 and count(ProcessedEvent) == 1 and count(ApiIdempotency) == 1
    assert len(handed_off) == 1
