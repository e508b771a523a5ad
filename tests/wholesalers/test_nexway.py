"""Nexway specifics: the Connect wire (asserted on the simulator's side), keys delivered later by
signed notification, download time, tokens, failed deliveries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support.simulators import simulator_changes

from fulfilment.simulators import SimulatorHandle, start_simulator
from fulfilment.wholesalers import (
    BadCallbackSignature,
    MalformedAnswer,
    PermanentWholesalerError,
    SupplierOrderRequest,
    SupplierOrderStatus,
)
from fulfilment.wholesalers.base import Customer
from fulfilment.wholesalers.http import Answer
from fulfilment.wholesalers.nexway import (
    FALLBACK_CUSTOMER,
    NexwayAdapter,
    forget_tokens,
    sign_callback,
)
from fulfilment.wholesalers.nexway import _read as read_answer

Ref = Callable[[], str]
SKU = "NX-OFF-HOME-24"
KEY = "BCDFG-HJKMP-QRTVW-XY234-6789B"
OTHER_KEY = "BCDFG-HJKMP-QRTVW-XY234-6789C"
BUYER = Customer(email="marie@example.com", language="fr", country="FR", first_name="Marie",
                 last_name="Curie")


def _hmac_header(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """Sign as docs/wholesalers.md says (t=<unix>,v1=<hex HMAC-SHA256 of "t.body">), by hand."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Nexway-Signature": f"t={timestamp},v1={mac}"}


def _document(reference: str = "CPT-1", keys: tuple[str, ...] = (KEY,), *, code: int = 0,
              expiry: str = "2030-01-01") -> dict[str, Any]:
    """A Connect order document, delivered: one lineItem with one serial per key."""
    return {
        "responseCode": code, "responseMessage": "OK", "partnerOrderNumber": reference,
        "orderNumber": 123456789,
        "orderLines": [{
            "productRef": SKU, "quantity": len(keys), "responseCode": 0, "responseMessage": "OK",
            "dateEndDownload": expiry,
            "files": [{"group": "setup", "label": "x", "type": "exe", "size": 1.0,
                       "url": "https://dl.nexway.example/x"}],
            "lineItems": [{"responseCode": 0, "responseMessage": "OK",
                           "serials": [{"data": key, "encoding": "plain", "charset": "UTF-8",
                                        "fileName": ""}]} for key in keys],
        }],
    }


def _notification(document: dict[str, Any], kind: str = "completed") -> bytes:
    return json.dumps({"subject": "order", "type": kind, "objectId": str(document["orderNumber"]),
                       "eventDate": "2030-01-01T10:00:00.000Z", "order": document}).encode()


def _signed(nexway: NexwayAdapter, body: bytes) -> dict[str, str]:
    return {k.lower(): v for k, v in _hmac_header(nexway.callback_secret, body,
                                                  int(time.time())).items()}


# -- the CreateOrderRequest, as the simulator received it ------------------------------------------


def test_the_order_is_sent_as_a_connect_create_order_request(
    nexway: NexwayAdapter, nexway_sim: Any, receiver: Any, reference_factory: Ref
) -> None:
    reference = reference_factory()
    paid = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)
    nexway.place_order(SupplierOrderRequest(reference, SKU, 2, callback_url=receiver.url,
                                            customer=BUYER, unit_price_cents=5999,
                                            currency="eur", order_date=paid))
    assert nexway_sim.state()["orders"][reference]["request"] == {
        "partnerOrderNumber": reference,
        "orderDate": "2026-03-14T09:26:53+00:00",
        "currency": "EUR",
        "orderLines": [{"productRef": SKU, "quantity": 2, "vatRate": None,
                        "amountDutyFree": None, "amountTotal": 119.98}],
        "customer": {"email": "marie@example.com", "language": "fr_FR",
                     "locationInvoice": {"country": "FR", "firstName": "Marie",
                                         "lastName": "Curie"}},
        "metadata": [{"key": "notificationUrl", "value": receiver.url}],
    }


def test_without_buyer_or_price_the_stand_in_and_null_amounts_are_sent(
    nexway: NexwayAdapter, nexway_sim: Any, reference_factory: Ref
) -> None:
    reference = reference_factory()
    nexway.place_order(SupplierOrderRequest(reference, SKU, 1))
    sent = nexway_sim.state()["orders"][reference]["request"]
    assert sent["customer"]["email"] == FALLBACK_CUSTOMER.email
    assert sent["customer"]["language"] == "en_FR" and "metadata" not in sent
    assert sent["orderLines"][0]["amountTotal"] is None
    assert datetime.fromisoformat(sent["orderDate"]).tzinfo is not None


