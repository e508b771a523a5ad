"""HTTP: the published key set, the verification API and the signed revocation list."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import TooManyRequests

from extensions import csrf, limiter
from licensing.jwks import build_jwks
from licensing.keys import published_keys
from licensing.services import revocation_list, verify_licence_token
from licensing.token import MAX_TOKEN_LENGTH

blueprint = Blueprint("licensing", __name__)

KEYS_MAX_AGE = 300


def _json(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json"
    )


def _error(code: str, message: str, status: int) -> Response:
    return _json({"error": {"code": code, "message": message}}, status)


def _verify_limit() -> str:
    return str(current_app.config.get("LICENSING_VERIFY_RATE_LIMIT", "60/minute"))


@blueprint.errorhandler(TooManyRequests)
def _too_many_requests(exc: TooManyRequests) -> Response:
    response = _error("rate_limited", "too many verification requests; slow down", 429)
    retry_after = exc.response.headers.get("Retry-After") if exc.response else None
    if retry_after:
        response.headers["Retry-After"] = retry_after
    return response


@blueprint.get("/.well-known/comptoir/licence-keys.json")
def licence_keys() -> Response:
    """Publish the verification keys as a JWK Set, cacheable, with an ETag."""
    body = json.dumps(build_jwks(published_keys()), separators=(",", ":"), sort_keys=True)
    response = Response(body, mimetype="application/json")
    response.set_etag(hashlib.sha256(body.encode()).hexdigest()[:32])
    response.headers["Cache-Control"] = f"public, max-age={KEYS_MAX_AGE}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.make_conditional(request)
    return response


@blueprint.post("/api/v1/licences/verify")
@csrf.exempt
@limiter.limit(_verify_limit)
def verify_licence() -> Response:
    """Verify a licence token against our keys and the revocation list."""
    body = request.get_json(silent=True)
    if body is None:
        return _error("bad_json", 'send a JSON object: {"licence": "CPT1...."}', 400)
    if not isinstance(body, dict) or not isinstance(body.get("licence"), str):
        return _error("missing_licence", 'the "licence" member must be a string', 400)
    token = body["licence"].strip()
    if len(token) > MAX_TOKEN_LENGTH:
        return _error("too_long", f"a licence is at most {MAX_TOKEN_LENGTH} characters", 400)
    return _json(verify_licence_token(token).to_dict())


@blueprint.get("/api/v1/licences/revoked")
def revoked_licences() -> Response:
    """List licences revoked since `since` (ISO 8601), in a signed document."""
    since_text = request.args.get("since")
    since: datetime | None = None
    if since_text:
        try:
            since = datetime.fromisoformat(since_text.replace(" ", "+"))
        except ValueError:
            return _error("bad_since", "since must be an ISO 8601 date-time", 400)
        since = since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)
    response = _json(revocation_list(since).to_dict())
    response.headers["Cache-Control"] = "public, max-age=60"
    return response
