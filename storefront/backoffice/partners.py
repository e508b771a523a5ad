"""Back office: partners listed, created, edited section by section, opened, suspended, reopened.

Each section of a partner's page is its own form, posted to its own address; the partners
service checks the values (one message per field) and writes the audit, and the view commits.
A refused form is shown again with what was typed and the messages, and nothing is stored.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from commerce.links import shop_url
from commerce.models import (
    MerchantOfRecord,
    Partner,
    PartnerKind,
    PartnerProduct,
    PartnerStatus,
    Product,
)
from extensions import db
from partners import services
from partners.brand import FONTS, Logo
from partners.lookup import partner_with_catalogue
from partners.members import members_of
from partners.themes import available_themes
from partners.validation import (
    LEGAL_FIELDS,
    LEGAL_FORMS,
    PartnerError,
    parse_moment,
    parse_price,
)
from storefront.backoffice.auth import operator_required
from storefront.backoffice.blueprint import bp
from storefront.backoffice.views import operator_actor
from storefront.forms import BrandForm, EmptyForm
from webhooks import services as webhook_services
from webhooks.models import EVENT_TYPES

KIND_LABELS = {
    PartnerKind.RETAIL: _l("Tier-one retail site"),
    PartnerKind.OEM: _l("PC maker's store (OEM)"),
    PartnerKind.TELECOM: _l("Telecom operator"), PartnerKind.CHANNEL: _l("Channel partner"),
    PartnerKind.HISTORIC: _l("Historic partner"),
    PartnerKind.DIRECT: _l("Direct (the platform's shop)"),
}
LEGAL_LABELS = {
    "legal_name": _l("Company name"), "legal_form": _l("Legal form"), "siren": _l("SIREN"),
    "rcs_city": _l("RCS registry (city)"), "vat_number": _l("VAT number"),
    "registered_office": _l("Registered office"),
    "publication_director": _l("Publication director"),
    "host_details": _l("Host (name, address, phone)"), "mediator_name": _l("Consumer mediator"),
    "mediator_url": _l("Consumer mediator's address (https)"),
    "support_email": _l("Support e-mail (the legal pages' contact)"),
}
BRAND_FIELDS = ("name", "tagline", "primary_color", "secondary_color", "accent_color", "font",
                "logo_url", "legal_notice", "support_email", "support_phone")


def _found(slug: str) -> Partner:
    partner = partner_with_catalogue(slug)
    if partner is None:
        abort(404)
    return partner


@bp.route("/partners")
@operator_required
def partners() -> str:
    return render_template(
        "backoffice/partners.html",
        partners=db.session.scalars(
            select(Partner).order_by(Partner.name)
            .options(selectinload(Partner.domains), selectinload(Partner.offers))).all(),
        kind_labels=KIND_LABELS, logout_form=EmptyForm(),
    )


@bp.route("/partners/new", methods=["GET", "POST"])
@operator_required
def new_partner() -> Response | str | tuple[str, int]:
    form = EmptyForm()
    values: dict[str, Any] = {"kind": "retail", "wholesaler_code": services.wholesaler_codes()[0],
                              "merchant_of_record": "platform"}
    errors: dict[str, str] = {}
    if request.method == "POST":
        if not form.validate():
            abort(400)
        values = {name: request.form.get(name, "") for name in (
            "slug", "name", "kind", "wholesaler_code", "merchant_of_record", "support_email")}
        values["allow_failover"] = "allow_failover" in request.form
        domains = request.form.get("domains", "").split()
        try:
            partner = services.create_partner(values, actor=operator_actor(), domains=domains)
        except PartnerError as exc:
            db.session.rollback()
            errors = exc.errors
        else:
            db.session.commit()
            flash(_("%(partner)s created, in draft: complete its legal identity and catalogue,"
                    " then open its shop.", partner=partner.name), "success")
            return redirect(url_for("backoffice.partner", slug=partner.slug))
        values["domains"] = request.form.get("domains", "")
    page = render_template("backoffice/partner_new.html", form=form, values=values,
                           errors=errors, kinds=KIND_LABELS,
                           wholesalers=[(c, c.capitalize())
                                        for c in services.wholesaler_codes()],
                           merchants=[m.value for m in MerchantOfRecord],
                           logout_form=EmptyForm())
    return (page, 400) if errors else page


def _page(partner: Partner, *, brand_form: BrandForm | None = None, section: str | None = None,
          values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
          status: int = 200) -> tuple[str, int]:
    if brand_form is None:
        brand_form = BrandForm(obj=partner, formdata=None)
    brand_form.font.choices = [(f, f) for f in FONTS]
    sold = sorted(partner.offers, key=lambda o: o.position)
    taken = {o.product_id for o in sold}
    others = db.session.scalars(select(Product).where(Product.is_active.is_(True))
                                .order_by(Product.name)).all()
    return render_template(
        "backoffice/partner.html", partner=partner, form=brand_form, csrf_form=EmptyForm(),
        section=section, values=values or {}, errors=errors or {}, kinds=KIND_LABELS,
        wholesalers=[(c, c.capitalize()) for c in services.wholesaler_codes()],
        merchants=[m.value for m in MerchantOfRecord],
        legal_fields=LEGAL_FIELDS, legal_labels=LEGAL_LABELS, legal_forms=LEGAL_FORMS,
        readiness=services.readiness(partner), history=services.history(partner, 50),
        shop_origin=_shop_origin(partner),
        endpoints=webhook_services.endpoints_of(partner),
        deliveries=webhook_services.deliveries_of(partner, 30),
        webhook_events=EVENT_TYPES,
        console_members=members_of(partner),
        scheduled=services.pending_prices(partner),
        legal_form_options=[(form, form) for form in LEGAL_FORMS],
        theme_options=[("", _("The base layout")), *available_themes().items()],
        offer_options=[(o.product.code, _("%(product)s (%(code)s), sold", product=o.product.name,
                                          code=o.product.code))
                       for o in sold]
        + [(p.code, f"{p.name} ({p.code})") for p in others if p.id not in taken],
        logout_form=EmptyForm(),
    ), status


def _shop_origin(partner: Partner) -> str:
    """Where embed.js and the frames are served from: the partner's own domain when it has one,
    else the platform's address."""
    base = shop_url(partner)
    return base.removesuffix(f"/p/{partner.slug}")


