"""The OpenAPI document: valid, complete, and holding every request and response to itself."""

from __future__ import annotations

import logging
import re

import pytest
from api_support import order_body
from openapi_spec_validator import validate

from partner_api import representation
from storefront.api import schema
from storefront.api.views import ResponseSchemaError, bp


def test_openapi_document_is_served_and_valid(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["partnerKey"]["scheme"] == "bearer"
    assert document == schema.document()


def test_every_api_route_is_documented_and_every_operation_routed(app):
    routed = {
        (rule.endpoint.removeprefix("api."), method.lower())
        for rule in app.url_map.iter_rules() if rule.endpoint.startswith(f"{bp.name}.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(op, method) for op, (_path, method) in schema.operations().items()}
    assert routed == documented
    paths = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix(bp.url_prefix))
             for rule in app.url_map.iter_rules() if rule.endpoint.startswith(f"{bp.name}.")}
    assert paths == set(schema.document()["paths"])


def test_errors_follow_the_error_schema(client, catalogue):
    response = client.get("/api/v1/products")
    error = response.get_json()
    assert schema.check_response("list_products", 401, error) is None
    assert schema.check_response("list_products", 401, {"error": {"code": "x"}}) is not None


def test_a_response_that_breaks_the_document_raises_outside_production(
    api, catalogue, monkeypatch
):
    real = representation.product_json
    monkeypatch.setattr("storefront.api.views.product_json",
                        lambda offer: {**real(offer), "price_cents": "13.90"})
    with pytest.raises(ResponseSchemaError, match="price_cents"):
        api("GET", "/products", catalogue.key_a)


def test_a_response_that_breaks_the_document_is_logged_in_production(
    app, api, catalogue, monkeypatch, caplog
):
    real = representation.product_json
    monkeypatch.setattr("storefront.api.views.product_json",
                        lambda offer: {**real(offer), "secret": "leak"})
    app.config["ENV"] = "production"
    try:
        with caplog.at_level(logging.ERROR, logger="storefront.api.views"):
            response = api("GET", "/products", catalogue.key_a)
    finally:
        app.config["ENV"] = "testing"
    assert response.status_code == 200
    assert "breaks the OpenAPI document" in caplog.text and "secret" in caplog.text


def test_undocumented_status_is_caught():
    assert "not documented" in (schema.check_response("openapi_document", 500, {}) or "")


def test_request_validation_names_the_field():
    violation = schema.check_body("create_order", order_body({"product": "X", "quantity": 0}))
    assert violation is not None and violation.field == "lines[0].quantity"
    assert schema.check_body("create_order", order_body()) is None


def test_wrong_method_is_json(api, catalogue):
    response = api("DELETE", "/orders", catalogue.key_a)
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_rate_limit_is_per_key(test_settings, catalogue, db):
    from app import create_app
    from partner_api.keys import issue_api_key

    limited = create_app({**test_settings, "RATELIMIT_ENABLED": True, "API_RATE_LIMIT": "2/minute"})
    key_c = issue_api_key(catalogue.a, "second integration")
    with limited.app_context():
        client = limited.test_client()

        def get(key: str) -> int:
            return client.get("/api/v1/products",
                              headers={"Authorization": f"Bearer {key}"}).status_code

        assert [get(catalogue.key_a) for _ in range(3)] == [200, 200, 429]
        assert get(key_c) == 200 and get(catalogue.key_b) == 200
        response = client.get("/api/v1/products",
                              headers={"Authorization": f"Bearer {catalogue.key_a}"})
        assert response.get_json()["error"]["code"] == "too_many_requests"
        db.session.remove()
        db.engine.dispose()
