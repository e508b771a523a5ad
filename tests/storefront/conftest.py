"""Storefront fixtures: two partners with overlapping catalogues at different prices."""

from __future__ import annotations

from support.shops import (  # noqa: F401 - fixtures
    add_to_cart,
    checkout,
    handed_over,
    pay_with_test_card,
    shops,
)