@bp.route("/partners/<slug>", methods=["GET", "POST"])
@operator_required
def partner(slug: str) -> Response | str | tuple[str, int]:
    """The partner's page; a POST here saves the brand."""
    found = _found(slug)
    if request.method == "GET":
        return _page(found)
    form = BrandForm()
    form.font.choices = [(f, f) for f in FONTS]
    if not form.validate():
        return _page(found, brand_form=form, status=400)
    upload = request.files.get("logo")
    logo = Logo(upload.read(), upload.mimetype) if upload and upload.filename else None
    values = {name: form[name].data or "" for name in BRAND_FIELDS}
    for name in sorted(services.translated_fields()):
        if name in request.form:
            values[name] = request.form[name]
    try:
        services.update_partner(found, values, actor=operator_actor(), logo=logo)
    except PartnerError as exc:
        db.session.rollback()
        for field, message in exc.errors.items():
            if field in form:
                form[field].errors = [*form[field].errors, message]
        return _page(_found(slug), brand_form=form, section="brand", errors=exc.errors,
                     values=dict(request.form), status=400)
    db.session.commit()
    flash(_("%(partner)s: brand saved.", partner=found.name), "success")
    return redirect(url_for("backoffice.partner", slug=found.slug))


def _section(slug: str, section: str, values: dict[str, Any], change: Any,
             done: str) -> Response | tuple[str, int]:
    """Run one section's change; on refusal show the page again with the section's messages."""
    if not EmptyForm().validate():
        abort(400)
    found = _found(slug)
    try:
        change(found)
    except PartnerError as exc:
        db.session.rollback()
        return _page(_found(slug), section=section, values=values, errors=exc.errors, status=400)
    db.session.commit()
    # TRANSLATORS: a partner's name, then what was done (e.g. "domains saved.")
    flash(_("%(partner)s: %(done)s", partner=found.name, done=done), "success")
    return redirect(url_for("backoffice.partner", slug=slug, _anchor=section))


