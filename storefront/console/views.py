"""The console's pages. Every query goes through the member's partner (auth.console_partner);
an id of another partner's key, endpoint, delivery or member is a 404."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from commerce.links import shop_url
from commerce.models import Order, OrderLine, PaymentStatus
from extensions import db, utcnow
from partner_api.keys import issue_api_key, list_api_keys, revoke_api_key
from partners import members
from partners import services as partner_services
from partners.brand import FONTS, Logo
from partners.models import PartnerMember
from partners.validation import PartnerError, parse_price
from storefront.console.auth import (
    console_actor,
    console_member,
    console_partner,
    console_required,
)
from storefront.console.blueprint import bp
from storefront.forms import BrandForm, EmptyForm
from webhooks import services as webhooks
from webhooks.models import EVENT_TYPES

BRAND_FIELDS = ("name", "tagline", "primary_color", "secondary_color", "accent_color", "font",
                "logo_url", "support_email", "support_phone")
PAID = (PaymentStatus.PAID, PaymentStatus.REFUND_PENDING, PaymentStatus.PARTIALLY_REFUNDED)


def _page(template: str, **context: Any) -> str:
    return render_template(template, partner=console_partner(), member=console_member(),
                           csrf_form=EmptyForm(), logout_form=EmptyForm(), **context)


def _checked() -> None:
    if not EmptyForm().validate():
        abort(400)


@bp.get("/")
@console_required()
def dashboard() -> str:
    partner = console_partner()
    since = utcnow() - timedelta(days=30)
    paid = (Order.partner_id == partner.id, Order.payment_status.in_(PAID))
    totals = db.session.execute(select(
        func.count(Order.id), func.coalesce(func.sum(Order.total_cents), 0),
        func.count(Order.id).filter(Order.paid_at >= since),
        func.coalesce(func.sum(Order.total_cents).filter(Order.paid_at >= since), 0),
    ).where(*paid)).one()
    top = db.session.execute(
        select(OrderLine.product_name, func.sum(OrderLine.quantity),
               func.sum(OrderLine.total_cents))
        .join(Order).where(*paid, OrderLine.parent_line_id.is_(None))
        .group_by(OrderLine.product_name).order_by(func.sum(OrderLine.total_cents).desc())
        .limit(5)).all()
    orders = db.session.scalars(select(Order).where(Order.partner_id == partner.id)
                                .order_by(Order.created_at.desc()).limit(50)).all()
    return _page("console/dashboard.html", totals=totals, top=top, orders=orders)


@bp.get("/orders.csv")
@console_required()
def orders_csv() -> Response:
    """The partner's orders, one line per order line, for a spreadsheet."""
    partner = console_partner()
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["order", "created_at", "paid_at", "payment", "delivery", "source",
                     "product", "quantity", "unit_price_ttc", "vat_rate", "total_ttc"])
    rows = db.session.execute(
        select(Order, OrderLine).join(OrderLine).where(Order.partner_id == partner.id)
        .order_by(Order.created_at, OrderLine.position))
    for order, line in rows:
        writer.writerow([
            order.number, order.created_at.isoformat(),
            order.paid_at.isoformat() if order.paid_at else "", order.payment_status,
            order.fulfilment_status, order.source, line.product_code, line.quantity,
            f"{line.unit_price_cents / 100:.2f}", f"{line.vat_rate}",
            f"{line.total_cents / 100:.2f}"])
    response = Response("\ufeff" + out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = \
        f'attachment; filename="{partner.slug}-orders.csv"'
    return response


@bp.route("/brand", methods=["GET", "POST"])
@console_required(admin=True)
def brand() -> Response | str | tuple[str, int]:
    partner = console_partner()
    form = BrandForm(obj=partner) if request.method == "GET" else BrandForm()
    form.font.choices = [(f, f) for f in FONTS]
    if request.method == "GET":
        return _page("console/brand.html", form=form, errors={})
    if not form.validate():
        return _page("console/brand.html", form=form, errors={}), 400
    upload = request.files.get("logo")
    logo = Logo(upload.read(), upload.mimetype) if upload and upload.filename else None
    values: dict[str, Any] = {name: form[name].data or "" for name in BRAND_FIELDS}
    if "tagline_en" in request.form:
        values["tagline_en"] = request.form["tagline_en"]
    try:
        partner_services.update_partner(partner, values, actor=console_actor(), logo=logo)
    except PartnerError as exc:
        db.session.rollback()
        for field, message in exc.errors.items():
            if field in form:
                form[field].errors = [*form[field].errors, message]
        return _page("console/brand.html", form=form, errors=exc.errors), 400
    db.session.commit()
    flash(_("Brand saved: the shop shows it now."), "success")
    return redirect(url_for("console.brand"))


@bp.route("/prices", methods=["GET", "POST"])
@console_required(admin=True)
def prices() -> Response | str | tuple[str, int]:
    partner = console_partner()
    errors: dict[str, str] = {}
    if request.method == "POST":
        _checked()
        code = request.form.get("product", "")
        try:
            partner_services.set_price_within_bounds(
                partner, code, parse_price(request.form.get("price", "")),
                actor=console_actor())
        except PartnerError as exc:
            db.session.rollback()
            errors = {**exc.errors, "_product": code}
        else:
            db.session.commit()
            flash(_("%(code)s: new price saved.", code=code), "success")
            return redirect(url_for("console.prices"))
    offers = sorted(partner.offers, key=lambda o: o.position)
    page = _page("console/prices.html", offers=offers, errors=errors)
    return (page, 400) if errors else page


@bp.route("/api-keys", methods=["GET", "POST"])
@console_required(admin=True)
def api_keys() -> str:
    partner = console_partner()
    issued = None
    if request.method == "POST":
        _checked()
        issued = issue_api_key(partner, request.form.get("label", "")[:120])
    return _page("console/api_keys.html", keys=list_api_keys(partner), issued=issued)


@bp.post("/api-keys/<uuid:key_id>/revoke")
@console_required(admin=True)
def revoke_key(key_id: uuid.UUID) -> Response:
    _checked()
    if not revoke_api_key(console_partner(), key_id):
        abort(404)
    flash(_("The key is revoked: requests with it are refused from now on."), "success")
    return redirect(url_for("console.api_keys"))


@bp.route("/webhooks", methods=["GET", "POST"])
@console_required()
def webhook_endpoints() -> Response | str | tuple[str, int]:
    partner = console_partner()
    errors: dict[str, str] = {}
    if request.method == "POST":
        if console_member().role != "admin":
            abort(403)
        _checked()
        try:
            endpoint, secret = webhooks.create_endpoint(
                partner, request.form.get("url", ""), actor=console_actor(),
                events=request.form.getlist("events"),
                description=request.form.get("description", ""))
        except webhooks.WebhookError as exc:
            db.session.rollback()
            errors = exc.errors
        else:
            db.session.commit()
            flash(_("Endpoint %(url)s added. Its signing secret, shown only now: %(secret)s",
                    url=endpoint.url, secret=secret), "success")
            return redirect(url_for("console.webhook_endpoints"))
    page = _page("console/webhooks.html", endpoints=webhooks.endpoints_of(partner),
                 deliveries=webhooks.deliveries_of(partner, 50), events=EVENT_TYPES,
                 errors=errors, url=request.form.get("url", ""))
    return (page, 400) if errors else page


@bp.post("/webhooks/<uuid:endpoint_id>")
@console_required(admin=True)
def webhook_change(endpoint_id: uuid.UUID) -> Response:
    _checked()
    endpoint = webhooks.endpoint_of(console_partner(), endpoint_id)
    if endpoint is None:
        abort(404)
    try:
        message = webhooks.change_endpoint(endpoint, request.form.get("action", ""))
    except webhooks.WebhookError:
        abort(400)
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("console.webhook_endpoints"))


