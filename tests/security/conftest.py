"""Security tests browse the same two shops as the storefront's."""

from __future__ import annotations

from support.shops import (  # noqa: F401 - fixtures
    add_to_cart,
    checkout,
    handed_over,
    pay_with_test_card,
    shops,
)
