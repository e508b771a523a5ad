"""Nexway specifics: asynchronous delivery, signed callbacks, extension, failed deliveries."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support.simulators import simulator_changes

from fulfilment.wholesalers import (
    BadCallbackSignature,
    MalformedAnswer,
    SupplierOrderRequest,
    SupplierOrderStatus,
)
from fulfilment.wholesalers.nexway import NexwayAdapter, sign_callback

Ref = Callable[[], str]
SKU = "NX-OFF-HOME-24"


def _hmac_header(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """Sign the way Nexway documents it, independently of the adapter's helper."""
    import hashlib
    import hmac

    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Nexway-Signature": f"t={timestamp},v1={mac}"}


def test_an_order_is_accepted_then_delivered_by_a_signed_callback(
    nexway: NexwayAdapter, nexway_sim: Any, receiver: Any, reference_factory: Ref
) -> None:
    nexway_sim.configure(delivery_delay_ms=200)
    reference = reference_factory()
    placed = nexway.place_order(SupplierOrderRequest(reference, SKU, 2, callback_url=receiver.url))
    assert placed.status is SupplierOrderStatus.ACCEPTED and placed.items == ()
    polled = nexway.fetch_order(reference)
    assert polled is not None and polled.status is SupplierOrderStatus.ACCEPTED

    callback = receiver.next()
    delivered = nexway.handle_callback(callback.body, callback.headers)
    assert delivered.reference == reference and delivered.status is SupplierOrderStatus.DELIVERED
    assert len(delivered.items) == 2
    assert nexway.fetch_order(reference) == delivered  # polling sees the same keys
    expires = delivered.items[0].download_expires_at
    assert abs(expires - (datetime.now(UTC) + timedelta(days=21))) < timedelta(minutes=1)
    assert json.loads(callback.body)["event"] == "order.delivered"


def test_the_stock_is_checked_before_ordering(nexway: NexwayAdapter, nexway_sim: Any,
                                              reference_factory: Ref) -> None:
    nexway.place_order(SupplierOrderRequest(reference_factory(), SKU, 1))
    assert nexway_sim.state()["requests"] == {"stock": 1, "create_order": 1}


def test_out_of_stock_after_our_order_was_placed_returns_our_order(
    nexway: NexwayAdapter, nexway_sim: Any, reference_factory: Ref
) -> None:
    reference = reference_factory()
    first = nexway.place_order(SupplierOrderRequest(reference, SKU, 1))
    nexway_sim.configure(out_of_stock=[SKU])
    again = nexway.place_order(SupplierOrderRequest(reference, SKU, 1))
    assert again.supplier_order_id == first.supplier_order_id
    assert nexway_sim.state()["purchases"] == 1


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


def _signed_body(reference: str) -> bytes:
    return json.dumps({
        "event": "order.delivered", "reference": reference, "order_id": "NXO-1",
        "status": "delivered", "sku": SKU, "quantity": 1, "error": None,
        "items": [{"product_key": "BCDFG-HJKMP-QRTVW-XY234-6789B",
                   "download_url": "https://dl.nexway.example/x",
                   "download_expires_at": "2030-01-01T00:00:00Z"}],
    }).encode()


def test_a_genuinely_signed_callback_is_accepted(nexway: NexwayAdapter) -> None:
    body = _signed_body("CPT-1")
    stamp = int(time.time())
    headers = _hmac_header(nexway.callback_secret, body, stamp)
    order = nexway.handle_callback(body, {k.lower(): v for k, v in headers.items()})
    assert order.product_keys == ("BCDFG-HJKMP-QRTVW-XY234-6789B",)
    assert sign_callback(nexway.callback_secret, body, stamp) == headers["Nexway-Signature"]


@pytest.mark.parametrize("tamper", [
    "wrong_secret", "tampered_body", "stale", "future", "missing", "no_timestamp", "garbled",
])
def test_a_badly_signed_callback_is_rejected(nexway: NexwayAdapter, tamper: str) -> None:
    body = _signed_body("CPT-1")
    now = int(time.time())
    secret = "another-secret" if tamper == "wrong_secret" else nexway.callback_secret
    stamp = {"stale": now - 301, "future": now + 301}.get(tamper, now)
    headers = _hmac_header(secret, body, stamp)
    if tamper == "tampered_body":
        body = body.replace(b'"quantity": 1', b'"quantity": 2')
    elif tamper == "missing":
        headers = {}
    elif tamper == "no_timestamp":
        headers["Nexway-Signature"] = headers["Nexway-Signature"].split(",")[1]
    elif tamper == "garbled":
        headers["Nexway-Signature"] = "t=abc,v1=zz"
    with pytest.raises(BadCallbackSignature):
        nexway.handle_callback(body, headers)


def test_a_signed_but_malformed_callback_is_an_error_never_a_key(
    nexway: NexwayAdapter, nexway_sim: Any, receiver: Any, reference_factory: Ref
) -> None:
    nexway_sim.configure(malformed_next_n=1, fault_scope=["callback"])
    nexway.place_order(SupplierOrderRequest(reference_factory(), SKU, 1, callback_url=receiver.url))
    callback = receiver.next()
    with pytest.raises(MalformedAnswer):
        nexway.handle_callback(callback.body, callback.headers)


def test_download_links_can_be_extended(nexway: NexwayAdapter, nexway_sim: Any,
                                        reference_factory: Ref) -> None:
    nexway_sim.configure(download_validity_days=1)
    reference = reference_factory()
    nexway.place_order(SupplierOrderRequest(reference, SKU, 1))
    before = nexway.fetch_order(reference)
    assert before is not None and before.status is SupplierOrderStatus.DELIVERED
    nexway_sim.configure(download_validity_days=21)
    extended = nexway.extend_download(reference)
    assert extended.product_keys == before.product_keys
    gained = extended.items[0].download_expires_at - before.items[0].download_expires_at
    assert timedelta(days=19) < gained < timedelta(days=21)


def test_a_delivery_the_wholesaler_gives_up_on_is_failed_with_a_reason(
    nexway: NexwayAdapter, nexway_sim: Any, receiver: Any, reference_factory: Ref
) -> None:
    nexway_sim.configure(fail_delivery_next_n=1)
    reference = reference_factory()
    nexway.place_order(SupplierOrderRequest(reference, SKU, 1, callback_url=receiver.url))
    callback = receiver.next()
    failed = nexway.handle_callback(callback.body, callback.headers)
    assert failed.status is SupplierOrderStatus.FAILED and failed.error and failed.items == ()
    assert nexway_sim.state()["sold"] == {SKU: 0}
