"""The portal's bank details page: the password (and code) confirms, the reseller is told by
e-mail, a wrong account stores nothing; the back office sees them masked."""

from __future__ import annotations

import time

import pyotp
from sqlalchemy import select

from accounts import factors
from accounts.totp import new_secret
from commerce.models import User
from commissions import adjust, run_payouts
from commissions.models import BankDetailsChange, PayoutBatch

PASSWORD = "reseller password 2026"  # noqa: S105 - the login tests/reseller/conftest.py creates
URL = "/p/reseau-n/reseller/bank-details"
IBAN = "FR76 3000 6000 0112 3456 7890 189"


def _post(client, form_token, **fields):
    data = {"csrf_token": form_token(URL), "holder": "Dupont Informatique SARL", "iban": IBAN,
            "bic": "AGRIFRPPXXX", "password": PASSWORD, **fields}
    return client.post(URL, data=data)


def test_a_reseller_gives_bank_details_on_their_password_and_is_told(
        client, world, sign_in, form_token, db, mailbox):
    sign_in("reseau-n", "a@dupont.example")
    page = client.get(URL).get_data(as_text=True)
    assert "You have not given a bank account yet" in page
    response = _post(client, form_token)
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.refresh(world.a)
    assert (world.a.bank_iban, world.a.bank_bic, world.a.bank_holder) == (
        "FR7630006000011234567890189", "AGRIFRPPXXX", "Dupont Informatique SARL")
    page = client.get(URL).get_data(as_text=True)
    assert "FR76 **** **** **** **** ***0 189" in page and "7890" not in page
    [change] = db.session.scalars(select(BankDetailsChange)).all()
    assert change.actor == "reseller:RP-AAAA" and change.source == "127.0.0.1"
    [mail] = mailbox.wait_for("a@dupont.example")
    body = mail.get_content()
    assert "FR76 **** **** **** **** ***0 189" in body and "7890" not in body


def test_a_wrong_password_or_account_changes_nothing(client, world, sign_in, form_token, db,
                                                     mailbox):
    sign_in("reseau-n", "a@dupont.example")
    response = _post(client, form_token, password="not my password")
    assert response.status_code == 400
    assert "This is not your current password." in response.get_data(as_text=True)
    response = _post(client, form_token, iban="FR7630006000011234567890188", bic="COBADEFF")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "This is not a valid IBAN" in html
    db.session.refresh(world.a)
    assert world.a.bank_iban is None
    assert db.session.scalars(select(BankDetailsChange)).all() == []
    assert mailbox.to("a@dupont.example") == []


def test_with_two_step_sign_in_the_code_is_asked_too(client, world, sign_in, form_token, db):
    user = db.session.get(User, world.a.user_id)
    secret = new_secret()
    factors.set_totp_secret(user, secret)
    db.session.commit()
    sign_in("reseau-n", "a@dupont.example")
    client.post("/p/reseau-n/reseller/signin/code", data={
        "csrf_token": form_token("/p/reseau-n/reseller/signin/code"),
        "code": pyotp.TOTP(secret).now()})
    assert "Six-digit code" in client.get(URL).get_data(as_text=True)
    response = _post(client, form_token, code="000000")
    assert response.status_code == 400
    assert "This code is wrong or has expired" in response.get_data(as_text=True)
    db.session.refresh(world.a)
    assert world.a.bank_iban is None
    # the code of the next 30 seconds (the one signed in with is spent)
    response = _post(client, form_token, code=pyotp.TOTP(secret).at(time.time() + 30))
    assert response.status_code == 302
    db.session.refresh(world.a)
    assert world.a.bank_iban == "FR7630006000011234567890189"


def test_the_dashboard_says_a_payout_waits_for_bank_details(client, world, sign_in, db):
    adjust(world.a, 6000, "bonus", "operateur")
    [payout] = run_payouts()
    assert payout.batch is None
    sign_in("reseau-n", "a@dupont.example")
    html = client.get("/p/reseau-n/reseller/").get_data(as_text=True)
    assert ("€60.00 of payouts already made is waiting for your bank details."
            in html.replace("\xa0", " "))


def test_the_back_office_sees_masked_bank_details_and_downloads_the_file(
        client, world, db, sign_in_operator, runner):
    result = runner.invoke(args=["resellers", "bank-details", "RP-AAAA", "--iban", IBAN,
                                 "--bic", "AGRIFRPPXXX", "--holder", "Dupont SARL"])
    assert result.exit_code == 0, result.output
    adjust(world.a, 6000, "bonus", "operateur")
    adjust(world.b, 7000, "bonus", "operateur")
    run_payouts()
    batch = db.session.scalars(select(PayoutBatch)).one()
    sign_in_operator(client)
    html = client.get("/admin/payouts?lang=en").get_data(as_text=True)
    assert "FR76 **** **** **** **** ***0 189" in html and "AGRIFR*****" in html
    assert "7890" not in html and "AGRIFRPPXXX" not in html
    assert batch.number in html and "waiting for bank details" in html
    response = client.get(f"/admin/payouts/files/{batch.id}.xml")
    assert response.status_code == 200 and response.data == batch.xml
    assert response.headers["Content-Disposition"] == f'attachment; filename="{batch.number}.xml"'
    payout = batch.payouts[0]
    pdf = client.get(f"/admin/payouts/{payout.id}/statement.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")


def test_the_payouts_page_is_for_operators_only(client, world, db):
    assert client.get("/admin/payouts").status_code == 302
    assert client.get("/admin/payouts/files/00000000-0000-0000-0000-000000000000.xml",
                      headers={"Accept": "application/json"}).status_code == 403
