"""Commission fixtures: a reseller network with a programme, orders placed and paid through it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from commission_helpers import PROGRAMME_START, RATES
from flask import Flask

import commissions.models  # noqa: F401  (tables for create_all until the lead wires us)
from commerce.models import Order, Partner, PaymentStatus
from commerce.orders import ADDON_BACKUP, ADDON_INSTALL, BuyerDetails, LineRequest, place_order
from commissions import (
    attribute_order,
    create_reseller,
    init_app,
    set_programme,
)
from commissions.models import Reseller


@pytest.fixture(autouse=True)
def _wired(app: Flask) -> None:
    """Register our commands and the ledger API unless the app already does."""
    if "payouts" not in app.cli.commands:
        init_app(app)
    if "api_ledger" not in app.blueprints:
        from storefront.api_ledger import bp

        app.register_blueprint(bp)


@pytest.fixture
def catalogue(make_product) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    specs = {
        "OFFICE-HOME-2024-WIN": {"family": "office", "list_price_cents": 14900},
        "OFFICE-HB-2024-WIN": {"family": "office", "list_price_cents": 29900},
        "VISIO-STD-2024": {"family": "visio", "list_price_cents": 57900},
        "PROJECT-STD-2024": {"family": "project", "list_price_cents": 112900},
        "M365-BUSINESS-STD-1Y": {"family": "microsoft365", "list_price_cents": 18000,
                                 "licence_type": "subscription", "term_months": 12},
        "M365-FAMILY-1Y": {"family": "microsoft365", "list_price_cents": 12900,
                           "licence_type": "subscription", "term_months": 12},
        ADDON_BACKUP: {"family": "service", "kind": "addon", "list_price_cents": 990},
        ADDON_INSTALL: {"family": "service", "kind": "addon", "list_price_cents": 2900},
    }
    return {code: make_product(code=code, **fields) for code, fields in specs.items()}


@pytest.fixture
def make_network(make_partner, catalogue) -> Callable[..., Partner]:  # type: ignore[no-untyped-def]
    """A channel partner selling the catalogue, with the test programme from 2026-01-01."""

    def make(**overrides: Any) -> Partner:
        partner = make_partner(products=list(catalogue.values()), kind="channel", **overrides)
        set_programme(partner, RATES, PROGRAMME_START, minimum_payout_cents=5000)
        return partner

    return make


@pytest.fixture
def network(make_network) -> Partner:  # type: ignore[no-untyped-def]
    return make_network()


@pytest.fixture
def make_reseller(db) -> Callable[..., Reseller]:  # type: ignore[no-untyped-def]
    counter = iter(range(1, 10_000))

    def make(partner: Partner, code: str | None = None, **fields: Any) -> Reseller:
        n = next(counter)
        return create_reseller(partner, fields.pop("name", f"Reseller {n}"),
                               fields.pop("email", f"reseller{n}@example.com"), code=code, **fields)

    return make


@pytest.fixture
def sell(db) -> Callable[..., Order]:  # type: ignore[no-untyped-def]
    """Place an order in a network, attribute it as checkout would, and mark it paid."""

    def make(
        partner: Partner,
        lines: list[tuple[str, int] | tuple[str, int, tuple[str, ...]]],
        email: str = "client@example.com",
        code: str | None = None,
        cookie: str | None = None,
        assisted_by: str | None = None,
        source: str = "shop",
        paid: bool = True,
    ) -> Order:
        requests = [LineRequest(line[0], line[1], line[2] if len(line) > 2 else ())  # type: ignore[misc]
                    for line in lines]
        order = place_order(partner, requests, BuyerDetails(email=email, name="Client"),
                               source=source)
        attribute_order(order, reseller_code=code, cookie_code=cookie, assisted_by=assisted_by,
                        source=source)
        if paid:
            order.payment_status = PaymentStatus.PAID
        db.session.commit()
        return order

    return make
