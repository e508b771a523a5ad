"""A buyer downloads their data from their account; staff export it by command."""

from __future__ import annotations

import json

from privacy_support import CAMILLE, ROBERT


def test_export_holds_every_category_and_nothing_of_another_buyer(client, people, buyer_sign_in):
    assert buyer_sign_in().status_code == 302
    page = client.get("/p/reseau-n/account/").get_data(as_text=True)
    assert "Download my data (JSON)" in page and "Erase my account and my data" in page
    response = client.get("/p/reseau-n/account/data.json")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="my-data.json"'
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    data = json.loads(text)
    assert data["format"] == "comptoir-personal-data" and data["email"] == CAMILLE
    assert data["account"]["email"] == CAMILLE and data["account"]["name"] == "Camille Martin"
    assert len(data["sessions"]) == 1 and data["sessions"][0]["door"] == "buyer"
    order, = data["orders"]
    assert order["number"] == people.camille_order.number
    assert order["company"] == "Martin SARL" and order["billing_city"] == "Lyon"
    for evidence in ("billing_country", "vat_country", "ip_country", "card_country",
                     "location_conflict", "vies_status", "tax_treatment", "consent_at",
                     "terms_version"):
        assert evidence in order
    assert order["ip_country"] == "FR"
    assert [line["add_on"] for line in order["lines"]] == [False, True]
    licence, = data["licences"]
    assert licence["product_key"] == people.camille_key  # the buyer's own key, in full
    assert licence["licence"] and licence["licence_number"]
    backup, = data["backups"]
    assert backup["order"] == people.camille_order.number and backup["status"] == "stored"
    assert len(data["backup_access_links"]) == 1
    assert data["resellers"]["order_attributions"][0]["reseller_code"] == "RP-AAAA"
    assert data["resellers"]["client_of"][0]["email"] == CAMILLE
    kinds = sorted(mail["kind"] for mail in data["emails_sent"])
    assert kinds == ["copy", "delivery"]
    # Nothing about Robert, who bought from the same reseller.
    assert ROBERT not in text and "Robert" not in text
    assert people.robert_order.number not in text
    # No secret of the account's own.
    assert people.camille.password_hash not in text and "$argon2" not in text


def test_export_needs_a_signed_in_buyer(client, people):
    response = client.get("/p/reseau-n/account/data.json")
    assert response.status_code == 302 and "/account/signin" in response.headers["Location"]


def test_an_unconfirmed_account_exports_only_what_it_placed(client, db, people, make_user,
                                                            buyer_sign_in):
    make_user(email="zoe@example.com", email_verified_at=None)
    from privacy_support import BUYER_PASSWORD

    assert buyer_sign_in("zoe@example.com", BUYER_PASSWORD).status_code == 302
    data = client.get("/p/reseau-n/account/data.json").get_json()
    assert data["orders"] == [] and data["backups"] == [] and data["emails_sent"] == []
    assert CAMILLE not in json.dumps(data)


def test_staff_export_by_command_writes_json(runner, people):
    result = runner.invoke(args=["users", "export", CAMILLE])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["account"]["email"] == CAMILLE
    assert [o["number"] for o in data["orders"]] == [people.camille_order.number]
    assert ROBERT not in result.output


def test_staff_export_of_a_guest_by_command(runner, people):
    result = runner.invoke(args=["users", "export", ROBERT.upper()])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["account"] is None and data["sessions"] == []
    assert [o["number"] for o in data["orders"]] == [people.robert_order.number]
    assert CAMILLE not in result.output


def test_export_of_an_unknown_address_is_a_clear_error(runner, people):
    result = runner.invoke(args=["users", "export", "nobody@example.com"])
    assert result.exit_code == 1
    assert "no account or order uses nobody@example.com" in result.output
    bad = runner.invoke(args=["users", "export", "not-an-address"])
    assert bad.exit_code == 1 and "is not an e-mail address" in bad.output
