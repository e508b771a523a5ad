"""The partner order API under /api/v1: JSON in, JSON out, checked against the OpenAPI document."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import Blueprint, Response, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from flask_limiter.util import get_remote_address

from commerce.models import Partner
from commerce.orders import BuyerDetails
from extensions import csrf, limiter
from invoicing.services import document_for_order
from partner_api.keys import hash_key
from partner_api.representation import product_json
from partner_api.services import (
    ApiError,
    LineCommand,
    OrderCommand,
    order_representation,
    partner_offers,
    partner_order,
    place_api_order,
    request_hash,
)
from storefront.api import schema
from storefront.api.auth import bearer_token, partner_from_request
from storefront.invoices import pdf_response

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_BODY_BYTES = 64 * 1024
DEFAULT_RATE_LIMIT = "120/minute"


class ResponseSchemaError(AssertionError):
    """A response that breaks the OpenAPI document (raised outside production)."""


def _rate_limit() -> str:
    return str(current_app.config.get("API_RATE_LIMIT", DEFAULT_RATE_LIMIT))


def _rate_key() -> str:
    """Count requests per API key (by its hash), or per address when no key is sent."""
    token = bearer_token(request.headers.get("Authorization"))
    return "api-key:" + hash_key(token) if token else "api-addr:" + get_remote_address()


csrf.exempt(bp)
limiter.limit(_rate_limit, key_func=_rate_key)(bp)


def error(status: int, code: str, message: str, field: str | None = None) -> Response:
    """Return the API's JSON error."""
    payload: dict[str, Any] = {"code": code, "message": message}
    if field:
        payload["details"] = {"field": field}
    response = jsonify({"error": payload})
    response.status_code = status
    return response


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    return error(exc.status, exc.code, exc.message, exc.field)


def _operation_id() -> str | None:
    endpoint = request.endpoint or ""
    name = endpoint.removeprefix(f"{bp.name}.")
    return name if name in schema.operations() else None


@bp.before_request
def _check_request() -> ResponseReturnValue | None:
    """Authenticate, then check headers and the JSON body against the document."""
    if g.get("partner") is not None:
        return error(404, "not_found", "the partner API is served on the platform's host only")
    operation_id = _operation_id()
    if operation_id is None:
        return None
    if schema.needs_key(operation_id):
        g.api_partner = partner_from_request()
    violation = schema.check_headers(operation_id, request.headers)
    if violation is not None:
        return error(400, "invalid_request", violation.message, violation.field)
    if schema.has_json_body(operation_id):
        g.api_body = _json_body(operation_id)
    return None


