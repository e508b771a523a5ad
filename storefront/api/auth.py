"""Authenticating partner API requests by their bearer key."""

from __future__ import annotations

from typing import NoReturn

from flask import abort, g, jsonify, request

from commerce.models import Partner
from extensions import db
from partner_api.keys import find_api_key
from partner_api.models import PartnerApiKey
from partners.services import apply_partner_due_prices

REALM = "comptoir"


def bearer_token(header_value: str | None) -> str | None:
    """Return the token of an `Authorization: Bearer <token>` value, or None."""
    if not header_value:
        return None
    scheme, _, token = header_value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def api_key_from_bearer(header_value: str | None) -> PartnerApiKey | None:
    """Return the live API key named by an Authorization header value, or None."""
    token = bearer_token(header_value)
    return find_api_key(token) if token else None


def partner_from_bearer(header_value: str | None) -> Partner | None:
    """Return the partner whose live API key is in an Authorization header value, or None."""
    record = api_key_from_bearer(header_value)
    return record.partner if record else None


def partner_from_request() -> Partner:
    """Return the partner of the request's API key; abort with a 401 JSON error otherwise."""
    header = request.headers.get("Authorization")
    record = api_key_from_bearer(header)
    if record is None:
        _unauthorized(given=bool(header))
    g.api_key = record
    if apply_partner_due_prices(record.partner):
        db.session.commit()
    return record.partner


def _unauthorized(given: bool) -> NoReturn:
    if given:
        message = "the API key is unknown, malformed or revoked"
        challenge = f'Bearer realm="{REALM}", error="invalid_token"'
    else:
        message = "send a partner API key: Authorization: Bearer cpk_live_..."
        challenge = f'Bearer realm="{REALM}"'
    response = jsonify({"error": {"code": "unauthorized", "message": message}})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = challenge
    abort(response)
