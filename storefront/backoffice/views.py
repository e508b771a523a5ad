"""Operator back office: orders and their history, partners and brands, products."""

from __future__ import annotations

import uuid
from functools import wraps
from typing import Any

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from commerce.models import FulfilmentStatus, Order, Partner, PaymentStatus, Product, Role
from extensions import db, limiter
from storefront.accounts import services as accounts
from storefront.brand import FONTS, BrandError, Logo, apply_brand, validate_brand
from storefront.forms import BrandForm, EmptyForm, SignInForm

bp = Blueprint("backoffice", __name__, url_prefix="/admin")

PAGE_SIZE = 50


@bp.before_request
def platform_only() -> None:
    if g.get("partner") is not None:
        abort(404)


def operator_required(view: Any) -> Any:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated or not current_user.is_operator:
            return redirect(url_for("backoffice.login", next=request.path))
        return view(*args, **kwargs)

    return wrapped


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10/minute;50/hour", methods=["POST"])
def login() -> Response | str | tuple[str, int]:
    form = SignInForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data, form.password.data, role=Role.OPERATOR)
        if user is not None:
            login_user(user)
            return redirect(url_for("backoffice.orders"))
        form.password.errors = [
            "E-mail address or password is wrong, or this is not an operator account."
        ]
        return render_template("backoffice/login.html", form=form), 401
    return render_template(
        "backoffice/login.html", form=form
    ), 400 if request.method == "POST" else 200


@bp.post("/logout")
def logout() -> Response:
    if not EmptyForm().validate():
        abort(400)
    logout_user()
    return redirect(url_for("backoffice.login"))


@bp.route("/")
@operator_required
def orders() -> str:
    stmt = select(Order).order_by(Order.created_at.desc())
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
    return render_template(
        "backoffice/orders.html",
        orders=db.session.scalars(stmt.limit(PAGE_SIZE)).all(),
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
    return render_template(
        "backoffice/order.html",
        order=found,
        fulfilment_lines=lines,
        action_form=EmptyForm(),
        logout_form=EmptyForm(),
    )


@bp.route("/attention")
@operator_required
def attention() -> str:
    from fulfilment.models import FulfilmentLine, LineStatus

    lines = db.session.scalars(
        select(FulfilmentLine)
        .where(FulfilmentLine.status == LineStatus.NEEDS_ATTENTION)
        .order_by(FulfilmentLine.created_at)
    ).all()
    return render_template(
        "backoffice/attention.html", lines=lines, action_form=EmptyForm(), logout_form=EmptyForm()
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
        status = actions[action](order_line_id, actor=f"operator:{current_user.email}")
        flash(f"Line {action}: now {status}.", "success")
    except (operations.OperationError, WholesalerError) as exc:
        flash(f"Could not {action} the line: {exc}", "error")
    from commerce.models import OrderLine

    line = db.session.get(OrderLine, order_line_id) or abort(404)
    return redirect(url_for("backoffice.order", order_id=line.order_id))


@bp.post("/orders/<uuid:order_id>/refund")
@operator_required
def refund(order_id: uuid.UUID) -> Response:
    from fulfilment import operations
    from storefront.payments.base import GatewayError
    from storefront.payments.services import refund_payment

    if not EmptyForm().validate():
        abort(400)
    found = db.session.get(Order, order_id) or abort(404)
    reason = (request.form.get("reason") or "").strip()[:200] or "refunded by support"
    if found.payment_status not in (PaymentStatus.PAID, PaymentStatus.FLAGGED):
        flash("Could not refund: only a paid or flagged order can be refunded.", "error")
        return redirect(url_for("backoffice.order", order_id=order_id))
    try:
        refund_reference = refund_payment(found)
    except GatewayError as exc:
        flash(f"The payment provider refused the refund; nothing was changed: {exc}", "error")
        return redirect(url_for("backoffice.order", order_id=order_id))
    try:
        operations.refund_order(
            order_id,
            actor=f"operator:{current_user.email}",
            reason=f"{reason} ({refund_reference})",
        )
        flash(
            f"Order refunded ({refund_reference}): open lines cancelled, licences revoked.",
            "success",
        )
    except operations.OperationError as exc:
        flash(f"Could not refund: {exc}", "error")
    return redirect(url_for("backoffice.order", order_id=order_id))


@bp.route("/partners")
@operator_required
def partners() -> str:
    return render_template(
        "backoffice/partners.html",
        partners=db.session.scalars(select(Partner).order_by(Partner.name)).all(),
        logout_form=EmptyForm(),
    )


@bp.route("/partners/<slug>", methods=["GET", "POST"])
@operator_required
def partner(slug: str) -> Response | str | tuple[str, int]:
    found = db.session.scalar(select(Partner).where(Partner.slug == slug)) or abort(404)
    form = BrandForm(obj=found)
    form.font.choices = [(f, f) for f in FONTS]
    if request.method == "GET":
        return render_template(
            "backoffice/partner.html", partner=found, form=form, logout_form=EmptyForm()
        )
    if not form.validate():
        return render_template(
            "backoffice/partner.html", partner=found, form=form, logout_form=EmptyForm()
        ), 400
    upload = request.files.get("logo")
    logo = Logo(upload.read(), upload.mimetype) if upload and upload.filename else None
    values = {
        name: form[name].data or ""
        for name in (
            "name",
            "tagline",
            "primary_color",
            "secondary_color",
            "accent_color",
            "font",
            "logo_url",
            "legal_notice",
            "support_email",
            "support_phone",
        )
    }
    try:
        clean = validate_brand(values, logo, max_logo_bytes=_logo_limit())
    except BrandError as exc:
        for field, message in exc.errors.items():
            form[field].errors = [*form[field].errors, message]
        db.session.rollback()
        return render_template(
            "backoffice/partner.html", partner=found, form=form, logout_form=EmptyForm()
        ), 400
    apply_brand(found, clean)
    db.session.commit()
    flash(f"{found.name}: brand saved.", "success")
    return redirect(url_for("backoffice.partner", slug=found.slug))


def _logo_limit() -> int:
    from flask import current_app

    return int(current_app.config["LOGO_MAX_BYTES"])


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