@bp.post("/partners/<slug>/shop")
@operator_required
def partner_shop(slug: str) -> Response | tuple[str, int]:
    values: dict[str, Any] = {name: request.form.get(name, "")
                              for name in ("kind", "wholesaler_code", "merchant_of_record",
                                           "theme")}
    values["allow_failover"] = "allow_failover" in request.form
    values["backup_by_default"] = "backup_by_default" in request.form
    return _section(slug, "shop", values,
                    lambda p: services.update_partner(p, values, actor=operator_actor()),
                    _("shop settings saved."))


@bp.post("/partners/<slug>/legal")
@operator_required
def partner_legal(slug: str) -> Response | tuple[str, int]:
    values = {name: request.form.get(name, "") for name in LEGAL_FIELDS}
    return _section(slug, "legal", values,
                    lambda p: services.update_partner(p, values, actor=operator_actor()),
                    _("legal identity saved."))


@bp.post("/partners/<slug>/domains")
@operator_required
def partner_domains(slug: str) -> Response | tuple[str, int]:
    text = request.form.get("domains", "")
    primary = request.form.get("primary", "").strip() or None
    return _section(slug, "domains", {"domains": text, "primary": primary or ""},
                    lambda p: services.set_domains(p, text.split(), actor=operator_actor(),
                                                   primary=primary),
                    _("domains saved."))


@bp.post("/partners/<slug>/embed")
@operator_required
def partner_embed(slug: str) -> Response | tuple[str, int]:
    text = request.form.get("embed_origins", "")
    return _section(slug, "embed", {"embed_origins": text},
                    lambda p: services.set_embed_origins(p, text.split(),
                                                         actor=operator_actor()),
                    _("embed origins saved."))


@bp.post("/partners/<slug>/offers")
@operator_required
def partner_offer(slug: str) -> Response | tuple[str, int]:
    """Sell a product at a price now, schedule a price, or take a product off sale."""
    values = {name: request.form.get(name, "")
              for name in ("product", "price", "starts_at", "availability", "floor", "ceiling")}

    def change(found: Partner) -> None:
        availability = {"on": True, "off": False}.get(values["availability"])
        price = parse_price(values["price"]) if values["price"].strip() else None
        if not values["product"].strip():
            raise PartnerError({"product": _("choose a product")})
        if values["floor"].strip() or values["ceiling"].strip():
            low = parse_price(values["floor"], "floor") if values["floor"].strip() else None
            high = parse_price(values["ceiling"], "ceiling") if values["ceiling"].strip() \
                else None
            if _offer_of(found, values["product"]) is None and price is not None:
                services.set_offer(found, values["product"], actor=operator_actor(),
                                   price_cents=price, available=availability)
                price = None
            services.set_price_bounds(found, values["product"], low, high,
                                      actor=operator_actor())
            if price is None and availability is None:
                return
        if values["starts_at"].strip():
            if price is None:
                raise PartnerError({"price": _("a scheduled change needs its price")})
            services.schedule_price(found, values["product"], price,
                                    parse_moment(values["starts_at"]), actor=operator_actor())
            return
        if price is None and availability is None:
            raise PartnerError({"price": _("give a price, or put the product on or off sale")})
        services.set_offer(found, values["product"], actor=operator_actor(), price_cents=price,
                           available=availability)

    return _section(slug, "offers", values, change, _("catalogue saved."))


def _offer_of(partner: Partner, code: str) -> PartnerProduct | None:
    return next((o for o in partner.offers if o.product.code == code.strip().upper()), None)