@bp.get("/webhooks/deliveries/<uuid:delivery_id>")
@console_required()
def webhook_delivery(delivery_id: uuid.UUID) -> str:
    delivery = webhooks.delivery_of(console_partner(), delivery_id)
    if delivery is None:
        abort(404)
    return _page("console/delivery.html", delivery=delivery,
                 attempts=webhooks.attempts_of(delivery))


@bp.post("/webhooks/deliveries/<uuid:delivery_id>/replay")
@console_required(admin=True)
def webhook_replay(delivery_id: uuid.UUID) -> Response:
    _checked()
    delivery = webhooks.delivery_of(console_partner(), delivery_id)
    if delivery is None:
        abort(404)
    webhooks.replay(delivery)
    db.session.commit()
    flash(_("%(event)s sent again to %(url)s.", event=delivery.event_type,
            url=delivery.endpoint.url), "success")
    return redirect(url_for("console.webhook_delivery", delivery_id=delivery.id))


@bp.get("/embed")
@console_required()
def embed() -> str:
    partner = console_partner()
    base = shop_url(partner).removesuffix(f"/p/{partner.slug}")
    first = next((o for o in sorted(partner.offers, key=lambda o: o.position) if o.available),
                 None)
    return _page("console/embed.html", shop_origin=base, first=first)


@bp.route("/team", methods=["GET", "POST"])
@console_required(admin=True)
def team() -> Response | str | tuple[str, int]:
    partner = console_partner()
    errors: dict[str, str] = {}
    if request.method == "POST":
        _checked()
        try:
            members.invite(partner, request.form.get("email", ""),
                           request.form.get("role", "viewer"), actor=console_actor())
        except PartnerError as exc:
            db.session.rollback()
            errors = exc.errors
        else:
            db.session.commit()
            flash(_("Invitation sent: it works for 72 hours."), "success")
            return redirect(url_for("console.team"))
    page = _page("console/team.html", members=members.members_of(partner), errors=errors,
                 email=request.form.get("email", ""))
    return (page, 400) if errors else page


@bp.post("/team/<uuid:member_id>/revoke")
@console_required(admin=True)
def revoke_member(member_id: uuid.UUID) -> Response:
    _checked()
    member = db.session.get(PartnerMember, member_id)
    if member is None or member.partner_id != console_partner().id or member.revoked_at:
        abort(404)
    if member.id == console_member().id:
        flash(_("You cannot revoke your own access."), "error")
        return redirect(url_for("console.team"))
    members.revoke(member, actor=console_actor())
    db.session.commit()
    flash(_("%(email)s no longer has access.", email=member.user.email), "success")
    return redirect(url_for("console.team"))
