"""Reseller portal fixtures: two networks, resellers with logins, orders sold and delivered."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from backups.consumers import back_up_line
from commerce.models import Order, Partner, PaymentStatus, utcnow
from commerce.orders import ADDON_BACKUP, BuyerDetails, LineRequest, place_order
from commissions import Rates, attribute_order, create_reseller, set_programme
from commissions.consumers import credit_delivered_line
from commissions.models import Reseller
from events import BackupDue, LineDelivered
from fulfilment.delivery import issue_unit_licences, store_units
from fulfilment.models import FulfilmentLine, LineStatus
from fulfilment.wholesalers import DeliveredItem

RATES = Rates.from_json({
    "perpetual": {"office": "0.08", "windows": "0.05", "visio": "0.10", "project": "0.10",
                  "*": "0.05"},
    "addons": {"backup": "0.30", "install": "0.40"},
    "subscription": {"first_year": "0.12", "first_year_bonus": "0.06", "renewal": "0.06",
                     "upsell": "0.12", "upsell_bonus": "0.06"},
})
# Far enough back for deliveries dated two years ago to find a programme version.
PROGRAMME_START = datetime(2023, 1, 1, tzinfo=UTC)
PASSWORD = "reseller password 2026"  # noqa: S105 (a test login)


@pytest.fixture
def catalogue(make_product) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    specs = {
        "OFFICE-HOME-2024-WIN": {"family": "office", "name": "Office Famille 2024",
                                 "list_price_cents": 14900},
        "VISIO-STD-2024": {"family": "visio", "name": "Visio Standard 2024",
                           "list_price_cents": 57900},
        "PROJECT-STD-2024": {"family": "project", "name": "Project Standard 2024",
                             "list_price_cents": 112900},
        "M365-BUSINESS-STD-1Y": {"family": "microsoft365", "list_price_cents": 18000,
                                 "name": "Microsoft 365 Business Standard",
                                 "licence_type": "subscription", "term_months": 12},
        ADDON_BACKUP: {"family": "service", "kind": "addon", "name": "Sauvegarde 2 ans",
                       "list_price_cents": 990, "skus": {}},
    }
    return {code: make_product(code=code, **fields) for code, fields in specs.items()}


@pytest.fixture
def make_network(make_partner, catalogue) -> Callable[..., Partner]:  # type: ignore[no-untyped-def]
    """A channel partner selling the catalogue, running the test programme."""

    def make(**overrides: Any) -> Partner:
        partner = make_partner(products=list(catalogue.values()), kind="channel", **overrides)
        set_programme(partner, RATES, PROGRAMME_START, minimum_payout_cents=5000)
        return partner

    return make


@pytest.fixture
def make_reseller(db) -> Callable[..., Reseller]:  # type: ignore[no-untyped-def]
    counter = itertools.count(1)

    def make(partner: Partner, code: str | None = None, login: bool = True,
             **fields: Any) -> Reseller:
        n = next(counter)
        return create_reseller(partner, fields.pop("name", f"Revendeur {n}"),
                               fields.pop("email", f"revendeur{n}@example.com"), code=code,
                               password=PASSWORD if login else None)

    return make


@dataclass
class World:
    """Network N with resellers A and B; network M with reseller C."""

    n: Partner
    m: Partner
    a: Reseller
    b: Reseller
    c: Reseller


@pytest.fixture
def world(make_network, make_reseller) -> World:  # type: ignore[no-untyped-def]
    n = make_network(slug="reseau-n", name="Réseau N")
    m = make_network(slug="reseau-m", name="Réseau M")
    return World(n, m, make_reseller(n, "RP-AAAA", name="Dupont Informatique",
                                     email="a@dupont.example"),
                 make_reseller(n, "RP-BBBB", name="Atelier du Marais", email="b@marais.example"),
                 make_reseller(m, "RP-CCCC", name="Conseil Martin", email="c@martin.example"))


@pytest.fixture
def sell(db) -> Callable[..., Order]:  # type: ignore[no-untyped-def]
    """Place an order through a reseller's code and mark it paid at a time."""

    def make(partner: Partner, lines: list[tuple[str, int] | tuple[str, int, tuple[str, ...]]],
             email: str, name: str = "Client", code: str | None = None,
             paid_at: datetime | None = None) -> Order:
        requests = [LineRequest(line[0], line[1], line[2] if len(line) > 2 else ())  # type: ignore[misc]
                    for line in lines]
        order = place_order(partner, requests, BuyerDetails(email=email, name=name))
        paid_at = paid_at or utcnow()
        order.created_at = paid_at
        attribute_order(order, reseller_code=code)
        order.payment_status, order.paid_at = PaymentStatus.PAID, paid_at
        db.session.commit()
        return order

    return make


@pytest.fixture
def deliver(db) -> Callable[..., list[FulfilmentLine]]:  # type: ignore[no-untyped-def]
    """Deliver every software line as fulfilment does: keys, licences, backup, commission."""
    from licensing.keys import ensure_signing_key

    serial = itertools.count(1)

    def run(order: Order, delivered_at: datetime | None = None) -> list[FulfilmentLine]:
        ensure_signing_key()
        delivered_at = delivered_at or utcnow()
        lines = []
        for order_line in order.product_lines:
            line = FulfilmentLine(order_id=order.id, order_line_id=order_line.id,
                                  status=LineStatus.DELIVERED, wholesaler_code="nexway",
                                  delivered_at=delivered_at)
            db.session.add(line)
            db.session.commit()
            items = tuple(
                DeliveredItem(f"VK{n:03d}X-7QPRT-M4HC2-WJ9KD-{n:05d}",
                              f"https://download.example/{order.number}/{n}",
                              delivered_at + timedelta(days=21))
                for n in (next(serial) for _ in range(order_line.quantity)))
            store_units(line, items)
            issue_unit_licences(line)
            # What the vault and commission consumers do with the LineDelivered and BackupDue
            # events (the buyer's e-mail is left out: these tests count the reseller's mails).
            if order_line.has_addon(ADDON_BACKUP):
                back_up_line(BackupDue(order_id=order.id, line_id=line.id,
                                       order_line_id=order_line.id))
            credit_delivered_line(LineDelivered(order_id=order.id, line_id=line.id,
                                                order_line_id=order_line.id))
            db.session.commit()
            lines.append(line)
        return lines

    return run


@pytest.fixture
def sign_in(client: FlaskClient, form_token) -> Callable[..., Any]:  # type: ignore[no-untyped-def]
    """Sign a reseller in on a partner's shop through the portal's form."""

    def run(slug: str, email: str, password: str = PASSWORD) -> Any:
        token = form_token(f"/p/{slug}/reseller/signin")
        return client.post(f"/p/{slug}/reseller/signin",
                           data={"csrf_token": token, "email": email, "password": password})

    return run


@pytest.fixture(autouse=True)
def english(client: FlaskClient) -> Iterator[None]:
    """Read the portal, and the services' refusals, in English (the shops default to French) so
    assertions name the source."""
    from flask_babel import force_locale

    with client.session_transaction() as session:
        session["lang"] = "en"
    with force_locale("en"):
        yield
