"""A reseller adds users to a client's Microsoft 365 subscription and the client approves and pays
by the link, in Chromium as both would click; axe-core finds no WCAG 2.1 A/AA violation on the
portal's subscription pages and the approval page."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from test_accessibility import axe_violations, describe

from commerce.models import Order, Partner, PaymentStatus, utcnow
from commerce.orders import BuyerDetails, LineRequest, place_order
from commissions import attribute_order
from commissions.demo import DEMO_PASSWORD, demo_code
from extensions import db
from subscriptions.models import Subscription
from subscriptions.services import start_for_line

pytestmark = pytest.mark.e2e
CLIENT = "clara.morel@atelier-morel.example"


def _client_subscription(app: Any) -> str:
    """A running annual subscription of 5 users for a client of the network's first reseller."""
    with app.app_context():
        partner = db.session.scalar(select(Partner).where(Partner.slug == "reseaupro"))
        order = place_order(partner, [LineRequest("M365-BUSINESS-STD-1Y", 5)],
                            BuyerDetails(email=CLIENT, name="Clara Morel"), gateway="test")
        attribute_order(order, reseller_code=demo_code("reseaupro", 1))
        started = utcnow() - timedelta(days=100)
        order.payment_status, order.paid_at = PaymentStatus.PAID, started
        order.payment_reference = "testcard:4242424242424242"
        db.session.commit()
        sub = start_for_line(order.lines[0].id, None, None)
        assert sub is not None
        db.session.commit()
        number = sub.number
        db.session.remove()
        return number


def test_a_reseller_adds_users_and_the_client_approves_by_link(new_page: Any,
                                                               live_server: Any) -> None:
    number = _client_subscription(live_server.app)
    found: dict[str, Any] = {}
    reseller = new_page(bypass_csp=True)
    reseller.goto(live_server.shop("reseaupro", "reseller/signin?lang=en"))
    reseller.get_by_label("E-mail address").fill("revendeur1@reseaupro.demo-comptoir.example")
    reseller.get_by_label("Password").fill(DEMO_PASSWORD)
    reseller.get_by_role("button", name="Sign in").click()
    reseller.get_by_role("navigation", name="Reseller portal").get_by_role(
        "link", name="Subscriptions").click()
    if violations := axe_violations(reseller):
        found["portal: subscriptions"] = violations
    reseller.get_by_role("link", name=number).click()
    expect(reseller.get_by_role("heading", level=1)).to_contain_text(number)
    reseller.get_by_label("Plan").select_option(label="More users of Microsoft 365 Business "
                                                     "Standard")
    reseller.get_by_label("Users to add").fill("3")
    reseller.get_by_role("button", name="Prepare the link").click()
    link = reseller.get_by_role("status").get_by_role("link").get_attribute("href")
    assert link and "/subscriptions/change/" in link
    if violations := axe_violations(reseller):
        found["portal: subscription with its link"] = violations

    # The client opens the link in a browser of their own (on the shop's address here).
    client = new_page(bypass_csp=True)
    path = re.sub(r"^https?://[^/]+", "", link)
    client.goto(live_server.shop("reseaupro", path + "?lang=en"))
    expect(client.get_by_role("heading", level=1)).to_contain_text(number)
    expect(client.get_by_role("table")).to_contain_text("Microsoft 365 Business Standard")
    if violations := axe_violations(client):
        found["approval page"] = violations
    client.get_by_role("button", name=re.compile("Approve and pay")).click()
    expect(client.locator(".field-error, [role=alert]").first).to_be_visible()  # box unticked
    client.get_by_label(re.compile("I approve this change")).check()
    client.get_by_role("button", name=re.compile("Approve and pay")).click()
    expect(client.get_by_text("the change is paid and in force")).to_be_visible()

    with live_server.app.app_context():
        sub = db.session.scalar(select(Subscription).where(Subscription.number == number))
        assert sub is not None and sub.seats == 8
        paid = db.session.scalars(select(Order).where(Order.source == "subscription")).all()
        assert [o.payment_status for o in paid] == [PaymentStatus.PAID]
        db.session.remove()
    assert not found, "\n".join(f"{page}:\n{describe(v)}" for page, v in found.items())
