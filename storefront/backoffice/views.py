"""Operator back office: orders and their history, partners and brands, products."""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from commerce.models import FulfilmentStatus, Order, Partner, PaymentStatus, Product
from commerce.paging import paginate
from extensions import db, utcnow
from storefront import paging
from storefront.backoffice.auth import current_operator, operator_required
from storefront.backoffice.blueprint import bp
from storefront.forms import EmptyForm

PAGE_SIZE = 50


@bp.route("/")
@operator_required
def orders() -> str:
    stmt = select(Order).options(joinedload(Order.partner)).order_by(Order.created_at.desc(),
                                                                      Order.id)
    payment = request.args.get("payment")
    fulfilment = request.args.get("fulfilment")
    partner_slug = request.args.get("partner")
    if payment in set(PaymentStatus):
        stmt = stmt.where(Order.payment_status == payment)
    if fulfilment in set(FulfilmentStatus):
        stmt = stmt.where(Order.fulfilment_status == fulfilment)
    if partner_slug:
        stmt = stmt.join(Partner).where(Partner.slug == partner_slug)
    if q := (request.args.get("q") or "").strip():
        stmt = stmt.where((Order.number == q.upper()) | (Order.email == q.lower()))
    page = paging.page_or_404(lambda n: paginate(stmt, n, PAGE_SIZE))
    return render_template(
        "backoffice/orders.html",
        page=page,
        orders=page.items,
        partners=db.session.scalars(select(Partner).order_by(Partner.name)).all(),
        payment_statuses=list(PaymentStatus),
        fulfilment_statuses=list(FulfilmentStatus),
        filters={"payment": payment, "fulfilment": fulfilment, "partner": partner_slug, "q": q},
        logout_form=EmptyForm(),
    )


@bp.route("/orders/<uuid:order_id>")
@operator_required
def order(order_id: uuid.UUID) -> str:
    from fulfilment.models import FulfilmentLine

    found = db.session.get(Order, order_id) or abort(404)
    lines = db.session.scalars(
        select(FulfilmentLine).where(FulfilmentLine.order_id == found.id)
    ).all()
    from invoicing.services import documents_of
    from payments.refunds import open_lines, refunds_of

    issued = documents_of(found.id)
    return render_template(
        "backoffice/order.html",
        order=found,
        documents=[d for d in (issued.invoice, *issued.credit_notes) if d is not None],
        refunds=refunds_of(found),
        refundable=open_lines(found),
        fulfilment_lines=lines,
        action_form=EmptyForm(),
        logout_form=EmptyForm(),
    )