def test_a_catalogue_that_needs_a_price_refuses_an_order_without_one(
    nexway: NexwayAdapter, nexway_sim: Any, reference_factory: Ref
) -> None:
    nexway_sim.configure(require_prices=True)
    with pytest.raises(PermanentWholesalerError) as caught:
        nexway.place_order(SupplierOrderRequest(reference_factory(), SKU, 1))
    assert caught.value.code == "1053" and not caught.value.retryable
    assert nexway_sim.state()["purchases"] == 0
    nexway.place_order(SupplierOrderRequest(reference_factory(), SKU, 1, unit_price_cents=1000))
    assert nexway_sim.state()["purchases"] == 1


def test_a_numeric_sku_goes_as_a_numeric_product_ref(
    nexway: NexwayAdapter, nexway_sim: Any, reference_factory: Ref
) -> None:
    reference = reference_factory()
    order = nexway.place_order(SupplierOrderRequest(reference, "668678", 1))
    assert order.sku == "668678"
    sent = nexway_sim.state()["orders"][reference]["request"]
    assert sent["orderLines"][0]["productRef"] == 668678
    assert nexway.check_stock("668678").available


def test_the_stock_is_checked_before_ordering(nexway: NexwayAdapter, nexway_sim: Any,
                                              reference_factory: Ref) -> None:
    nexway.place_order(SupplierOrderRequest(reference_factory(), SKU, 1))
    assert nexway_sim.state()["requests"] == {"stock": 1, "create_order": 1}


def test_almost_out_of_stock_is_still_available(nexway: NexwayAdapter, nexway_sim: Any) -> None:
    nexway_sim.configure(stock={SKU: 3}, almost_out_of_stock_below=10)
    stock = nexway.check_stock(SKU)
    assert stock.available and stock.quantity == 3


def test_out_of_stock_after_our_order_was_placed_returns_our_order(
    nexway: NexwayAdapter, nexway_sim: Any, reference_factory: Ref
) -> None:
    reference = reference_factory()
    first = nexway.place_order(SupplierOrderRequest(reference, SKU, 1))
    nexway_sim.configure(out_of_stock=[SKU])
    again = nexway.place_order(SupplierOrderRequest(reference, SKU, 1))
    assert again.supplier_order_id == first.supplier_order_id
    assert nexway_sim.state()["purchases"] == 1


def test_a_known_partner_order_number_is_looked_up_not_bought_again(
    nexway: NexwayAdapter, nexway_sim: Any, reference_factory: Ref
) -> None:
    reference = reference_factory()
    first = nexway.place_order(SupplierOrderRequest(reference, SKU, 1))
    again = nexway.place_order(SupplierOrderRequest(reference, SKU, 1))
    assert again.supplier_order_id == first.supplier_order_id and again.reference == reference
    state = nexway_sim.state()
    assert state["purchases"] == 1 and state["requests"]["create_order"] == 2
    assert state["requests"]["get_order"] == 1  # the 1010 answer is followed by one look-up


# -- delivery and notifications --------------------------------------------------------------------


def test_an_order_is_accepted_then_delivered_by_a_signed_notification(
    nexway: NexwayAdapter, nexway_sim: Any, receiver: Any, reference_factory: Ref
) -> None:
    nexway_sim.configure(delivery_delay_ms=200)
    reference = reference_factory()
    placed = nexway.place_order(SupplierOrderRequest(reference, SKU, 2, callback_url=receiver.url))
    assert placed.status is SupplierOrderStatus.ACCEPTED and placed.items == ()
    assert placed.supplier_order_id.isdigit()  # Connect's orderNumber
    polled = nexway.fetch_order(reference)
    assert polled is not None and polled.status is SupplierOrderStatus.ACCEPTED

    callback = receiver.next()
    delivered = nexway.handle_callback(callback.body, callback.headers)
    assert delivered.reference == reference and delivered.status is SupplierOrderStatus.DELIVERED
    assert len(delivered.items) == 2
    assert nexway.fetch_order(reference) == delivered  # polling sees the same keys
    expires = delivered.items[0].download_expires_at  # dateEndDownload: a day, read at 00:00 UTC
    assert abs(expires - (datetime.now(UTC) + timedelta(days=21))) < timedelta(days=1)
    envelope = json.loads(callback.body)
    assert (envelope["subject"], envelope["type"]) == ("order", "completed")
    assert envelope["objectId"] == delivered.supplier_order_id
    assert datetime.fromisoformat(envelope["eventDate"]).tzinfo is not None
    line = envelope["order"]["orderLines"][0]
    assert [unit["serials"][0]["data"] for unit in line["lineItems"]] == list(
        delivered.product_keys)


