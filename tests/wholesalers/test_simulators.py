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


def test_the_api_wants_credentials(nexway_sim: Any) -> None:
    anonymous = requests.get(nexway_sim.url + "/v1/stock/NX-OFF-HOME-24", timeout=2)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
    known = requests.get(nexway_sim.url + "/v1/stock/NX-OFF-HOME-24", timeout=2,
                         headers={"X-Api-Key": "sim-nexway-key"})
    assert known.json() == {"sku": "NX-OFF-HOME-24", "available": True, "quantity": 1000}


def test_concurrent_orders_under_one_reference_buy_once(nexway_sim: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def order() -> int:
        with requests.Session() as session:
            return session.post(nexway_sim.url + "/v1/orders", timeout=5,
                                headers={"X-Api-Key": "sim-nexway-key"},
                                json={"reference": "CPT-RACE", "sku": "NX-OFF-HOME-24",
                                      "quantity": 1}).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(lambda _: order(), range(8)))
    assert statuses == [200] * 7 + [202]
    assert nexway_sim.state()["purchases"] == 1


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
            requests.get(handle.url + "/v1/stock/NX-A", headers={"X-Api-Key": "k"}, timeout=120)
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
