"""Health check, the neutral platform index, Stripe's webhook and the development mail page."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, g, jsonify, make_response, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select, text

from commerce.models import CapturedMail, Partner, PartnerStatus
from credit.payments import apply_card_event
from extensions import csrf, db, utcnow
from payments import refunds
from payments.base import GatewayError, PaymentEvent, PaymentOutcome, WebhookError
from payments.services import confirm_payment, gateway_for

bp = Blueprint("platform", __name__)

WEBHOOK_MAX_BYTES = 256 * 1024


@bp.route("/healthz")
def healthz() -> ResponseReturnValue:
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means unreachable
        current_app.logger.error("health check: database unreachable: %s", type(exc).__name__)
        database = "unreachable"
    status = 200 if database == "ok" else 503
    return jsonify({"status": "ok" if status == 200 else "degraded", "database": database}), status


def platform_index() -> str:
    partners = db.session.scalars(
        select(Partner).where(Partner.status == PartnerStatus.OPEN).order_by(Partner.name)
    ).all()
    return render_template("platform/index.html", partners=partners)


@bp.post("/webhooks/stripe")
@csrf.exempt
def stripe_webhook() -> ResponseReturnValue:
    if g.get("partner") is not None or not current_app.config.get("STRIPE_WEBHOOK_SECRET"):
        abort(404)
    if (request.content_length or 0) > WEBHOOK_MAX_BYTES:
        return jsonify(
            {"error": {"code": "payload_too_large", "message": "webhook body too large"}}
        ), 413
    payload = request.get_data(cache=False)
    if len(payload) > WEBHOOK_MAX_BYTES:
        return jsonify(
            {"error": {"code": "payload_too_large", "message": "webhook body too large"}}
        ), 413
    try:
        notice = gateway_for("stripe").parse_webhook(payload, request.headers)
    except WebhookError as exc:
        current_app.logger.warning("stripe webhook refused: %s", exc)
        return jsonify({"error": {"code": "invalid_webhook", "message": str(exc)}}), 400
    if isinstance(notice, PaymentEvent) and notice.outcome == PaymentOutcome.IGNORED \
            and notice.event_type.startswith(BILLING_EVENT_PREFIXES):
        return _stripe_billing_webhook(payload)
    if isinstance(notice, PaymentEvent) and notice.purpose == "credit":
        result = apply_card_event(notice, "stripe", utcnow())
    elif isinstance(notice, PaymentEvent):
        result = str(confirm_payment(notice, "stripe"))
    else:
        try:
            result = refunds.handle_notice(notice, "stripe")
        except GatewayError as exc:
            # The refunds could not be looked up: answer 503 so that Stripe sends it again.
            db.session.rollback()
            current_app.logger.warning("stripe %s not applied yet: %s", notice.event_type, exc)
            return jsonify({"error": {"code": "retry", "message": str(exc)}}), 503
    return jsonify({"received": True, "result": result}), 200


BILLING_EVENT_PREFIXES = ("invoice.", "customer.subscription.")


def _stripe_billing_webhook(payload: bytes) -> ResponseReturnValue:
    """A Stripe Billing event about a subscription's term (subscriptions/services.py)."""
    from subscriptions.billing import BillingError, billing_for
    from subscriptions.services import apply_billing_notice

    try:
        notice = billing_for("stripe").parse_webhook(payload, request.headers)
    except BillingError as exc:
        current_app.logger.warning("stripe billing webhook refused: %s", exc)
        return jsonify({"error": {"code": "invalid_webhook", "message": str(exc)}}), 400
    result = apply_billing_notice(notice)
    return jsonify({"received": True, "result": result}), 200


@bp.post("/webhooks/wholesalers/<code>")
@csrf.exempt
def wholesaler_callback(code: str) -> ResponseReturnValue:
    from fulfilment.services import receive_callback
    from fulfilment.wholesalers import WHOLESALERS, BadCallbackSignature, WholesalerError

    if g.get("partner") is not None or code not in WHOLESALERS:
        abort(404)
    payload = request.get_data(cache=False)
    if len(payload) > WEBHOOK_MAX_BYTES:
        return jsonify(
            {"error": {"code": "payload_too_large", "message": "callback body too large"}}
        ), 413
    try:
        receipt = receive_callback(code, payload, request.headers)
    except BadCallbackSignature as exc:
        current_app.logger.warning("%s callback refused: %s", code, exc)
        return jsonify({"error": {"code": "invalid_signature", "message": str(exc)}}), 400
    except WholesalerError as exc:
        current_app.logger.warning("%s callback malformed: %s", code, exc)
        return jsonify({"error": {"code": "invalid_callback", "message": str(exc)}}), 400
    # Recorded in the inbox: applied right after, whether or not its order line is busy now.
    return jsonify({"received": True, "recorded": str(receipt)}), 202


@bp.route("/dev/mail")
def dev_mail() -> ResponseReturnValue:
    if current_app.config["ENV"] == "production" or g.get("partner") is not None:
        abort(404)
    mails = db.session.scalars(
        select(CapturedMail).order_by(CapturedMail.created_at.desc()).limit(50)
    ).all()
    response = make_response(render_template("platform/dev_mail.html", mails=mails))
    # The messages' HTML shows in sandboxed frames; their images (the partners' logos) come
    # from the shops' own addresses, which are plain http in development.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src * data:; style-src 'self' 'unsafe-inline'; "
        "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    return response