@bp.post("/partners/<slug>/status")
@operator_required
def partner_status(slug: str) -> Response | tuple[str, int]:
    action = request.form.get("action", "")
    reason = request.form.get("reason", "")
    targets = {"open": PartnerStatus.OPEN, "reopen": PartnerStatus.OPEN,
               "suspend": PartnerStatus.SUSPENDED}
    if action not in targets:
        abort(400)
    return _section(slug, "status", {"reason": reason},
                    lambda p: services.change_status(p, targets[action], actor=operator_actor(),
                                                     reason=reason),
                    {"open": _("shop opened."), "reopen": _("shop reopened."),
                     "suspend": _("shop suspended.")}[action])


@bp.post("/partners/<slug>/webhooks")
@operator_required
def partner_webhook_add(slug: str) -> Response | tuple[str, int]:
    """Add an endpoint; its signing secret is shown once, in the answer's message."""
    from webhooks import services as webhooks

    if not EmptyForm().validate():
        abort(400)
    found = _found(slug)
    url = request.form.get("url", "")
    events = request.form.getlist("events")
    try:
        endpoint, secret = webhooks.create_endpoint(found, url, actor=operator_actor(),
                                                    events=events,
                                                    description=request.form.get("description",
                                                                                 ""))
    except webhooks.WebhookError as exc:
        db.session.rollback()
        return _page(_found(slug), section="webhooks", values={"url": url},
                     errors=exc.errors, status=400)
    db.session.commit()
    flash(_("Endpoint %(url)s added. Its signing secret, shown only now: %(secret)s",
            url=endpoint.url, secret=secret), "success")
    return redirect(url_for("backoffice.partner", slug=slug, _anchor="webhooks"))


@bp.post("/partners/<slug>/webhooks/<uuid:endpoint_id>")
@operator_required
def partner_webhook_change(slug: str, endpoint_id: Any) -> Response:
    """Rotate an endpoint's secret, disable or enable it."""
    from webhooks import services as webhooks

    if not EmptyForm().validate():
        abort(400)
    endpoint = webhooks.endpoint_of(_found(slug), endpoint_id)
    if endpoint is None:
        abort(404)
    try:
        message = webhooks.change_endpoint(endpoint, request.form.get("action", ""))
    except webhooks.WebhookError:
        abort(400)
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("backoffice.partner", slug=slug, _anchor="webhooks"))


@bp.post("/partners/<slug>/webhooks/deliveries/<uuid:delivery_id>/replay")
@operator_required
def partner_webhook_replay(slug: str, delivery_id: Any) -> Response:
    from webhooks import services as webhooks

    if not EmptyForm().validate():
        abort(400)
    delivery = webhooks.delivery_of(_found(slug), delivery_id)
    if delivery is None:
        abort(404)
    webhooks.replay(delivery)
    db.session.commit()
    flash(_("Delivery %(event)s to %(url)s sent again.", event=delivery.event_type,
            url=delivery.endpoint.url), "success")
    return redirect(url_for("backoffice.partner", slug=slug, _anchor="webhooks"))


@bp.post("/partners/<slug>/members")
@operator_required
def partner_member_invite(slug: str) -> Response | tuple[str, int]:
    """Invite a person of the partner's staff to its console."""
    from partners import members

    email = request.form.get("email", "")
    role = request.form.get("role", "admin")
    return _section(slug, "members", {"email": email},
                    lambda p: members.invite(p, email, role, actor=operator_actor()),
                    _("invitation sent to %(email)s: it works for 72 hours.",
                      email=email.strip()))


@bp.post("/partners/<slug>/members/<uuid:member_id>/revoke")
@operator_required
def partner_member_revoke(slug: str, member_id: Any) -> Response:
    from partners import members
    from partners.models import PartnerMember

    if not EmptyForm().validate():
        abort(400)
    found = _found(slug)
    member = db.session.get(PartnerMember, member_id)
    if member is None or member.partner_id != found.id or member.revoked_at is not None:
        abort(404)
    members.revoke(member, actor=operator_actor())
    db.session.commit()
    flash(_("%(email)s no longer has access to the console.", email=member.user.email),
          "success")
    return redirect(url_for("backoffice.partner", slug=slug, _anchor="members"))
