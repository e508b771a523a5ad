"""Behaviour both adapters share, against the real simulators over HTTP."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
import requests

from fulfilment.wholesalers import (
    MalformedAnswer,
    OutOfStock,
    PermanentWholesalerError,
    RetryPolicy,
    SupplierOrderRequest,
    SupplierOrderStatus,
    TemporaryWholesalerError,
    UnknownSku,
    WholesalerConfigurationError,
    get_wholesaler,
    is_valid_product_key,
)

Ref = Callable[[], str]
Settings = Callable[..., dict[str, Any]]


def test_an_order_is_delivered_with_one_valid_key_and_link_per_unit(
    pair: Any, reference_factory: Ref
) -> None:
    reference = reference_factory()
    placed = pair.adapter.place_order(SupplierOrderRequest(reference, pair.sku, 3))
    assert placed.reference == reference and placed.sku == pair.sku and placed.quantity == 3
    order = pair.delivered(reference)
    assert order.supplier_order_id == placed.supplier_order_id
    assert len(order.items) == 3 and len(set(order.product_keys)) == 3
    assert all(is_valid_product_key(key) for key in order.product_keys)
    for item in order.items:
        assert item.download_expires_at.tzinfo is not None
        download = requests.get(item.download_url, timeout=2)
        assert download.status_code == 200
    assert pair.sim.state()["purchases"] == 1


def test_the_same_reference_twice_returns_the_same_keys_and_buys_once(
    pair: Any, reference_factory: Ref
) -> None:
    reference = reference_factory()
    pair.adapter.place_order(SupplierOrderRequest(reference, pair.sku, 2))
    first = pair.delivered(reference)
    again = pair.adapter.place_order(SupplierOrderRequest(reference, pair.sku, 2))
    assert again.product_keys == first.product_keys
    assert again.supplier_order_id == first.supplier_order_id
    state = pair.sim.state()
    assert state["purchases"] == 1
    assert state["sold"] == {pair.sku: 2}


def test_a_reference_reused_for_another_order_is_refused_once(
    pair: Any, reference_factory: Ref
) -> None:
    reference = reference_factory()
    pair.adapter.place_order(SupplierOrderRequest(reference, pair.sku, 1))
    with pytest.raises(PermanentWholesalerError) as caught:
        pair.adapter.place_order(SupplierOrderRequest(reference, pair.sku, 2))
    assert caught.value.status == 409
    assert pair.sim.state()["requests"]["create_order"] == 2  # refused once, not retried


def test_503_for_a_while_then_recovery_delivers_with_one_purchase(
    pair: Any, reference_factory: Ref, attempts: int
) -> None:
    pair.sim.configure(fail_next_n=attempts - 1, fault_scope=["create_order"])
    reference = reference_factory()
    pair.adapter.place_order(SupplierOrderRequest(reference, pair.sku, 1))
    assert len(pair.delivered(reference).items) == 1
    state = pair.sim.state()
    assert state["requests"]["create_order"] == attempts
    assert state["purchases"] == 1


def test_503_past_the_last_attempt_is_a_temporary_error_and_buys_nothing(
    pair: Any, reference_factory: Ref, attempts: int
) -> None:
    pair.sim.configure(fail_next_n=100, fault_scope=["create_order"])
    with pytest.raises(TemporaryWholesalerError) as caught:
        pair.adapter.place_order(SupplierOrderRequest(reference_factory(), pair.sku, 1))
    assert caught.value.retryable and caught.value.status == 503
    state = pair.sim.state()
    assert state["requests"]["create_order"] == attempts
    assert state["purchases"] == 0


def test_a_timeout_after_the_order_was_accepted_fetches_it_instead_of_buying_again(
    pair: Any, reference_factory: Ref
) -> None:
    pair.sim.configure(timeout_next_n=1, fault_scope=["create_order"])
    reference = reference_factory()
    order = pair.adapter.place_order(SupplierOrderRequest(reference, pair.sku, 2))
    assert order.reference == reference
    state = pair.sim.state()
    assert state["requests"]["create_order"] == 1  # never sent a second time
    assert state["requests"]["get_order"] >= 1
    assert state["purchases"] == 1
    assert pair.delivered(reference).quantity == 2


def test_a_lookup_that_times_out_too_is_repeated_never_a_blind_resend(
    pair: Any, reference_factory: Ref
) -> None:
    pair.sim.configure(timeout_next_n=2, fault_scope=["create_order", "get_order"])
    reference = reference_factory()
    order = pair.adapter.place_order(SupplierOrderRequest(reference, pair.sku, 1))
    assert order.reference == reference
    state = pair.sim.state()
    assert state["requests"]["create_order"] == 1
    assert state["requests"]["get_order"] == 2
    assert state["purchases"] == 1


def test_a_4xx_is_never_retried(pair: Any, reference_factory: Ref,
                                wholesaler_settings: Settings) -> None:
    settings = wholesaler_settings(nexway=pair.sim, arvato=pair.sim, NEXWAY_API_KEY="wrong",
                            ARVATO_PASSWORD="wrong")
    with get_wholesaler(pair.code, settings) as adapter:
        with pytest.raises(PermanentWholesalerError) as caught:
            adapter.fetch_order(reference_factory())
    assert caught.value.status == 401 and not caught.value.retryable
    assert pair.sim.state()["requests"] == {"get_order": 1}


@pytest.mark.parametrize("mode", ["bad_key", "missing_field", "wrong_quantity", "garbage"])
def test_a_malformed_answer_is_an_error_never_a_key(
    pair: Any, reference_factory: Ref, mode: str
) -> None:
    reference = reference_factory()
    pair.adapter.place_order(SupplierOrderRequest(reference, pair.sku, 2))
    pair.delivered(reference)
    pair.sim.configure(malformed_next_n=1, malformed_mode=mode, fault_scope=["get_order"])
    with pytest.raises(MalformedAnswer):
        pair.adapter.fetch_order(reference)
    assert pair.sim.state()["requests"]["get_order"] >= 2
    assert pair.delivered(reference).quantity == 2  # the next answer is fine again


def test_a_malformed_order_answer_is_not_retried_by_the_adapter(
    pair: Any, reference_factory: Ref
) -> None:
    pair.sim.configure(malformed_next_n=1, malformed_mode="garbage", fault_scope=["create_order"])
    reference = reference_factory()
    with pytest.raises(MalformedAnswer):
        pair.adapter.place_order(SupplierOrderRequest(reference, pair.sku, 1))
    assert pair.sim.state()["requests"]["create_order"] == 1
    # The reference makes a later retry safe: same order, still one purchase.
    pair.adapter.place_order(SupplierOrderRequest(reference, pair.sku, 1))
    assert pair.sim.state()["purchases"] == 1


def test_an_unknown_sku_is_refused(pair: Any, reference_factory: Ref) -> None:
    unknown = pair.sku.split("-")[0] + "-DISCONTINUED-2010"
    pair.sim.configure(unknown_skus=[unknown])
    for sku in (unknown, "NOT-A-SKU"):
        with pytest.raises(UnknownSku):
            pair.adapter.check_stock(sku)
        with pytest.raises(UnknownSku):
            pair.adapter.place_order(SupplierOrderRequest(reference_factory(), sku, 1))
    assert pair.sim.state()["purchases"] == 0


def test_out_of_stock_is_refused_and_buys_nothing(pair: Any, reference_factory: Ref) -> None:
    pair.sim.configure(out_of_stock=[pair.sku])
    stock = pair.adapter.check_stock(pair.sku)
    assert not stock.available and stock.quantity == 0
    with pytest.raises(OutOfStock):
        pair.adapter.place_order(SupplierOrderRequest(reference_factory(), pair.sku, 1))
    assert pair.sim.state()["purchases"] == 0


def test_asking_for_more_than_the_stock_is_out_of_stock(pair: Any, reference_factory: Ref) -> None:
    pair.sim.configure(stock={pair.sku: 2})
    with pytest.raises(OutOfStock):
        pair.adapter.place_order(SupplierOrderRequest(reference_factory(), pair.sku, 3))
    pair.adapter.place_order(SupplierOrderRequest(reference_factory(), pair.sku, 2))
    assert pair.adapter.check_stock(pair.sku).quantity == 0


def test_a_key_reported_already_activated_is_replaced(pair: Any, reference_factory: Ref) -> None:
    pair.sim.configure(already_activated_next_n=1, replacement_policy="activated_only")
    reference = reference_factory()
    pair.adapter.place_order(SupplierOrderRequest(reference, pair.sku, 2))
    order = pair.delivered(reference)
    bad_key, good_key = order.product_keys
    assert pair.sim.state()["activated_keys"] == [bad_key]

    replaced = pair.adapter.request_replacement(reference, bad_key)
    assert bad_key not in replaced.product_keys and good_key in replaced.product_keys
    assert is_valid_product_key(replaced.product_keys[0])
    again = pair.adapter.request_replacement(reference, bad_key)  # a retried report
    assert again.product_keys == replaced.product_keys
    with pytest.raises(PermanentWholesalerError) as caught:
        pair.adapter.request_replacement(reference, good_key)  # not activated anywhere
    assert caught.value.status == 409
    assert pair.sim.state()["purchases"] == 1


def test_cancelling_an_order_and_an_unknown_reference(pair: Any, reference_factory: Ref) -> None:
    reference = reference_factory()
    pair.adapter.place_order(SupplierOrderRequest(reference, pair.sku, 1))
    pair.delivered(reference)
    pair.adapter.cancel(reference)
    order = pair.adapter.fetch_order(reference)
    assert order is not None and order.status is SupplierOrderStatus.CANCELLED
    pair.adapter.cancel(reference)  # again: nothing more happens
    pair.adapter.cancel(reference_factory())  # never bought: nothing to cancel


def test_fetching_an_unknown_reference_returns_none(pair: Any, reference_factory: Ref) -> None:
    assert pair.adapter.fetch_order(reference_factory()) is None


def test_an_unreachable_wholesaler_is_a_temporary_error(reference_factory: Ref,
                                                        wholesaler_settings: Settings) -> None:
    for code in ("nexway", "arvato"):
        with get_wholesaler(code, wholesaler_settings()) as adapter:
            with pytest.raises(TemporaryWholesalerError):
                adapter.fetch_order(reference_factory())


def test_latency_below_the_timeout_is_only_slow(pair: Any, reference_factory: Ref) -> None:
    pair.sim.configure(latency_ms=100)
    assert pair.adapter.check_stock(pair.sku).available
    assert pair.sim.state()["requests"] == {"stock": 1}


def test_latency_beyond_the_read_timeout_is_retried_then_given_up(pair: Any) -> None:
    pair.sim.configure(latency_ms=800)
    with pytest.raises(TemporaryWholesalerError) as caught:
        pair.adapter.check_stock(pair.sku)
    assert caught.value.code == "timeout"


def test_backoff_is_full_jitter_under_the_cap() -> None:
    policy = RetryPolicy(attempts=10, base_delay=0.5, max_delay=4.0, rng=random.Random(7))
    for retry in range(10):
        ceiling = min(4.0, 0.5 * 2**retry)
        delays = [policy.delay(retry) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # spread over the whole range, not a fixed step


def test_the_registry_builds_each_adapter_from_settings(wholesaler_settings: Settings) -> None:
    settings = wholesaler_settings()
    for code in ("nexway", "arvato"):
        with get_wholesaler(code, settings) as adapter:
            assert adapter.code == code
    with pytest.raises(WholesalerConfigurationError):
        get_wholesaler("ingram", settings)
    with pytest.raises(WholesalerConfigurationError):
        get_wholesaler("nexway", {**settings, "NEXWAY_API_KEY": ""})