def _json_body(operation_id: str) -> Any:
    if request.mimetype != schema.JSON:
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    too_large = ApiError(413, "payload_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise too_large
    request.max_content_length = MAX_BODY_BYTES
    data = request.get_data(cache=True)
    if len(data) > MAX_BODY_BYTES:
        raise too_large
    try:
        body = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from exc
    violation = schema.check_body(operation_id, body)
    if violation is not None:
        where = f"{violation.field}: " if violation.field else ""
        raise ApiError(400, "invalid_request", where + violation.message, violation.field or None)
    return body


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@bp.after_request
def _check_response(response: Response) -> Response:
    """Hold every JSON answer to the document: raise outside production, log in production."""
    response.headers["Cache-Control"] = "no-store"
    operation_id = _operation_id()
    if operation_id is None or response.mimetype != schema.JSON or response.direct_passthrough:
        return response
    problem = schema.check_response(operation_id, response.status_code,
                                    response.get_json(silent=True))
    if problem is not None:
        if current_app.config["ENV"] == "production":
            log.error("API response breaks the OpenAPI document: %s", problem)
        else:
            raise ResponseSchemaError(problem)
    return response


def _partner() -> Partner:
    partner: Partner = g.api_partner
    return partner


@bp.get("/products")
def list_products() -> ResponseReturnValue:
    return jsonify({"products": [product_json(offer) for offer in partner_offers(_partner())]})


@bp.post("/orders")
def create_order() -> ResponseReturnValue:
    body = g.api_body
    answer = place_api_order(
        _partner(),
        _order_command(body),
        api_key_id=g.api_key.id,
        idempotency_key=request.headers.get("Idempotency-Key"),
        body_hash=request_hash(body),
    )
    response = Response(answer.body, status=answer.status, mimetype=schema.JSON)
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _order_command(body: dict[str, Any]) -> OrderCommand:
    buyer = body["buyer"]
    try:
        validate_email(buyer["email"], check_deliverability=False)
    except EmailNotValidError as exc:
        raise ApiError(400, "invalid_request", f"buyer.email: {exc}", "buyer.email") from exc
    lines = tuple(
        LineCommand(line["product"], line["quantity"], line.get("backup"),
                    line.get("install", False))
        for line in body["lines"]
    )
    address = buyer.get("billing_address") or {}
    details = BuyerDetails(
        email=buyer["email"],
        name=buyer["name"],
        company=buyer.get("company", ""),
        vat_number=buyer.get("vat_number", ""),
        billing_country=buyer.get("billing_country", "FR"),
        billing_line1=address.get("line1", ""),
        billing_postcode=address.get("postcode", ""),
        billing_city=address.get("city", ""),
        ip_country=buyer.get("ip_country"),
        card_country=buyer.get("card_country"),
        locale=body.get("locale", current_app.config["DEFAULT_LOCALE"]),
    )
    if details.is_business and not all(
        (address.get(k) or "").strip() for k in ("line1", "postcode", "city")
    ):
        raise ApiError(422, "address_required",
                       "a business (company or VAT number) gives its billing address: line1, "
                       "postcode and city", "buyer.billing_address")
    consent_at, consent_version = _consent(body["immediate_delivery"])
    code = body.get("reseller_code")
    return OrderCommand(lines, details, code.strip().upper() if code else None,
                        terms_version=body.get("terms_version", ""), consent_at=consent_at,
                        consent_version=consent_version)


CONSENT_MAX_AGE = timedelta(days=1)


def _consent(given: dict[str, Any]) -> tuple[datetime, str]:
    """The buyer's waiver of withdrawal as the partner states it: the platform's current
    wording, at a time that has come."""
    field = "immediate_delivery"
    expected = current_app.config["CONSENT_WORDING_VERSION"]
    if given["wording_version"] != expected:
        raise ApiError(422, "consent_not_given",
                       f"the buyer must consent to immediate delivery on the wording in force, "
                       f"version {expected}", f"{field}.wording_version")
    try:
        at = datetime.fromisoformat(given["consented_at"])
    except ValueError as exc:
        raise ApiError(400, "invalid_request", f"{field}.consented_at: not a date-time",
                       f"{field}.consented_at") from exc
    if at.tzinfo is None:
        raise ApiError(400, "invalid_request", f"{field}.consented_at: give a time zone",
                       f"{field}.consented_at")
    now = datetime.now(UTC)
    if at > now + timedelta(minutes=5):
        raise ApiError(422, "consent_not_given", "the consent's time is in the future",
                       f"{field}.consented_at")
    if at < now - CONSENT_MAX_AGE:
        raise ApiError(422, "consent_not_given",
                       "the consent is more than a day old: the buyer consents as they order",
                       f"{field}.consented_at")
    return at.astimezone(UTC), expected


@bp.get("/orders/<uuid:order_id>")
def get_order(order_id: uuid.UUID) -> ResponseReturnValue:
    order = partner_order(_partner(), order_id)
    if order is None:
        return error(404, "not_found", "this partner has no such order")
    return jsonify(order_representation(order))


@bp.get("/orders/<uuid:order_id>/invoices/<number>")
def get_invoice(order_id: uuid.UUID, number: str) -> ResponseReturnValue:
    order = partner_order(_partner(), order_id)
    invoice = document_for_order(order.id, number) if order is not None else None
    if invoice is None:
        return error(404, "not_found", "this partner has no such order or document")
    return pdf_response(invoice)


@bp.get("/openapi.json")
def openapi_document() -> ResponseReturnValue:
    return jsonify(schema.document())