def test_a_callback_is_retried_until_it_is_acknowledged(
    nexway: NexwayAdapter, nexway_sim: Any, receiver: Any, reference_factory: Ref
) -> None:
    nexway_sim.configure(callback_retry_ms=10)
    receiver.statuses = [500]
    reference = reference_factory()
    nexway.place_order(SupplierOrderRequest(reference, SKU, 1, callback_url=receiver.url))
    first, second = receiver.next(), receiver.next()
    assert nexway.handle_callback(first.body, first.headers) == nexway.handle_callback(
        second.body, second.headers)
    # The simulator records an attempt once it has the answer, just after the receiver has it.
    simulator_changes(nexway_sim).wait_until(
        lambda: len(nexway_sim.state()["orders"][reference]["callbacks"]) >= 2,
        what="two recorded callback attempts",
    )
    assert [c["status"] for c in nexway_sim.state()["orders"][reference]["callbacks"]] == [500, 200]


def test_a_genuinely_signed_notification_is_accepted(nexway: NexwayAdapter) -> None:
    body = _notification(_document())
    stamp = int(time.time())
    headers = _hmac_header(nexway.callback_secret, body, stamp)
    order = nexway.handle_callback(body, {k.lower(): v for k, v in headers.items()})
    assert order.product_keys == (KEY,) and order.supplier_order_id == "123456789"
    assert order.items[0].download_expires_at == datetime(2030, 1, 1, tzinfo=UTC)
    assert sign_callback(nexway.callback_secret, body, stamp) == headers["Nexway-Signature"]


@pytest.mark.parametrize("tamper", [
    "wrong_secret", "tampered_body", "stale", "future", "missing", "no_timestamp", "garbled",
])
def test_a_badly_signed_callback_is_rejected(nexway: NexwayAdapter, tamper: str) -> None:
    body = _notification(_document())
    now = int(time.time())
    secret = "another-secret" if tamper == "wrong_secret" else nexway.callback_secret
    stamp = {"stale": now - 301, "future": now + 301}.get(tamper, now)
    headers = _hmac_header(secret, body, stamp)
    if tamper == "tampered_body":
        body = body.replace(KEY.encode(), OTHER_KEY.encode())
    elif tamper == "missing":
        headers = {}
    elif tamper == "no_timestamp":
        headers["Nexway-Signature"] = headers["Nexway-Signature"].split(",")[1]
    elif tamper == "garbled":
        headers["Nexway-Signature"] = "t=abc,v1=zz"
    with pytest.raises(BadCallbackSignature):
        nexway.handle_callback(body, headers)


def _tampered(case: str) -> bytes:
    doc = _document(keys=(KEY, OTHER_KEY))
    line = doc["orderLines"][0]
    kind = "completed"
    if case == "bad_key":
        line["lineItems"][0]["serials"][0]["data"] = "AAAAA-EEEEE-IIIII-OOOOO-UUUUU"
    elif case == "duplicate_key":
        line["lineItems"][1]["serials"][0]["data"] = KEY
    elif case == "two_serials":
        line["lineItems"][0]["serials"] *= 2
    elif case == "serial_on_a_pending_unit":
        line["lineItems"][0]["responseCode"] = 1051
    elif case == "quantity_disagrees":
        line["quantity"] = 3
    elif case == "no_download_file":
        line["files"] = []
    elif case == "expiry_without_time_zone":
        line["dateEndDownload"] = "2030-01-01T00:00:00"
    elif case == "no_expiry":
        del line["dateEndDownload"]
    elif case == "two_lines":
        doc["orderLines"].append(json.loads(json.dumps(line)))
    elif case == "order_number_is_a_boolean":
        doc["orderNumber"] = True
    elif case == "response_code_is_a_string":
        doc["responseCode"] = "0"
    elif case == "unknown_encoding":
        line["lineItems"][0]["serials"][0]["encoding"] = "rot13"
    elif case == "type_disagrees_with_the_order":
        kind = "fulfillmentFailed"
    elif case == "unknown_type":
        kind = "paymentRefused"
    body = json.loads(_notification(doc, kind))
    if case == "another_object_id":
        body["objectId"] = "1"
    elif case == "another_subject":
        body["subject"] = "subscription"
    return json.dumps(body).encode()


