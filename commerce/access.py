"""Signed, expiring, revocable links that open one order on any device.

The token signs the order's id and its access version with the app's secret key; it expires
after COMPTOIR_ORDER_LINK_MAX_AGE, and bumping the order's `access_version` revokes every link
given out so far. Nothing about it is stored, so it works from any device until then.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import update

from commerce.links import LinkState, shop_url
from commerce.models import Order
from extensions import db

SALT = "comptoir.order-access.v1"


@dataclass(frozen=True)
class AccessCheck:
    state: LinkState
    order: Order | None  # set when the token names a real order, even expired or revoked


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def max_age() -> int:
    return int(current_app.config["ORDER_LINK_MAX_AGE"])


def access_token(order: Order) -> str:
    return _serializer().dumps({"o": str(order.id), "v": order.access_version})


def access_url(order: Order) -> str:
    """The order's link for e-mails, on the partner's own domain where it has one."""
    return f"{shop_url(order.partner)}/orders/access/{access_token(order)}"


def check(token: str) -> AccessCheck:
    """Tell what a link opens now (VALID), or why not."""
    serializer, state = _serializer(), LinkState.VALID
    try:
        payload = serializer.loads(token, max_age=max_age())
    except SignatureExpired as exc:
        state = LinkState.EXPIRED
        try:
            payload = serializer.load_payload(exc.payload) if exc.payload is not None else None
        except BadSignature:
            payload = None
    except BadSignature:
        return AccessCheck(LinkState.UNKNOWN, None)
    order = _order(payload)
    if order is None:
        return AccessCheck(LinkState.UNKNOWN, None)
    if payload.get("v") != order.access_version:
        return AccessCheck(LinkState.REVOKED, order)
    return AccessCheck(state, order)


def revoke_links(order_id: uuid.UUID) -> None:
    """Make every link given out for the order stop working (the caller commits)."""
    db.session.execute(
        update(Order).where(Order.id == order_id)
        .values(access_version=Order.access_version + 1)
        .execution_options(synchronize_session="fetch")
    )


def _order(payload: object) -> Order | None:
    if not isinstance(payload, dict):
        return None
    try:
        order_id = uuid.UUID(str(payload.get("o")))
    except ValueError:
        return None
    return db.session.get(Order, order_id)
