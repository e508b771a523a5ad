"""Storefront fixtures: two partners with overlapping catalogues at different prices."""

from __future__ import annotations

import pytest
from support.shops import (  # noqa: F401 - fixtures
    add_to_cart,
    checkout,
    pay_with_test_card,
    shops,
)


@pytest.fixture(autouse=True)
def handed_over(app) -> list:
    """Record paid orders handed to fulfilment; the storefront's tests stop at that seam."""
    received: list = []
    app.extensions["comptoir.order_paid"] = received.append
    return received
