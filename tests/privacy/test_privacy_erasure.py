"""Erasure: from the account page and by command; what goes, what stays, and what refuses."""

from __future__ import annotations

from datetime import timedelta

from privacy_support import BUYER_PASSWORD, CAMILLE, ROBERT
from sqlalchemy import func, select

from accounts import privacy
from accounts.models import AuthSession, EmailToken
from backups.models import BackupAccessLink
from backups.vault import Backup, BackupStatus
from commerce import access
from commerce.links import LinkState
from commerce.models import CapturedMail, Order, User, utcnow
from commerce.orders import ADDON_BACKUP
from commissions.models import ResellerClient
from fulfilment.models import DeliveredUnit, FulfilmentLine, OutgoingEmail
from licensing.models import LicenceRecord


def _erase_form(client, password: str = BUYER_PASSWORD, understood: bool = True):  # type: ignore[no-untyped-def]
    import re

    page = client.get("/p/reseau-n/account/erase")
    assert page.status_code == 200
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
    data = {"csrf_token": token.group(1), "password": password}  # type: ignore[union-attr]
    if understood:
        data["understood"] = "y"
    return client.post("/p/reseau-n/account/erase", data=data)


def _mentions(db, address: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Where an address still appears."""
    def count(column) -> int:  # type: ignore[no-untyped-def]
        return int(db.session.scalar(select(func.count()).where(func.lower(column) == address)))

    return {"users": count(User.email), "orders": count(Order.email),
            "reseller_clients": count(ResellerClient.email), "backups": count(Backup.buyer_ref),
            "access_links": count(BackupAccessLink.email), "mails": count(CapturedMail.to),
            "licences": count(LicenceRecord.buyer_ref)}


def test_the_erase_page_warns_what_goes_and_what_stays(client, people, buyer_sign_in):
    buyer_sign_in()
    html = client.get("/p/reseau-n/account/erase").get_data(as_text=True)
    assert "What is erased" in html and "What is kept" in html
    assert "Invoices, which the law requires us to keep for 10 years" in html
    assert "licence backups: they are deleted" in html


def test_a_wrong_password_or_no_tick_erases_nothing(client, db, people, buyer_sign_in):
    buyer_sign_in()
    before = _mentions(db, CAMILLE)
    wrong = _erase_form(client, password="not my password at all")
    assert wrong.status_code == 400 and "This is not your password." in wrong.get_data(as_text=True)
    unticked = _erase_form(client, understood=False)
    assert unticked.status_code == 400 and "Tick the box" in unticked.get_data(as_text=True)
    db.session.expire_all()
    assert _mentions(db, CAMILLE) == before and before["orders"] == 1
    assert client.get("/p/reseau-n/account/").status_code == 200  # still signed in


def test_erasure_from_the_account_page_removes_the_address_everywhere(
        client, app, db, people, buyer_sign_in):
    other_browser = app.test_client()
    buyer_sign_in(browser=other_browser)
    buyer_sign_in()
    old_link = access.access_token(people.camille_order)
    assert access.check(old_link).state == LinkState.VALID
    order_before = (people.camille_order.total_cents, people.camille_order.vat_cents,
                    people.camille_order.number, people.camille_order.paid_at)
    response = _erase_form(client)
    assert response.status_code == 302
    db.session.expire_all()
    assert _mentions(db, CAMILLE) == dict.fromkeys(_mentions(db, CAMILLE), 0)
    user = db.session.get(User, people.camille.id)
    assert user.email.endswith("@erased.invalid") and user.name == "" and not user.active
    assert user.password_hash == privacy.ERASED_PASSWORD_HASH and user.erased_at is not None
    assert user.totp_secret is None
    assert db.session.scalar(select(func.count()).select_from(EmailToken).where(
        EmailToken.user_id == user.id)) == 0
    order = db.session.get(Order, people.camille_order.id)
    assert order.email == user.email and order.name == "" and order.company == ""
    assert order.billing_line1 == order.billing_city == "" and privacy.is_erased(order)
    assert (order.total_cents, order.vat_cents, order.number, order.paid_at) == order_before
    assert (order.billing_country, order.vat_country, order.ip_country) == ("FR", "FR", "FR")
    assert len(order.lines) == 2
    # Old order links stop working, every session ended, the password no longer opens.
    assert access.check(old_link).state == LinkState.REVOKED
    records = db.session.scalars(select(AuthSession).where(AuthSession.user_id == user.id)).all()
    assert len(records) == 2 and all(r.ended_at is not None and r.ip == "" for r in records)
    assert other_browser.get("/p/reseau-n/account/").status_code == 302
    assert client.get("/p/reseau-n/account/").status_code == 302
    assert buyer_sign_in().status_code == 401
    # The vault's copy is erased; the licence records keep no copy naming the buyer.
    backup = db.session.scalar(select(Backup).where(
        Backup.order_line_ref == str(order.product_lines[0].id)))
    assert backup.status == BackupStatus.ERASED and backup.wrapped_key is None
    assert db.session.scalars(select(DeliveredUnit.licence_token).join(FulfilmentLine).where(
        FulfilmentLine.order_id == order.id)).all() == [None]
    # Robert, who bought from the same reseller, is untouched.
    assert _mentions(db, ROBERT) == {"users": 0, "orders": 1, "reseller_clients": 1,
                                     "backups": 1, "access_links": 0, "mails": 1,
                                     "licences": 1}


def test_erasure_twice_is_harmless(db, people):
    first = privacy.erase(privacy.subject_for_user(people.camille), actor="test")
    assert first.account and first.orders == 1 and first.backups == 1
    assert first.reseller_clients == 1 and first.emails == 1 and first.access_links == 1
    user = db.session.get(User, people.camille.id)
    pseudonym, erased_at = user.email, user.erased_at
    again = privacy.erase(privacy.subject_for_user(user), actor="test")
    assert not again.account and again.orders == 0 and again.backups == 0
    assert again.pseudonym == pseudonym
    db.session.expire_all()
    user = db.session.get(User, people.camille.id)
    assert (user.email, user.erased_at) == (pseudonym, erased_at)
    assert db.session.get(Order, people.camille_order.id).email == pseudonym


def test_a_reseller_no_longer_sees_the_erased_client(client, runner, people):
    result = runner.invoke(args=["users", "erase", CAMILLE, "--yes", "--by", "dpo@comptoir"])
    assert result.exit_code == 0, result.output
    assert f"erased {CAMILLE}: account erased, 1 order(s)" in result.output
    token_page = client.get("/p/reseau-n/reseller/signin").get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', token_page).group(1)  # type: ignore[union-attr]
    from privacy_support import RESELLER_PASSWORD

    signed = client.post("/p/reseau-n/reseller/signin", data={
        "csrf_token": token, "email": "a@dupont.example", "password": RESELLER_PASSWORD})
    assert signed.status_code == 302
    html = client.get("/p/reseau-n/reseller/clients").get_data(as_text=True)
    assert CAMILLE not in html and "Camille" not in html
    assert ROBERT in html or "Robert Durand" in html
    assert "2 clients" in html  # the sale stays in the reseller's history, without a name


def test_erasure_by_command_asks_and_refuses_clearly(runner, db, people, make_user):
    unknown = runner.invoke(args=["users", "erase", "nobody@example.com", "--yes"])
    assert unknown.exit_code == 1
    assert "no account or order uses nobody@example.com (unknown, or already erased)" in \
        unknown.output
    declined = runner.invoke(args=["users", "erase", CAMILLE], input="n\n")
    assert declined.exit_code == 1 and "Aborted" in declined.output
    assert db.session.scalar(select(func.count()).where(Order.email == CAMILLE)) == 1
    make_user(email="op@comptoir.example", role="operator")
    staff = runner.invoke(args=["users", "erase", "op@comptoir.example", "--yes"])
    assert staff.exit_code == 1 and "is a staff account (operator)" in staff.output
    done = runner.invoke(args=["users", "erase", ROBERT, "--yes"])
    assert done.exit_code == 0 and "account none, 1 order(s)" in done.output
    twice = runner.invoke(args=["users", "erase", ROBERT, "--yes"])
    assert twice.exit_code == 1 and "already erased" in twice.output


def test_erasure_waits_while_an_order_is_in_progress(client, runner, db, people, world, sell,
                                                     buyer_sign_in):
    pending = sell(world.n, [("OFFICE-HOME-2024-WIN", 1, (ADDON_BACKUP,))], CAMILLE,
                   "Camille Martin", paid_at=utcnow() - timedelta(minutes=5))
    assert pending.fulfilment_status == "unfulfilled"
    result = runner.invoke(args=["users", "erase", CAMILLE, "--yes"])
    assert result.exit_code == 1 and f"an order is still in progress ({pending.number})" in \
        result.output
    buyer_sign_in()
    html = client.get("/p/reseau-n/account/erase").get_data(as_text=True)
    assert "Your data cannot be erased yet" in html and 'name="password"' not in html
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).where(Order.email == CAMILLE)) == 2
    assert db.session.scalar(select(func.count()).select_from(OutgoingEmail)) == 2


def test_finance_staff_alone_read_an_erased_buyers_invoices(runner, db, people, make_user):
    operator = make_user(email="compta@comptoir.example", role="operator")
    other = make_user(email="support@comptoir.example", role="operator")
    order = people.camille_order
    assert privacy.may_read_invoice(other, order)  # not erased yet: the usual rules apply
    privacy.erase(privacy.subject_for_user(people.camille), actor="test")
    result = runner.invoke(args=["users", "finance", "compta@comptoir.example"])
    assert result.exit_code == 0 and "is finance staff" in result.output
    db.session.expire_all()
    assert privacy.may_read_invoice(db.session.get(User, operator.id), order)
    assert not privacy.may_read_invoice(db.session.get(User, other.id), order)
    assert not privacy.may_read_invoice(None, order)
    refused = runner.invoke(args=["users", "finance", ROBERT])
    assert refused.exit_code == 1 and "no account uses" in refused.output
    buyer = make_user(email="buyer@example.com")
    not_staff = runner.invoke(args=["users", "finance", buyer.email])
    assert not_staff.exit_code == 1 and "only operators can be finance staff" in not_staff.output
    revoked = runner.invoke(args=["users", "finance", "compta@comptoir.example", "--revoke"])
    assert revoked.exit_code == 0 and "no longer finance staff" in revoked.output


def test_the_partner_apis_copies_forget_the_buyer(db, people):
    """The API's remembered answer and the webhooks' bodies, replayed as stored."""
    import json
    import uuid

    from partner_api.models import ApiIdempotency
    from webhooks.models import WebhookDelivery, WebhookEndpoint

    order = people.camille_order
    body = {"id": str(order.id), "number": order.number, "total_cents": order.total_cents,
            "customer": {"email": CAMILLE, "name": "Camille Martin", "company": "Martin SARL"}}
    db.session.add(ApiIdempotency(partner_id=order.partner_id, key="k-1", request_hash="0" * 64,
                                  order_id=order.id, response_status=201,
                                  response_body=json.dumps(body)))
    endpoint = WebhookEndpoint(partner_id=order.partner_id, url="https://hooks.example/in",
                               events=["order.paid"], secret_sealed=b"sealed")
    db.session.add(endpoint)
    db.session.flush()
    db.session.add(WebhookDelivery(endpoint_id=endpoint.id, event_id=uuid.uuid4(),
                                   event_type="order.paid", body=json.dumps(
                                       {"type": "order.paid", "data": {"order": body}})))
    db.session.commit()
    report = privacy.erase(privacy.subject_for_user(people.camille), actor="test")
    row = db.session.scalar(select(ApiIdempotency).where(ApiIdempotency.key == "k-1"))
    kept = json.loads(row.response_body)
    assert kept["customer"] == {"email": report.pseudonym, "name": "", "company": ""}
    assert kept["number"] == order.number and kept["total_cents"] == order.total_cents
    sent = json.loads(db.session.scalar(select(WebhookDelivery.body)))
    assert sent["data"]["order"]["customer"]["email"] == report.pseudonym
    assert "Camille" not in json.dumps(sent) and sent["type"] == "order.paid"


def test_an_unconfirmed_account_cannot_erase_what_its_address_may_not_own(
        client, db, people, make_user, buyer_sign_in):
    """Signing up with someone else's address must not let a stranger erase their backups."""
    intruder = make_user(email="victim@example.com", email_verified_at=None,
                         password=BUYER_PASSWORD)
    assert buyer_sign_in("victim@example.com").status_code == 302
    html = client.get("/p/reseau-n/account/erase").get_data(as_text=True)
    assert "Confirm your e-mail address first" in html and 'name="password"' not in html
    import pytest

    with pytest.raises(privacy.ErasureRefused, match="is not confirmed yet"):
        privacy.erase(privacy.subject_for_user(intruder), actor="test")
    assert db.session.get(User, intruder.id).erased_at is None
