"""Reseller referrals: ?ref=CODE kept in a signed cookie, and carts a reseller prepares."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from flask import Flask, Response, current_app, g, request, session
from itsdangerous import BadSignature, URLSafeTimedSerializer

from commerce.models import Partner

COOKIE = "comptoir_ref"
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{1,31}$")
ASSISTED_KEY = "assisted_by"
CART_LINK_MAX_AGE = timedelta(days=14)


def _signer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def _window(partner: Partner) -> timedelta:
    from commissions import attribution_window

    return attribution_window(partner.id) or timedelta(days=30)


def remember_referral() -> None:
    """On a shop page reached with ?ref=CODE, remember the code for the programme's window."""
    partner, code = g.get("partner"), request.args.get("ref", "")
    if partner is None or not CODE_RE.match(code):
        return
    g.referral_cookie = (
        _signer("referral").dumps({"p": partner.slug, "c": code.upper()}),
        _window(partner),
    )


def set_referral_cookie(response: Response) -> Response:
    pending = g.get("referral_cookie")
    if pending:
        value, window = pending
        response.set_cookie(
            COOKIE,
            value,
            max_age=int(window.total_seconds()),
            httponly=True,
            samesite="Lax",
            secure=current_app.config["SESSION_COOKIE_SECURE"],
        )
    return response


def referral_code(partner: Partner) -> str | None:
    """The code of a referral link followed on this partner's shop within the window, if any."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data: dict[str, Any] = _signer("referral").loads(
            raw, max_age=int(_window(partner).total_seconds())
        )
    except BadSignature:
        return None
    return str(data["c"]) if data.get("p") == partner.slug else None


def cart_link_token(partner: Partner, reseller_code: str, lines: list[dict[str, Any]]) -> str:
    """A signed token for a cart prepared by a reseller: [{"code", "q", "a": [add-on codes]}]."""
    return _signer("assisted-cart").dumps({"p": partner.slug, "r": reseller_code, "l": lines})


def read_cart_link(partner: Partner, token: str) -> tuple[str, list[dict[str, Any]]] | None:
    try:
        data = _signer("assisted-cart").loads(token, max_age=int(CART_LINK_MAX_AGE.total_seconds()))
    except BadSignature:
        return None
    if data.get("p") != partner.slug:
        return None
    return str(data["r"]), list(data["l"])


def assisted_code(partner: Partner) -> str | None:
    value = session.get(ASSISTED_KEY) or {}
    return value.get(str(partner.id)) if isinstance(value, dict) else None


def mark_assisted(partner: Partner, code: str) -> None:
    value = dict(session.get(ASSISTED_KEY) or {})
    value[str(partner.id)] = code
    session[ASSISTED_KEY] = value


def init_app(app: Flask) -> None:
    app.before_request(remember_referral)
    app.after_request(set_referral_cookie)
