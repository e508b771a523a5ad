"""The simulators' control API and guarantees, over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from support.simulators import simulator_changes

from fulfilment.simulators import start_simulator


def test_the_control_endpoints_configure_report_and_reset(nexway_sim: Any) -> None:
    config = requests.post(nexway_sim.url + "/_sim/config", timeout=2,
                           json={"latency_ms": 5, "out_of_stock": ["NX-OFF-HOME-24"]}).json()
    assert config["latency_ms"] == 5 and config["out_of_stock"] == ["NX-OFF-HOME-24"]
    assert requests.get(nexway_sim.url + "/_sim/config", timeout=2).json() == config
    state = requests.get(nexway_sim.url + "/_sim/state", timeout=2).json()
    assert state["simulator"] == "nexway" and state["purchases"] == 0 and state["orders"] == {}
    assert requests.post(nexway_sim.url + "/_sim/reset", timeout=2).json() == {"reset": True}
    assert requests.get(nexway_sim.url + "/_sim/config", timeout=2).json()["latency_ms"] == 0


@pytest.mark.parametrize("changes", [{"no_such_setting": 1}, {"fail_next_n": "two"},
                                     {"fail_next_n": True}, {"malformed_mode": "chaos"}])
def test_a_bad_setting_is_refused_whole(arvato_sim: Any, changes: dict[str, Any]) -> None:
    answer = requests.post(arvato_sim.url + "/_sim/config", json=changes, timeout=2)
    assert answer.status_code == 400 and answer.json()["error"]["code"]
    assert arvato_sim.state()["config"]["fail_next_n"] == 0


SECRET = {"secret": "sim-nexway-key"}


def _create_body(reference: str = "CPT-WIRE-1", **changes: Any) -> dict[str, Any]:
    """A valid CreateOrderRequest, with some fields changed (None: removed)."""
    body: dict[str, Any] = {
        "partnerOrderNumber": reference, "orderDate": "2026-03-14T09:26:53+00:00",
        "currency": "EUR",
        "orderLines": [{"productRef": "NX-OFF-HOME-24", "quantity": 1, "amountTotal": 59.99}],
        "customer": {"email": "marie@example.com", "language": "fr_FR",
                     "locationInvoice": {"country": "FR"}},
    }
    for path, value in changes.items():
        target = body
        *parents, leaf = path.split("__")
        for name in parents:
            target = target[name][0] if name == "orderLines" else target[name]
        if value is None:
            target.pop(leaf)
        else:
            target[leaf] = value
    return body


def test_the_api_wants_the_secret_header(nexway_sim: Any) -> None:
    stock = {"productRefs": ["NX-OFF-HOME-24"]}
    anonymous = requests.post(nexway_sim.url + "/connect/stock", json=stock, timeout=2)
    assert anonymous.status_code == 401 and anonymous.json()["responseCode"] == 401
    wrong = requests.post(nexway_sim.url + "/connect/stock", json=stock, timeout=2,
                          headers={"secret": "not-it"})
    assert wrong.status_code == 401
    known = requests.post(nexway_sim.url + "/connect/stock", json=stock, timeout=2,
                          headers=SECRET)
    assert known.json() == {"responseCode": 0, "responseMessage": "OK", "productStatus": [
        {"productRef": "NX-OFF-HOME-24", "status": 100, "quantity": 1000, "responseCode": 0,
         "responseMessage": "OK"}]}
    assert nexway_sim.state()["purchases"] == 0


def test_a_product_outside_the_catalogue_has_its_own_stock_code(nexway_sim: Any) -> None:
    answer = requests.post(nexway_sim.url + "/connect/stock", timeout=2, headers=SECRET,
                           json={"productRefs": ["NOT-A-SKU", True]}).json()
    assert [entry["responseCode"] for entry in answer["productStatus"]] == [1010, 101]


@pytest.mark.parametrize(("changes", "code"), [
    ({"partnerOrderNumber": None}, 130),
    ({"partnerOrderNumber": "has spaces"}, 130),
    ({"orderDate": None}, 140),
    ({"orderDate": "2026-03-14T09:26:53"}, 141),
    ({"currency": None}, 120),
    ({"currency": "euro"}, 121),
    ({"orderLines": None}, 200),
    ({"orderLines__productRef": None}, 210),
    ({"orderLines__productRef": 1.5}, 211),
    ({"orderLines__quantity": None}, 220),
    ({"orderLines__quantity": "1"}, 221),
    ({"orderLines__amountTotal": -1}, 251),
    ({"orderLines__vatRate": "20"}, 231),
    ({"customer": None}, 320),
    ({"customer__email": "not-an-email"}, 321),
    ({"customer__language": None}, 330),
    ({"customer__language": "fr"}, 331),
    ({"customer__locationInvoice": None}, 420),
    ({"customer__locationInvoice__country": None}, 500),
    ({"metadata": [{"key": "notificationUrl", "value": "ftp://x"}]}, 751),
])
def test_a_create_order_request_missing_a_field_is_refused_with_its_code(
    nexway_sim: Any, changes: dict[str, Any], code: int
) -> None:
    answer = requests.post(nexway_sim.url + "/connect/order/new", timeout=2, headers=SECRET,
                           json=_create_body(**changes))
    assert answer.status_code == 400
    assert answer.json()["responseCode"] == code and answer.json()["responseMessage"]
    assert nexway_sim.state()["purchases"] == 0


def test_a_valid_create_order_request_buys(nexway_sim: Any) -> None:
    answer = requests.post(nexway_sim.url + "/connect/order/new", timeout=2, headers=SECRET,
                           json=_create_body())
    assert answer.status_code == 200 and answer.json()["responseCode"] == 0
    assert answer.json()["partnerOrderNumber"] == "CPT-WIRE-1"
    assert isinstance(answer.json()["orderNumber"], int)
    assert nexway_sim.state()["purchases"] == 1


def test_concurrent_orders_under_one_reference_buy_once(nexway_sim: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def order() -> int:
        with requests.Session() as session:
            return int(session.post(nexway_sim.url + "/connect/order/new", timeout=5,
                                    headers=SECRET,
                                    json=_create_body("CPT-RACE")).json()["responseCode"])

    with ThreadPoolExecutor(8) as pool:
        codes = sorted(pool.map(lambda _: order(), range(8)))
    assert codes == [0] + [1010] * 7  # OrderAlreadyCreated: the same number never buys twice
    assert nexway_sim.state()["purchases"] == 1


def test_cancel_and_download_time_are_puts_with_their_codes(nexway_sim: Any) -> None:
    url = nexway_sim.url + "/connect/order/"
    requests.post(url + "new", json=_create_body(), headers=SECRET, timeout=2)
    bad_reason = requests.put(url + "cancel", headers=SECRET, timeout=2,
                              json={"partnerOrderNumber": "CPT-WIRE-1", "reasonCode": 99})
    assert bad_reason.status_code == 400 and bad_reason.json()["responseCode"] == 101
    unknown = requests.put(url + "cancel", headers=SECRET, timeout=2,
                           json={"partnerOrderNumber": "CPT-NONE", "reasonCode": 2})
    assert unknown.json()["responseCode"] == 1010
    cancelled = requests.put(url + "cancel", headers=SECRET, timeout=2,
                             json={"partnerOrderNumber": "CPT-WIRE-1", "reasonCode": 2})
    assert cancelled.json()["responseCode"] == 0
    again = requests.put(url + "cancel", headers=SECRET, timeout=2,
                         json={"partnerOrderNumber": "CPT-WIRE-1", "reasonCode": 2})
    assert again.json()["responseCode"] == 1011
    extend = requests.put(url + "download", headers=SECRET, timeout=2,
                          json={"partnerOrderNumber": "CPT-WIRE-1", "value": "P21D"})
    assert extend.json()["responseCode"] == 1011
    looked_up = requests.get(url + "CPT-WIRE-1", headers=SECRET, timeout=2)
    assert looked_up.json()["responseCode"] == 1011


def test_arvato_has_no_put_route(arvato_sim: Any) -> None:
    answer = requests.put(arvato_sim.url + "/api/orders/CPT-1/cancel", timeout=2,
                          auth=("comptoir", "sim-arvato-password"))
    assert answer.status_code == 404 and b"<code>NOT_FOUND</code>" in answer.content


def test_a_simulator_binds_loopback_only() -> None:
    with pytest.raises(ValueError):
        start_simulator("arvato", host="0.0.0.0", username="u", password="p")


def test_stopping_releases_an_answer_held_back_for_a_timeout() -> None:
    import threading
    import time

    handle = start_simulator("nexway", api_key="k", callback_secret="s",
                             config={"timeout_next_n": 1, "timeout_ms": 60_000})
    errors: list[BaseException] = []

    def call() -> None:
        try:
            requests.post(handle.url + "/connect/stock", headers={"secret": "k"}, timeout=120,
                          json={"productRefs": ["NX-A"]})
        except requests.RequestException as exc:
            errors.append(exc)

    changes = simulator_changes(handle)
    caller = threading.Thread(target=call)
    try:
        caller.start()
        # The request has arrived; its answer is to be held back for 60 s.
        changes.wait_until(lambda: handle.state()["requests"].get("stock"))
    finally:
        started = time.monotonic()
        handle.stop()
        caller.join()
    assert time.monotonic() - started < 30  # not the 60 s the answer is held for
    assert errors  # the held answer was never sent