@bp.route("/vat/oss")
@operator_required
def oss_return() -> Response | str | tuple[str, int]:
    """A quarter's OSS return per merchant, state and rate; ?format=csv downloads it."""
    from invoicing import oss

    today = utcnow().astimezone(oss.PARIS)
    default = f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    quarter = (request.args.get("quarter") or default).strip().upper()
    merchant = request.args.get("merchant") or None
    merchants = oss.merchants()
    try:
        if merchant is not None and merchant not in merchants:
            raise oss.QuarterError(_("No merchant %(name)s.", name=merchant))
        rows = oss.oss_return(quarter, merchant)
    except oss.QuarterError as exc:
        return render_template("backoffice/oss.html", error=str(exc), quarter=quarter,
                               merchant=merchant, merchants=merchants, grouped={},
                               logout_form=EmptyForm()), 400
    if request.args.get("format") == "csv":
        name = f"oss-{quarter}{'-' + merchant if merchant else ''}.csv"
        return Response(oss.as_csv(rows), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return render_template("backoffice/oss.html", error=None, quarter=quarter,
                           merchant=merchant, merchants=merchants,
                           grouped=oss.by_merchant(rows), logout_form=EmptyForm())


@bp.route("/attention")
@operator_required
def attention() -> str:
    from fulfilment.models import FulfilmentLine, LineStatus

    lines = db.session.scalars(
        select(FulfilmentLine)
        .where(FulfilmentLine.status == LineStatus.NEEDS_ATTENTION)
        .order_by(FulfilmentLine.created_at)
    ).all()
    conflicts = db.session.scalars(
        select(Order)
        .where(Order.location_conflict.is_(True),
               Order.paid_at >= utcnow() - timedelta(days=90))
        .order_by(Order.paid_at.desc())
        .limit(200)
    ).all()
    return render_template(
        "backoffice/attention.html", lines=lines, conflicts=conflicts, action_form=EmptyForm(),
        logout_form=EmptyForm()
    )


@bp.post("/lines/<uuid:order_line_id>/<action>")
@operator_required
def line_action(order_line_id: uuid.UUID, action: str) -> Response:
    from fulfilment import operations
    from fulfilment.wholesalers import WholesalerError

    if not EmptyForm().validate():
        abort(400)
    actions = {"retry": operations.retry_now, "reroute": operations.route_elsewhere}
    if action not in actions:
        abort(404)
    try:
        status = actions[action](order_line_id, actor=operator_actor())
        flash({"retry": _("Line retry: now %(status)s.", status=status),
               "reroute": _("Line reroute: now %(status)s.", status=status)}[action], "success")
    except (operations.OperationError, WholesalerError) as exc:
        flash({"retry": _("Could not retry the line: %(error)s", error=exc),
               "reroute": _("Could not reroute the line: %(error)s", error=exc)}[action], "error")
    from commerce.models import OrderLine

    line = db.session.get(OrderLine, order_line_id) or abort(404)
    return redirect(url_for("backoffice.order", order_id=line.order_id))


@bp.post("/orders/<uuid:order_id>/refund")
@operator_required
def refund(order_id: uuid.UUID) -> Response:
    """Refund the whole order, or the lines ticked; one refund at a time per order."""
    from payments import refunds

    if not EmptyForm().validate():
        abort(400)
    db.session.get(Order, order_id) or abort(404)
    reason = (request.form.get("reason") or "").strip()[:200] or "refunded by support"
    try:
        line_ids = [uuid.UUID(v) for v in request.form.getlist("line")] or None
    except ValueError:
        abort(400)
    try:
        done = refunds.refund_order(order_id, line_ids, operator_actor(), reason)
    except refunds.RefundError as exc:
        flash(_("Could not refund: %(error)s.", error=exc), "error")
    except refunds.RefundDelayed as exc:
        flash(_("The payment provider did not answer (%(error)s). The refund is kept and asked "
                "again automatically; nothing will be refunded twice.", error=exc), "info")
    else:
        flash(_("Refunded %(amount)s %(currency)s (%(reference)s): those lines are cancelled and "
                "their licences revoked.", amount=f"{done.amount_cents / 100:.2f}",
                currency=done.currency, reference=done.gateway_reference), "success")
    return redirect(url_for("backoffice.order", order_id=order_id))


@bp.post("/orders/<uuid:order_id>/revoke-links")
@operator_required
def revoke_links(order_id: uuid.UUID) -> Response:
    """Make every order link sent so far stop working (a forwarded e-mail, a leaked link)."""
    from commerce.access import revoke_links as revoke

    if not EmptyForm().validate():
        abort(400)
    db.session.get(Order, order_id) or abort(404)
    revoke(order_id)
    db.session.commit()
    flash(_("Every link to this order sent so far no longer works."), "success")
    return redirect(url_for("backoffice.order", order_id=order_id))


@bp.post("/orders/<uuid:order_id>/send-link")
@operator_required
def send_link(order_id: uuid.UUID) -> Response:
    """E-mail the buyer a fresh order link (after withdrawing the old ones, or on request)."""

    from commerce import access
    from commerce.mailing import send_branded

    if not EmptyForm().validate():
        abort(400)
    found = db.session.get(Order, order_id) or abort(404)
    try:
        send_branded("storefront/emails/order_link", found.email,
                     lambda: _("Your link to order %(number)s", number=found.number),
                     found.partner, found.locale,
                     order=found, name=found.name, url=access.access_url(found),
                     expires_at=utcnow() + timedelta(seconds=access.max_age()))
    except Exception as exc:  # noqa: BLE001 - tell the operator; nothing else changed
        flash(_("The e-mail could not be sent: %(kind)s: %(error)s", kind=type(exc).__name__,
                error=exc), "error")
    else:
        flash(_("A new order link was sent to %(email)s.", email=found.email), "success")
    return redirect(url_for("backoffice.order", order_id=order_id))


@bp.route("/products")
@operator_required
def products() -> str:
    return render_template(
        "backoffice/products.html",
        products=db.session.scalars(
            select(Product).order_by(Product.kind.desc(), Product.family, Product.name)
        ).all(),
        logout_form=EmptyForm(),
    )


def operator_actor() -> str:
    """How the signed-in operator is named in audit rows."""
    return f"operator:{current_operator().email}"


@bp.route("/events")
@operator_required
def events() -> str:
    """Event deliveries still pending (failing consumers first), circuits and waiting callbacks."""
    from events.models import EventDelivery, OutboxEvent
    from fulfilment.breaker import breaker
    from fulfilment.models import CallbackStatus, WholesalerCallback
    from fulfilment.wholesalers import WHOLESALERS

    rows = db.session.execute(
        select(EventDelivery, OutboxEvent, Order.number)
        .join(OutboxEvent, OutboxEvent.id == EventDelivery.event_id)
        .outerjoin(Order, Order.id == OutboxEvent.order_id)
        .where(EventDelivery.done_at.is_(None))
        .order_by(EventDelivery.attempts.desc(), EventDelivery.next_attempt_at)
        .limit(PAGE_SIZE)
    ).all()
    callbacks = db.session.scalars(
        select(WholesalerCallback).where(WholesalerCallback.status == CallbackStatus.RECEIVED)
        .order_by(WholesalerCallback.received_at).limit(PAGE_SIZE)
    ).all()
    circuits = {code: breaker().state(code) for code in WHOLESALERS}
    return render_template("backoffice/events.html", rows=rows, callbacks=callbacks,
                           circuits=circuits, action_form=EmptyForm(), logout_form=EmptyForm())


@bp.post("/events/<uuid:event_id>/retry")
@operator_required
def retry_event(event_id: uuid.UUID) -> Response:
    """Run an event's pending deliveries now, whatever their retry time."""
    from events.relay import deliver

    if not EmptyForm().validate():
        abort(400)
    report = deliver([event_id])
    if report.failed:
        flash(_("Still failing: %(errors)s", errors="; ".join(report.errors.values())), "error")
    else:
        flash(_("Done: %(count)s deliveries.", count=report.done), "success")
    return redirect(url_for("backoffice.events"))
