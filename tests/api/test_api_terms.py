"""API orders carry the partner's statement that the buyer accepted the terms of sale in force."""

from __future__ import annotations

import uuid

from api_support import order_body

from commerce.models import Order
from legal.terms import in_force
from partner_api.models import ApiIdempotency


def test_an_order_without_the_terms_version_is_refused_and_changes_nothing(
        api, catalogue, count, handed_off):
    body = order_body()
    del body["terms_version"]
    response = api("POST", "/orders", catalogue.key_a, body, headers={"Idempotency-Key": "t-1"})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_request"
    assert error["details"]["field"] == "terms_version"
    assert "required" in error["message"]
    assert count(Order) == 0 and count(ApiIdempotency) == 0 and handed_off == []


def test_an_order_with_terms_no_longer_in_force_is_refused_naming_the_current_version(
        api, catalogue, count, handed_off):
    response = api("POST", "/orders", catalogue.key_a, order_body(terms_version="2025-06-v1"),
                   headers={"Idempotency-Key": "t-2"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "terms_not_accepted"
    assert error["details"]["field"] == "terms_version"
    assert f"version {in_force().version}, not 2025-06-v1" in error["message"]
    assert count(Order) == 0 and count(ApiIdempotency) == 0 and handed_off == []


def test_a_malformed_terms_version_is_refused_by_the_document(api, catalogue, count):
    response = api("POST", "/orders", catalogue.key_a, order_body(terms_version="latest"))
    assert response.status_code == 400
    assert response.get_json()["error"]["details"]["field"] == "terms_version"
    assert count(Order) == 0


def test_the_accepted_version_is_stored_with_the_api_order(api, catalogue, db, handed_off):
    response = api("POST", "/orders", catalogue.key_a, order_body())
    assert response.status_code == 201, response.get_json()
    order = db.session.get(Order, uuid.UUID(response.get_json()["id"]))
    assert order.terms_version == in_force().version


def test_the_buyers_waiver_of_withdrawal_is_required_stored_and_checked(
        api, catalogue, count, db, handed_off):
    import uuid

    from api_support import CONSENT_VERSION, consented_at

    from commerce.models import Order

    missing = order_body()
    del missing["immediate_delivery"]
    response = api("POST", "/orders", catalogue.key_a, missing)
    assert response.status_code == 400
    assert response.get_json()["error"]["details"]["field"] == "immediate_delivery"
    for consent, field in (
            ({"consented_at": consented_at(), "wording_version": "2020-01-v0"},
             "immediate_delivery.wording_version"),
            ({"consented_at": consented_at(minutes_ago=25 * 60), "wording_version":
              CONSENT_VERSION}, "immediate_delivery.consented_at"),
            ({"consented_at": "2999-01-01T00:00:00Z", "wording_version": CONSENT_VERSION},
             "immediate_delivery.consented_at")):
        refused = api("POST", "/orders", catalogue.key_a, order_body(immediate_delivery=consent))
        error = refused.get_json()["error"]
        assert refused.status_code == 422 and error["code"] == "consent_not_given"
        assert error["details"]["field"] == field
    for moment in ("yesterday", "2026-12-06T20:15:00"):
        bad = api("POST", "/orders", catalogue.key_a, order_body(immediate_delivery={
            "consented_at": moment, "wording_version": CONSENT_VERSION}))
        assert bad.status_code == 400
    assert count(Order) == 0
    body = order_body()
    placed = api("POST", "/orders", catalogue.key_a, body).get_json()
    order = db.session.get(Order, uuid.UUID(placed["id"]))
    assert order.consent_wording_version == CONSENT_VERSION
    given = body["immediate_delivery"]["consented_at"]
    assert order.consent_at.isoformat() == given.replace("Z", "+00:00")
