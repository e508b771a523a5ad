"""The shop explains the signed licence and checks one pasted in its form."""

from __future__ import annotations

import pytest

from fulfilment import operations


@pytest.fixture
def check(client, form_token):  # type: ignore[no-untyped-def]
    """Paste a token in the shop's licence check, as a person would."""

    def paste(token: str):  # type: ignore[no-untyped-def]
        page = "/p/oem/licence/verify?lang=en"
        return client.post(page, data={"csrf_token": form_token(page), "licence": token})

    return paste


def test_the_order_page_explains_the_signed_licence_and_links_to_the_check(client, delivered):
    order, _unit = delivered
    page = client.get(f"/p/oem/orders/{order.id}?lang=en").get_data(as_text=True)
    assert "anyone can check it, even offline" in page
    assert 'href="/p/oem/licence/verify"' in page
    about = client.get("/p/oem/licence/verify?lang=en").get_data(as_text=True)
    assert "/.well-known/comptoir/licence-keys.json" in about
    assert "/api/v1/licences/revoked" in about


def test_a_delivered_licence_checks_as_valid_with_its_claims(check, delivered):
    _order, unit = delivered
    answer = check(unit.licence_token)
    text = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "Valid licence" in text and unit.licence_number in text
    assert "OFFICE-HOME-2024-WIN" in text


def test_a_changed_or_revoked_licence_is_not_valid(check, delivered):
    order, unit = delivered
    head, _, signature = unit.licence_token.rpartition(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert "Not a valid licence" in check(f"{head}.{flipped}").get_data(as_text=True)
    operations.report_activated_key(unit.unit_id, order, actor="buyer:test")
    revoked = check(unit.licence_token).get_data(as_text=True)
    assert "Revoked licence" in revoked and "its key was replaced" in revoked


def test_an_empty_or_oversized_paste_is_refused_with_a_message(check, delivered):
    assert check("  ").status_code == 400
    assert "Paste the signed licence" in check("").get_data(as_text=True)
    too_long = check("CPT1." + "a" * 20_000)
    assert too_long.status_code == 400 and "at most" in too_long.get_data(as_text=True)