@pytest.mark.parametrize("case", [
    "bad_key", "duplicate_key", "two_serials", "serial_on_a_pending_unit", "quantity_disagrees",
    "no_download_file", "expiry_without_time_zone", "no_expiry", "two_lines",
    "order_number_is_a_boolean", "response_code_is_a_string", "unknown_encoding",
    "type_disagrees_with_the_order", "unknown_type", "another_object_id", "another_subject",
])
def test_a_signed_but_wrong_notification_is_an_error_never_a_key(
    nexway: NexwayAdapter, case: str
) -> None:
    body = _tampered(case)
    with pytest.raises(MalformedAnswer):
        nexway.handle_callback(body, _signed(nexway, body))


def test_a_base64_serial_is_decoded(nexway: NexwayAdapter) -> None:
    doc = _document()
    doc["orderLines"][0]["lineItems"][0]["serials"][0].update(
        data=base64.b64encode(KEY.encode()).decode(), encoding="base64")
    body = _notification(doc)
    assert nexway.handle_callback(body, _signed(nexway, body)).product_keys == (KEY,)


def test_a_cancelled_notification_carries_no_key(nexway: NexwayAdapter) -> None:
    body = _notification(_document(code=1011), "canceled")
    order = nexway.handle_callback(body, _signed(nexway, body))
    assert order.status is SupplierOrderStatus.CANCELLED and order.items == ()


def test_a_signed_but_malformed_callback_is_an_error_never_a_key(
    nexway: NexwayAdapter, nexway_sim: Any, receiver: Any, reference_factory: Ref
) -> None:
    nexway_sim.configure(malformed_next_n=1, fault_scope=["callback"])
    nexway.place_order(SupplierOrderRequest(reference_factory(), SKU, 1, callback_url=receiver.url))
    callback = receiver.next()
    with pytest.raises(MalformedAnswer):
        nexway.handle_callback(callback.body, callback.headers)


def test_a_delivery_the_wholesaler_gives_up_on_is_failed_with_a_reason(
    nexway: NexwayAdapter, nexway_sim: Any, receiver: Any, reference_factory: Ref
) -> None:
    nexway_sim.configure(fail_delivery_next_n=1)
    reference = reference_factory()
    nexway.place_order(SupplierOrderRequest(reference, SKU, 1, callback_url=receiver.url))
    callback = receiver.next()
    assert json.loads(callback.body)["type"] == "fulfillmentFailed"
    failed = nexway.handle_callback(callback.body, callback.headers)
    assert failed.status is SupplierOrderStatus.FAILED and failed.items == ()
    assert failed.error and "could not supply" in failed.error
    assert nexway_sim.state()["sold"] == {SKU: 0}
    assert nexway.fetch_order(reference) == failed


# -- cancellation and download time ----------------------------------------------------------------


def test_cancel_sends_the_partner_order_number_and_a_reason_code(
    nexway: NexwayAdapter, nexway_sim: Any, reference_factory: Ref
) -> None:
    reference = reference_factory()
    nexway.place_order(SupplierOrderRequest(reference, SKU, 1))
    nexway.cancel(reference)
    assert nexway_sim.state()["orders"][reference]["cancellation"] == {
        "reasonCode": 2, "comment": "cancelled by Comptoir"}
    order = nexway.fetch_order(reference)
    assert order is not None and order.status is SupplierOrderStatus.CANCELLED
    assert order.items == ()  # a cancelled order's keys are not handed out


def test_download_links_can_be_extended(nexway: NexwayAdapter, nexway_sim: Any,
                                        reference_factory: Ref) -> None:
    nexway_sim.configure(download_validity_days=1)
    reference = reference_factory()
    nexway.place_order(SupplierOrderRequest(reference, SKU, 1))
    before = nexway.fetch_order(reference)
    assert before is not None and before.status is SupplierOrderStatus.DELIVERED
    extended = nexway.extend_download(reference)
    assert extended.product_keys == before.product_keys
    assert extended.items[0].download_expires_at == datetime.combine(
        datetime.now(UTC).date() + timedelta(days=21), datetime.min.time(), UTC)
    assert nexway_sim.state()["requests"]["extend"] == 1


def test_an_order_not_yet_delivered_cannot_be_extended(
    nexway: NexwayAdapter, nexway_sim: Any, reference_factory: Ref
) -> None:
    nexway_sim.configure(delivery_delay_ms=60_000)
    reference = reference_factory()
    nexway.place_order(SupplierOrderRequest(reference, SKU, 1))
    with pytest.raises(PermanentWholesalerError) as caught:
        nexway.extend_download(reference)
    assert caught.value.code == "1051"


