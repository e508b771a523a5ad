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
