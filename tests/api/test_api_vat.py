"""VAT by country through the partner API: the same rules as the shop, refusals that change
nothing, and the tax each order paid in its representation."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from api_support import order_body

from commerce.models import Order

GERMAN_BUSINESS = {"company": "Bäckerei Müller GmbH", "vat_number": "DE136695976",
                   "billing_country": "DE",
                   "billing_address": {"line1": "Hauptstraße 1", "postcode": "10115",
                                       "city": "Berlin"}}


def _buyer(**fields):
    body = order_body()
    body["buyer"] |= fields
    return body


def _error(response) -> dict:
    assert response.is_json, response.data
    return response.get_json()["error"]


def test_a_french_consumer_pays_french_vat(api, catalogue, handed_off):
    data = api("POST", "/orders", catalogue.key_a, order_body()).get_json()
    assert data["tax"] == {"treatment": "standard", "country": "FR", "vies_reference": None}
    assert (data["total_cents"], data["vat_cents"]) == (13900, 13900 - 11583)
    assert data["lines"][0]["vat_rate"] == "20.00"


def test_a_german_consumer_pays_german_vat(api, catalogue, handed_off, vies):
    data = api("POST", "/orders", catalogue.key_a, _buyer(billing_country="DE")).get_json()
    assert data["tax"] == {"treatment": "standard", "country": "DE", "vies_reference": None}
    assert (data["total_cents"], data["vat_cents"]) == (13784, 13784 - 11583)
    assert data["lines"][0]["vat_rate"] == "19.00"
    assert vies.checks == []


def test_a_german_business_is_reverse_charged_with_the_vies_reference(
        app, api, catalogue, handed_off, vies, db):
    app.config["PLATFORM_VAT_NUMBER"] = "FR40303265045"
    response = api("POST", "/orders", catalogue.key_a, _buyer(**GERMAN_BUSINESS))
    assert response.status_code == 201
    data = response.get_json()
    assert data["tax"]["treatment"] == "reverse_charge" and data["tax"]["country"] == "DE"
    assert data["tax"]["vies_reference"].startswith("WAPI")
    assert (data["total_cents"], data["vat_cents"]) == (11583, 0)
    assert data["buyer"]["billing_address"] == GERMAN_BUSINESS["billing_address"]
    order = db.session.get(Order, uuid.UUID(data["id"]))
    assert order.lines[0].vat_rate == Decimal("0.00") and order.vies_status == "valid"
    again = api("GET", f"/orders/{data['id']}", catalogue.key_a).get_json()
    assert again["tax"] == data["tax"]


@pytest.mark.parametrize("fields, status, code, field", [
    ({"vat_number": "DE136695977", "billing_country": "DE"}, 422, "invalid_vat_number",
     "buyer.vat_number"),
    ({"vat_number": "FR40303265045", "billing_country": "DE"}, 422, "invalid_vat_number",
     "buyer.vat_number"),
    ({"billing_country": "US", "vat_number": ""}, 422, "unsupported_country",
     "buyer.billing_country"),
    ({"billing_address": None}, 400, "invalid_request", "buyer.billing_address"),
])
def test_bad_tax_details_are_refused_and_nothing_is_placed(
        api, catalogue, count, handed_off, vies, fields, status, code, field):
    body = _buyer(**{**GERMAN_BUSINESS, **fields})
    if body["buyer"].get("billing_address") is None:
        body["buyer"].pop("billing_address")
        status, code = 422, "address_required"
    response = api("POST", "/orders", catalogue.key_a, body)
    assert response.status_code == status, response.get_json()
    error = _error(response)
    assert error["code"] == code and error["details"]["field"] == field
    assert count(Order) == 0


def test_a_number_vies_does_not_know_is_refused(api, catalogue, count, handed_off, vies):
    vies.unregistered.add("DE136695976")
    response = api("POST", "/orders", catalogue.key_a, _buyer(**GERMAN_BUSINESS))
    assert response.status_code == 422 and _error(response)["code"] == "invalid_vat_number"
    assert count(Order) == 0


def test_vies_down_charges_vat_or_asks_for_a_retry_as_the_platform_is_set(
        app, api, catalogue, count, handed_off, vies):
    vies.down.add("*")
    app.config["VIES_UNAVAILABLE"] = "hold"
    body = _buyer(**GERMAN_BUSINESS)
    held = api("POST", "/orders", catalogue.key_a, body, headers={"Idempotency-Key": "k-1"})
    assert held.status_code == 503 and _error(held)["code"] == "vat_check_unavailable"
    assert count(Order) == 0
    vies.down.clear()
    retried = api("POST", "/orders", catalogue.key_a, body, headers={"Idempotency-Key": "k-1"})
    assert retried.status_code == 201 and retried.get_json()["tax"]["treatment"] == \
        "reverse_charge"

    vies.down.add("*")
    app.config["VIES_UNAVAILABLE"] = "charge_vat"
    other = {**GERMAN_BUSINESS, "vat_number": "DE129273398"}
    charged = api("POST", "/orders", catalogue.key_a, _buyer(**other)).get_json()
    assert charged["tax"]["treatment"] == "standard" and charged["vat_cents"] == 13784 - 11583


def test_location_evidence_from_the_partner_is_kept_and_a_contradiction_flagged(
        api, catalogue, db, handed_off):
    agreeing = api("POST", "/orders", catalogue.key_a,
                   _buyer(billing_country="DE", ip_country="DE", card_country="DE")).get_json()
    contradicting = api("POST", "/orders", catalogue.key_a,
                        _buyer(billing_country="DE", ip_country="FR",
                               card_country="FR")).get_json()
    first = db.session.get(Order, uuid.UUID(agreeing["id"]))
    second = db.session.get(Order, uuid.UUID(contradicting["id"]))
    assert (first.card_country, first.ip_country, first.location_conflict) == ("DE", "DE", False)
    assert (second.card_country, second.location_conflict) == ("FR", True)
