"""Arvato specifics: synchronous XML delivery, basic auth, no callbacks, no extension."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from fulfilment.wholesalers import SupplierOrderRequest, SupplierOrderStatus, UnsupportedOperation
from fulfilment.wholesalers.arvato import ArvatoAdapter

Ref = Callable[[], str]
SKU = "AR-OFF-HOME-24"


def test_the_order_answer_carries_the_keys(arvato: ArvatoAdapter, arvato_sim: Any,
                                           reference_factory: Ref) -> None:
    order = arvato.place_order(SupplierOrderRequest(reference_factory(), SKU, 2))
    assert order.status is SupplierOrderStatus.DELIVERED and len(order.items) == 2
    assert arvato_sim.state()["requests"] == {"create_order": 1}


def test_the_wire_is_xml_with_basic_auth(arvato_sim: Any) -> None:
    anonymous = requests.get(arvato_sim.url + f"/api/products/{SKU}/stock", timeout=2)
    assert anonymous.status_code == 401 and "Basic" in anonymous.headers["WWW-Authenticate"]
    answer = requests.get(arvato_sim.url + f"/api/products/{SKU}/stock", timeout=2,
                          auth=("comptoir", "sim-arvato-password"))
    assert answer.headers["Content-Type"].startswith("application/xml")
    assert b"<available>true</available>" in answer.content


def test_a_bad_xml_order_is_refused(arvato_sim: Any) -> None:
    answer = requests.post(arvato_sim.url + "/api/orders", data=b"<orderRequest>", timeout=2,
                           auth=("comptoir", "sim-arvato-password"))
    assert answer.status_code == 400 and b"<code>INVALID_XML</code>" in answer.content


def test_arvato_neither_extends_links_nor_sends_callbacks(arvato: ArvatoAdapter) -> None:
    assert not arvato.supports_extension and not arvato.supports_callbacks
    with pytest.raises(UnsupportedOperation):
        arvato.extend_download("CPT-1")
    with pytest.raises(UnsupportedOperation):
        arvato.handle_callback(b"<order/>", {})
