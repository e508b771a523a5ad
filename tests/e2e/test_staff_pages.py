"""The operator's partner pages and the partner console, in Chromium, as their users click:
axe-core finds no WCAG 2.1 A/AA violation, and a partner brought on board in the back office
gets its console's first administrator, who joins and works there."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from test_accessibility import axe_violations, describe

import demo
from accounts.totp import open_secret
from commerce.models import CapturedMail, User
from extensions import db

pytestmark = pytest.mark.e2e
PASSWORD = "console password 2026 ok"  # noqa: S105 - a test account's


def _operator(page: Any, live_server: Any) -> None:
    login = demo.LOGINS["operator"]
    page.goto(f"{live_server.url}/admin/?lang=en")
    page.get_by_label("E-mail address").fill(login["email"])
    page.get_by_label("Password").fill(login["password"])
    page.get_by_role("button", name="Sign in").click()
    with live_server.app.app_context():
        user = db.session.scalar(select(User).where(User.email == login["email"]))
        secret = open_secret(user.totp_secret, str(user.id))
        db.session.remove()
    page.get_by_label("Six-digit code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Check the code").click()
    expect(page.get_by_role("heading", level=1, name="Orders")).to_be_visible()


def _no_violations(page: Any, what: str, found: dict[str, Any]) -> None:
    violations = axe_violations(page)
    if violations:
        found[what] = violations


def test_a_partner_from_the_back_office_to_its_console(new_page: Any, live_server: Any) -> None:
    found: dict[str, Any] = {}
    page = new_page(bypass_csp=True)
    _operator(page, live_server)
    page.get_by_role("navigation", name="Back office").get_by_role("link", name="Partners").click()
    _no_violations(page, "partners", found)
    page.get_by_role("link", name="New partner").click()
    page.get_by_label("Slug").fill("Bad Slug")
    page.get_by_label("Shop name").fill("Atelier Sud")
    page.get_by_role("button", name="Create the partner").click()
    expect(page.get_by_role("alert")).to_contain_text("slug")
    _no_violations(page, "new partner, refused", found)
    page.get_by_label("Slug").fill("atelier-sud")
    page.get_by_label("Domains").fill("atelier-sud.localhost")
    page.get_by_role("button", name="Create the partner").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Atelier Sud")
    _no_violations(page, "partner page", found)

    page.get_by_label("E-mail address").fill("lea@atelier-sud.example")
    page.get_by_role("button", name="Invite to the console").click()
    expect(page.get_by_role("status").first).to_contain_text("invitation sent")
    with live_server.app.app_context():
        mail = db.session.scalar(select(CapturedMail).where(
            CapturedMail.to == "lea@atelier-sud.example"))
        link = re.search(r"/partner/invite/\S+", mail.text_body).group(0)
        db.session.remove()

    staff = new_page(bypass_csp=True)
    staff.goto(f"{live_server.url}{link}")
    expect(staff.get_by_role("heading", level=1)).to_have_text("Join the Atelier Sud console")
    _no_violations(staff, "console invitation", found)
    secret = staff.locator("code").first.inner_text().replace(" ", "")
    staff.get_by_label("Choose a password").fill(PASSWORD)
    staff.get_by_label("The same password again").fill(PASSWORD)
    staff.get_by_label("Six-digit code").fill(pyotp.TOTP(secret).now())
    staff.get_by_role("button", name="Join").click()
    expect(staff.get_by_role("heading", level=1)).to_contain_text("orders and sales")
    _no_violations(staff, "console dashboard", found)
    nav = staff.get_by_role("navigation", name="Partner console")
    for name in ("Brand", "Prices", "API keys", "Webhooks", "Embedding", "Team"):
        nav.get_by_role("link", name=name).click()
        expect(staff.get_by_role("heading", level=1)).to_be_visible()
        _no_violations(staff, f"console {name}", found)
    nav.get_by_role("link", name="Webhooks").click()
    staff.get_by_label("Endpoint address (https)").fill("http://hooks.example/in")
    staff.get_by_role("button", name="Add the endpoint").click()
    expect(staff.get_by_role("alert")).to_contain_text("https://")
    _no_violations(staff, "console webhooks, refused", found)
    assert not found, "\n".join(f"{what}:\n{describe(v)}" for what, v in found.items())
