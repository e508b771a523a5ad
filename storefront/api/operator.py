"""The operator API under /api/v1/operator: partners created, changed, opened and suspended by
the operator's own tools, with an operator API key (`comptoir operators api-key EMAIL`).

The same partners service as the back office and the commands does the checks and the audit:
a refused body is a 422 naming each bad field, and nothing is stored. docs/operator-api.md
describes every route.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for
from flask_limiter.util import get_remote_address
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from accounts.api_keys import find_operator_key
from commerce.models import Partner, PartnerProduct, PartnerStatus
from extensions import csrf, db, limiter
from partners import services
from partners.lookup import partner_with_catalogue
from partners.validation import BOOLEAN_FIELDS, PartnerError, parse_moment, parse_price
from storefront.api.auth import bearer_token

bp = Blueprint("operator_api", __name__, url_prefix="/api/v1/operator")
csrf.exempt(bp)
MAX_BODY_BYTES = 64 * 1024
STATUS_TARGETS = {"open": PartnerStatus.OPEN, "suspended": PartnerStatus.SUSPENDED}


class OperatorApiError(Exception):
    def __init__(self, status: int, code: str, message: str,
                 fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


def _rate_key() -> str:
    token = bearer_token(request.headers.get("Authorization"))
    return ("operator-key:" + hashlib.sha256(token.encode()).hexdigest() if token
            else "operator-addr:" + get_remote_address())


limiter.limit(lambda: str(current_app.config.get("API_RATE_LIMIT", "120/minute")),
              key_func=_rate_key)(bp)


@bp.errorhandler(OperatorApiError)
def _error(exc: OperatorApiError) -> Response:
    payload: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.fields:
        payload["details"] = {"fields": exc.fields}
    response = jsonify({"error": payload})
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="comptoir-operator"'
    return response


@bp.errorhandler(PartnerError)
def _refused(exc: PartnerError) -> Response:
    db.session.rollback()
    return _error(OperatorApiError(422, "invalid", "nothing was stored: " + str(exc),
                                   exc.english()))


@bp.before_request
def _authenticate() -> None:
    if g.get("partner") is not None:
        raise OperatorApiError(404, "not_found", "the operator API is served on the platform's "
                                                 "host only")
    token = bearer_token(request.headers.get("Authorization"))
    record = find_operator_key(token) if token else None
    if record is None:
        raise OperatorApiError(401, "unauthorized",
                               "the operator API key is unknown, malformed or revoked" if token
                               else "send an operator API key: Authorization: Bearer cok_...")
    g.operator_actor = f"operator-api:{record.user.email}"


def _body() -> dict[str, Any]:
    if request.mimetype != "application/json":
        raise OperatorApiError(415, "unsupported_media_type", "send the body as application/json")
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise OperatorApiError(413, "payload_too_large",
                               f"the body exceeds {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(request.get_data(cache=False).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise OperatorApiError(400, "malformed_json", f"the body is not valid JSON: {exc}"
                               ) from exc
    if not isinstance(body, dict):
        raise OperatorApiError(400, "invalid_request", "the body must be a JSON object")
    return body


def _strings(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PartnerError({name: "must be a list of strings"})
    return value


def _fields(body: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    """The partner fields of a body, each of its JSON type: a string, or a boolean for flags."""
    errors: dict[str, str] = {}
    for name, value in body.items():
        if name not in allowed:
            errors[name] = "is not a partner field"
        elif name in BOOLEAN_FIELDS:
            if not isinstance(value, bool):
                errors[name] = "must be true or false"
        elif not isinstance(value, str):
            errors[name] = "must be a string"
    if errors:
        raise PartnerError(errors)
    return body


def _partner(slug: str) -> Partner:
    partner = partner_with_catalogue(slug)
    if partner is None:
        raise OperatorApiError(404, "not_found", f"no partner {slug!r}")
    return partner


def _answer(partner: Partner, status: int = 200, **extra: Any) -> Response:
    response = jsonify({**services.snapshot(partner), **extra})
    response.status_code = status
    return response


@bp.get("/partners")
def list_partners() -> Response:
    partners = db.session.scalars(
        select(Partner).order_by(Partner.slug)
        .options(selectinload(Partner.domains),
                 selectinload(Partner.offers).selectinload(PartnerProduct.product))).all()
    return jsonify({"partners": [services.snapshot(p) for p in partners]})


@bp.post("/partners")
def create_partner() -> Response:
    body = _body()
    domains = _strings(body, "domains")
    origins = _strings(body, "embed_origins")
    values = _fields({k: v for k, v in body.items() if k not in {"domains", "embed_origins"}},
                     services.EDITABLE_FIELDS | {"slug"})
    partner = services.create_partner(values, actor=g.operator_actor, domains=domains,
                                      embed_origins=origins)
    db.session.commit()
    response = _answer(partner, 201)
    response.headers["Location"] = url_for(".get_partner", slug=partner.slug)
    return response


@bp.get("/partners/<slug>")
def get_partner(slug: str) -> Response:
    return _answer(_partner(slug))


@bp.patch("/partners/<slug>")
def update_partner(slug: str) -> Response:
    partner = _partner(slug)
    changes = services.update_partner(
        partner, _fields(_body(), services.EDITABLE_FIELDS | services.translated_fields()),
        actor=g.operator_actor)
    db.session.commit()
    return _answer(partner, changed=sorted(changes))


@bp.put("/partners/<slug>/domains")
def set_domains(slug: str) -> Response:
    partner = _partner(slug)
    body = _body()
    primary = body.get("primary")
    if primary is not None and not isinstance(primary, str):
        raise PartnerError({"primary": "must be a string"})
    services.set_domains(partner, _strings(body, "domains"), actor=g.operator_actor,
                         primary=primary)
    db.session.commit()
    return _answer(partner)


@bp.put("/partners/<slug>/embed-origins")
def set_embed_origins(slug: str) -> Response:
    partner = _partner(slug)
    services.set_embed_origins(partner, _strings(_body(), "embed_origins"),
                               actor=g.operator_actor)
    db.session.commit()
    return _answer(partner)


@bp.put("/partners/<slug>/offers/<product>")
def set_offer(slug: str, product: str) -> Response:
    """{"price_cents": 14900} or {"price": "149.00"}, optional "available", and "starts_at" to
    schedule the price instead of setting it now."""
    partner = _partner(slug)
    body = _body()
    unknown = set(body) - {"price", "price_cents", "available", "starts_at"}
    if unknown:
        raise PartnerError({name: "is not a field of an offer" for name in sorted(unknown)})
    raw = body.get("price_cents", body.get("price"))
    if isinstance(raw, bool) or (raw is not None and not isinstance(raw, int | str)):
        raise PartnerError({"price_cents": "must be a whole number of cents"})
    cents = parse_price(raw, "price_cents" if "price_cents" in body else "price") \
        if raw is not None else None
    available = body.get("available")
    if available is not None and not isinstance(available, bool):
        raise PartnerError({"available": "must be true or false"})
    if body.get("starts_at") is not None:
        if cents is None:
            raise PartnerError({"price_cents": "a scheduled change needs its price"})
        services.schedule_price(partner, product, cents, parse_moment(body["starts_at"]),
                                actor=g.operator_actor)
    else:
        if cents is None and available is None:
            raise PartnerError({"price_cents": "give a price, or available true or false"})
        services.set_offer(partner, product, actor=g.operator_actor, price_cents=cents,
                           available=available)
    db.session.commit()
    return _answer(partner)


@bp.post("/partners/<slug>/status")
def change_status(slug: str) -> Response:
    """{"status": "open"} opens or reopens; {"status": "suspended", "reason": "…"} suspends."""
    partner = _partner(slug)
    body = _body()
    target = STATUS_TARGETS.get(str(body.get("status", "")))
    if target is None:
        raise PartnerError({"status": "must be 'open' or 'suspended'"})
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise PartnerError({"reason": "must be a string"})
    action = services.change_status(partner, target, actor=g.operator_actor, reason=reason)
    db.session.commit()
    return _answer(partner, action=action)


@bp.get("/partners/<slug>/history")
def partner_history(slug: str) -> Response:
    return jsonify({"changes": [
        {"at": c.at.isoformat(), "actor": c.actor, "action": c.action, "reason": c.reason,
         "changes": c.changes}
        for c in services.history(_partner(slug), 200)]})