# -- the JWT ---------------------------------------------------------------------------------------


@pytest.fixture
def token_sim() -> Iterator[SimulatorHandle]:
    with start_simulator("nexway", config={"delivery_delay_ms": 0}, api_key="k",
                         callback_secret="s", client_secret="client-secret",
                         realm="comptoir") as handle:
        simulator_changes(handle)
        forget_tokens()  # a token another test's simulator handed out means nothing here
        yield handle
        forget_tokens()


def _token_adapter(sim: SimulatorHandle, **credentials: Any) -> NexwayAdapter:
    return NexwayAdapter(url=sim.url, api_key="k", callback_secret="s", connect_timeout=0.5,
                         read_timeout=0.5, **credentials)


def test_with_tokens_configured_a_call_without_a_jwt_is_refused(
    token_sim: SimulatorHandle, reference_factory: Ref
) -> None:
    with _token_adapter(token_sim) as adapter:
        with pytest.raises(PermanentWholesalerError) as caught:
            adapter.place_order(SupplierOrderRequest(reference_factory(), SKU, 1))
    assert caught.value.status == 401
    assert token_sim.state()["purchases"] == 0


def test_the_jwt_is_fetched_once_reused_and_fetched_again_when_refused(
    token_sim: SimulatorHandle, reference_factory: Ref
) -> None:
    with _token_adapter(token_sim, client_secret="client-secret", realm="comptoir") as adapter:
        adapter.place_order(SupplierOrderRequest(reference_factory(), SKU, 1))
        assert token_sim.state()["requests"] == {"token": 1, "stock": 1, "create_order": 1}
        token_sim.reset()  # the simulator forgets the tokens it handed out
        assert adapter.check_stock(SKU).available
    assert token_sim.state()["requests"] == {"stock": 2, "token": 1}  # a 401, a token, a retry


def test_one_token_serves_every_call_of_the_process_until_it_expires(
    token_sim: SimulatorHandle,
) -> None:
    # The shop builds an adapter per call: the JWT outlives them, not one token per order.
    for _ in range(3):
        with _token_adapter(token_sim, client_secret="client-secret", realm="comptoir") as adapter:
            adapter.check_stock(SKU)
    assert token_sim.state()["requests"] == {"token": 1, "stock": 3}
    with _token_adapter(token_sim, client_secret="other-secret", realm="comptoir") as other:
        with pytest.raises(PermanentWholesalerError):
            other.check_stock(SKU)  # other credentials: their own token, refused here
    assert token_sim.state()["requests"] == {"token": 2, "stock": 3}


def test_a_wrong_client_secret_gets_no_token(token_sim: SimulatorHandle) -> None:
    with _token_adapter(token_sim, client_secret="wrong", realm="comptoir") as adapter:
        with pytest.raises(PermanentWholesalerError) as caught:
            adapter.check_stock(SKU)
    assert caught.value.status == 401 and caught.value.code == "token"
    assert token_sim.state()["requests"] == {"token": 1}


# -- how an answer is read, status by status ------------------------------------------------------


def _answer(status: int, body: object, content_type: str = "application/json") -> Answer:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Answer(status, raw, content_type)


def test_the_response_code_decides_whatever_the_http_status() -> None:
    assert read_answer(_answer(200, {"responseCode": 0}), "x") == (0, {"responseCode": 0})
    assert read_answer(_answer(404, {"responseCode": 1010}), "x")[0] == 1010
    assert read_answer(_answer(200, {"responseCode": 1044}), "x")[0] == 1044


@pytest.mark.parametrize(("answer", "error"), [
    (_answer(409, {"responseCode": 0}), MalformedAnswer),  # an error status saying OK
    (_answer(200, {"responseCode": True}), MalformedAnswer),
    (_answer(200, {"responseMessage": "OK"}), MalformedAnswer),
    (_answer(200, b"<html>", "text/html"), MalformedAnswer),
    (_answer(302, {"responseCode": 0}), MalformedAnswer),
    (_answer(403, b"Forbidden", "text/plain"), PermanentWholesalerError),
    (_answer(401, {"error": "unauthorized"}), PermanentWholesalerError),
])
def test_an_unreadable_answer_is_refused(answer: Answer, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        read_answer(answer, "x")
    if error is PermanentWholesalerError:
        assert caught.value.status == answer.status  # type: ignore[attr-defined]
