"""The partner console: invited staff join with a password and TOTP, admins change their shop
within the operator's bounds, viewers follow, and no partner ever sees another's anything."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from commerce.models import CapturedMail, PartnerProduct, User
from commerce.orders import BuyerDetails, LineRequest, place_order
from extensions import db as _db
from partner_api.keys import issue_api_key
from partner_api.models import PartnerApiKey
from partners import members
from partners.models import PartnerChange, PartnerMember
from webhooks import services as webhooks
from webhooks.models import WebhookDelivery

PASSWORD = "console password 2026 ok"  # noqa: S105 - a test account's


def _token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


@pytest.fixture
def shops(make_partner, make_product):  # type: ignore[no-untyped-def]
    office = make_product(code="OFFICE-HOME-2024-WIN", name="Office Famille 2024")
    visio = make_product(code="VISIO-STD-2024", family="visio", name="Visio Standard 2024",
                         list_price_cents=57900)
    alpha = make_partner(slug="alpha", name="Alpha Store", products=[office, visio],
                         prices={office.code: 15000})
    beta = make_partner(slug="beta", name="Beta Shop", products=[office])
    offer = next(o for o in alpha.offers if o.product.code == office.code)
    offer.min_price_cents, offer.max_price_cents = 10000, 20000
    _db.session.commit()
    return alpha, beta


def _join(app, partner, email: str, role: str = "admin") -> tuple[Any, str]:  # type: ignore[no-untyped-def]
    """Invite, then accept in a browser of its own: the signed-in client and the TOTP secret."""
    with app.test_request_context():
        members.invite(partner, email, role, actor="operator:ops@comptoir.example")
        _db.session.commit()
    mail = _db.session.scalar(select(CapturedMail).where(CapturedMail.to == email)
                              .order_by(CapturedMail.created_at.desc()))
    assert mail is not None and "dans les 72 heures" in mail.text_body  # the shop's language
    link = re.search(r"https?://[^\s]+/partner/invite/[^\s]+", mail.text_body).group(0)
    client = app.test_client()
    moved = client.get("/" + link.split("://", 1)[1].split("/", 1)[1])
    assert moved.status_code == 302 and moved.location.endswith("/partner/invite")
    page = client.get("/partner/invite?lang=en").get_data(as_text=True)
    secret = re.search(r"Secret: <code>([A-Z2-7 ]+)</code>", page).group(1).replace(" ", "")
    joined = client.post("/partner/invite", data={
        "csrf_token": _token(page), "password": PASSWORD, "password_again": PASSWORD,
        "code": pyotp.TOTP(secret).now()})
    assert joined.status_code == 302, joined.get_data(as_text=True)
    return client, secret


def _post(client, url: str, data: dict[str, Any], page: str | None = None):  # type: ignore[no-untyped-def]
    html = client.get(page or "/partner/").get_data(as_text=True)
    return client.post(url, data={"csrf_token": _token(html), **data})


def test_an_invited_person_joins_with_a_password_and_totp_then_signs_in(app, db, shops):
    alpha, _beta = shops
    client, secret = _join(app, alpha, "lea@alpha.example")
    assert "Alpha Store" in client.get("/partner/").get_data(as_text=True)
    _post(client, "/partner/logout", {})
    assert client.get("/partner/").status_code == 302

    fresh = app.test_client()
    login = fresh.get("/partner/login").get_data(as_text=True)
    wrong = fresh.post("/partner/login", data={"csrf_token": _token(login),
                                                "email": "lea@alpha.example", "password": "no"})
    assert wrong.status_code == 401
    step = fresh.post("/partner/login", data={"csrf_token": _token(login),
                                               "email": "lea@alpha.example",
                                               "password": PASSWORD})
    assert step.status_code == 302 and step.location.endswith("/partner/login/verify")
    verify = fresh.get("/partner/login/verify").get_data(as_text=True)
    assert fresh.post("/partner/login/verify", data={"csrf_token": _token(verify),
                                                     "code": "000000"}).status_code == 401
    done = fresh.post("/partner/login/verify", data={
        "csrf_token": _token(verify), "code": pyotp.TOTP(secret).at(__import__("time").time()
                                                                    + 30)})
    assert done.status_code == 302
    assert fresh.get("/partner/").status_code == 200

    # an invitation works once; the operator's audit shows who joined
    again = app.test_client()
    mail = db.session.scalar(select(CapturedMail).where(CapturedMail.to == "lea@alpha.example"))
    link = re.search(r"/partner/invite/[^\s]+", mail.text_body).group(0)
    again.get(link)
    assert again.get("/partner/invite").status_code == 410
    actions = db.session.scalars(select(PartnerChange.action).where(
        PartnerChange.partner_id == alpha.id)).all()
    assert {"member_invited", "member_joined"} <= set(actions)


def test_an_invitation_is_refused_to_an_address_of_another_kind_or_partner(app, db, shops,
                                                                           make_user):
    alpha, beta = shops
    make_user(email="buyer@example.com")
    with app.test_request_context():
        with pytest.raises(members.PartnerError) as other_kind:
            members.invite(alpha, "buyer@example.com", "admin", actor="test")
        assert "another kind of account" in other_kind.value.english()["email"]
        members.invite(alpha, "sam@alpha.example", "viewer", actor="test")
        db.session.commit()
        with pytest.raises(members.PartnerError) as elsewhere:
            members.invite(beta, "sam@alpha.example", "admin", actor="test")
        assert "another partner's console" in elsewhere.value.english()["email"]
        with pytest.raises(members.PartnerError) as bad_role:
            members.invite(alpha, "x@alpha.example", "owner", actor="test")
        assert "role" in bad_role.value.errors


def test_an_admin_sets_prices_within_the_operators_bounds_and_the_brand(app, db, shops, client):
    alpha, _beta = shops
    admin, _ = _join(app, alpha, "lea@alpha.example")
    page = "/partner/prices"
    too_high = _post(admin, page, {"product": "OFFICE-HOME-2024-WIN", "price": "250"}, page)
    assert too_high.status_code == 400
    assert "between €100.00 and €200.00" in too_high.get_data(as_text=True)
    unbounded = _post(admin, page, {"product": "VISIO-STD-2024", "price": "500"}, page)
    assert unbounded.status_code == 400 and "the platform sets" in unbounded.get_data(True)
    assert _post(admin, page, {"product": "OFFICE-HOME-2024-WIN", "price": "179,90"},
                 page).status_code == 302
    db.session.expire_all()
    office = db.session.scalar(select(PartnerProduct).where(
        PartnerProduct.partner_id == alpha.id, PartnerProduct.price_cents == 17990))
    assert office is not None
    assert "179,90" in client.get("/p/alpha/").get_data(as_text=True)

    brand = admin.get("/partner/brand").get_data(as_text=True)
    saved = admin.post("/partner/brand", data={
        "csrf_token": _token(brand), "name": "Alpha Store", "tagline": "Le bon logiciel",
        "tagline_en": "The right software", "primary_color": "#123456",
        "secondary_color": "#f4f6f8", "accent_color": "#c2410c", "font": "system",
        "logo_url": "", "support_email": "aide@alpha.example", "support_phone": ""})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    change = db.session.scalars(select(PartnerChange).where(
        PartnerChange.partner_id == alpha.id, PartnerChange.action == "updated")
        .order_by(PartnerChange.at.desc())).first()
    assert change.actor == "partner:lea@alpha.example"
    assert change.changes["primary_color"] == ["#1f4e79", "#123456"]
    refused = admin.post("/partner/brand", data={
        "csrf_token": _token(brand), "name": "Alpha Store", "primary_color": "blue",
        "secondary_color": "#f4f6f8", "accent_color": "#c2410c", "font": "system"})
    assert refused.status_code == 400


def test_orders_sales_and_export_are_the_partners_own(app, db, shops):
    alpha, beta = shops
    mine = place_order(alpha, [LineRequest("OFFICE-HOME-2024-WIN", 1)],
                       BuyerDetails("a@example.com", "A"))
    theirs = place_order(beta, [LineRequest("OFFICE-HOME-2024-WIN", 1)],
                         BuyerDetails("b@example.com", "B"))
    db.session.commit()
    viewer, _ = _join(app, alpha, "vic@alpha.example", "viewer")
    page = viewer.get("/partner/").get_data(as_text=True)
    assert mine.number in page and theirs.number not in page
    export = viewer.get("/partner/orders.csv")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    text = export.get_data(as_text=True)
    assert mine.number in text and theirs.number not in text
    assert "OFFICE-HOME-2024-WIN" in text and "a@example.com" not in text  # no buyer data


def test_a_viewer_follows_but_changes_nothing(app, db, shops):
    alpha, _beta = shops
    viewer, _ = _join(app, alpha, "vic@alpha.example", "viewer")
    for path in ("/partner/brand", "/partner/prices", "/partner/api-keys", "/partner/team"):
        assert viewer.get(path).status_code == 403, path
    assert viewer.get("/partner/webhooks").status_code == 200
    assert "Add the endpoint" not in viewer.get("/partner/webhooks").get_data(as_text=True)
    assert _post(viewer, "/partner/webhooks", {"url": "https://hooks.example/x"}
                 ).status_code == 403
    assert _post(viewer, "/partner/prices", {"product": "OFFICE-HOME-2024-WIN",
                                             "price": "150"}).status_code == 403
    assert viewer.get("/partner/embed").status_code == 200


def test_keys_webhooks_and_team_from_the_console(app, db, shops):
    alpha, _beta = shops
    admin, _ = _join(app, alpha, "lea@alpha.example")
    created = _post(admin, "/partner/api-keys", {"label": "ERP"}, "/partner/api-keys")
    key = re.search(r"<code>(cpk_test_[A-Za-z0-9_-]{32})</code>", created.get_data(True)).group(1)
    assert key not in admin.get("/partner/api-keys").get_data(as_text=True)  # shown once
    record = db.session.scalar(select(PartnerApiKey).where(PartnerApiKey.partner_id == alpha.id))
    assert _post(admin, f"/partner/api-keys/{record.id}/revoke", {},
                 "/partner/api-keys").status_code == 302
    added = _post(admin, "/partner/webhooks", {"url": "https://hooks.alpha.example/in"},
                  "/partner/webhooks")
    assert added.status_code == 302
    assert "whsec_" in admin.get("/partner/webhooks").get_data(as_text=True)
    invited = _post(admin, "/partner/team", {"email": "vic@alpha.example", "role": "viewer"},
                    "/partner/team")
    assert invited.status_code == 302
    assert db.session.scalar(select(CapturedMail).where(CapturedMail.to == "vic@alpha.example"))


def test_a_revoked_member_is_out_at_once(app, db, shops):
    alpha, _beta = shops
    admin, _ = _join(app, alpha, "lea@alpha.example")
    viewer, _ = _join(app, alpha, "vic@alpha.example", "viewer")
    assert viewer.get("/partner/").status_code == 200
    member = db.session.scalar(select(PartnerMember).join(User).where(
        User.email == "vic@alpha.example"))
    assert _post(admin, f"/partner/team/{member.id}/revoke", {}, "/partner/team"
                 ).status_code == 302
    assert viewer.get("/partner/").status_code == 302  # signed out, access gone


def test_no_partner_sees_another_partners_anything_on_any_route(app, db, shops):
    alpha, beta = shops
    admin, _ = _join(app, alpha, "lea@alpha.example")
    # beta's things: a key, an endpoint with a delivery, a member
    with app.test_request_context():
        issue_api_key(beta, "beta ERP")
        endpoint, _ = webhooks.create_endpoint(beta, "https://hooks.beta.example/in",
                                               actor="test")
        order = place_order(beta, [LineRequest("OFFICE-HOME-2024-WIN", 1)],
                            BuyerDetails("b@example.com", "B"))
        db.session.flush()
        db.session.add(WebhookDelivery(endpoint_id=endpoint.id, event_id=uuid.uuid4(),
                                       event_type="order.paid", body="{}", status="delivered"))
        members.invite(beta, "bob@beta.example", "admin", actor="test")
        db.session.commit()
    key = db.session.scalar(select(PartnerApiKey).where(PartnerApiKey.partner_id == beta.id))
    delivery = db.session.scalar(select(WebhookDelivery))
    member = db.session.scalar(select(PartnerMember).where(PartnerMember.partner_id == beta.id))
    by_id = {
        "console.revoke_key": ("POST", f"/partner/api-keys/{key.id}/revoke"),
        "console.webhook_change": ("POST", f"/partner/webhooks/{endpoint.id}"),
        "console.webhook_delivery": ("GET", f"/partner/webhooks/deliveries/{delivery.id}"),
        "console.webhook_replay": ("POST", f"/partner/webhooks/deliveries/{delivery.id}/replay"),
        "console.revoke_member": ("POST", f"/partner/team/{member.id}/revoke"),
    }
    for endpoint_name, (method, path) in by_id.items():
        answer = (_post(admin, path, {"action": "disable"}) if method == "POST"
                  else admin.get(path))
        assert answer.status_code == 404, (endpoint_name, answer.status_code)
    listings = {
        "console.dashboard": "/partner/", "console.orders_csv": "/partner/orders.csv",
        "console.brand": "/partner/brand", "console.prices": "/partner/prices",
        "console.api_keys": "/partner/api-keys", "console.webhook_endpoints": "/partner/webhooks",
        "console.embed": "/partner/embed", "console.team": "/partner/team",
    }
    for endpoint_name, path in listings.items():
        text = admin.get(path).get_data(as_text=True)
        for secret_of_beta in (order.number, key.prefix, "hooks.beta.example", "bob@beta.example",
                               "Beta Shop"):
            assert secret_of_beta not in text, (endpoint_name, secret_of_beta)
    # every console route is in one of the two lists above, or is a door
    doors = {"console.login", "console.second_factor", "console.logout", "console.invite",
             "console.invite_link"}
    routes = {rule.endpoint for rule in app.url_map.iter_rules()
              if rule.endpoint.startswith("console.")}
    assert routes == set(by_id) | set(listings) | doors
    db.session.expire_all()
    assert db.session.get(PartnerApiKey, key.id).revoked_at is None
    assert db.session.get(PartnerMember, member.id).revoked_at is None


def test_the_console_is_on_the_platform_only_and_never_framed(app, db, shops, client):
    assert client.get("/p/alpha/partner/login").status_code == 404
    assert client.get("/partner/login", headers={"Host": "shop.partner-1.example"}
                      ).status_code == 404
    answer = client.get("/partner/login")
    assert answer.status_code == 200
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
