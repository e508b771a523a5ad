"""Shop pages: catalogue, product, cart, checkout, test card page, order pages."""

from __future__ import annotations

import hashlib
import textwrap
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select

from accounts.services import claim_order as claim
from accounts.services import owns_order
from commerce import access
from commerce.links import LinkState
from commerce.mailing import send_branded
from commerce.merchant import merchant_of
from commerce.models import FulfilmentStatus, Order, Partner, PaymentStatus
from commerce.money import format_money
from commerce.orders import ADDON_BACKUP, ADDON_INSTALL, BuyerDetails, OrderError, place_order
from commerce.tax import TaxError
from commerce.taxation import Assessment, assess
from commissions import attribute_order
from extensions import csrf, db, limiter, utcnow
from invoicing.services import document_for_order, documents_of
from legal import terms as legal_terms
from payments.base import GatewayError
from payments.held import HELD
from payments.services import confirm_payment, gateway_for, start_payment
from payments.test_gateway import TestGateway, country_card
from storefront import embed, pagecache, paging
from storefront.forms import (
    AddToCartForm,
    CartLineForm,
    CheckoutForm,
    EmptyForm,
    ReportActivatedForm,
    TestCardForm,
)
from storefront.invoices import pdf_response
from storefront.security import links as secret_links
from storefront.security import sessions
from storefront.security.doors import current_buyer
from storefront.security.origin import require_same_origin
from storefront.shop import cart as carts
from storefront.shop import pricing, referrals
from storefront.shop.catalogue import (
    FAMILIES,
    addon_offers,
    families,
    featured_offers,
    get_offer,
    offer_page,
)
from storefront.tenancy import current_partner

bp = Blueprint("shop", __name__)

GUEST_ORDERS = "guest_orders"


@bp.before_request
def require_partner() -> None:
    # Products' pictures are the platform's: the back office shows them too.
    if g.partner is None and request.endpoint not in ("shop.home", "shop.product_picture"):
        abort(404)


@bp.route("/")
def home() -> str:
    if g.partner is None:
        from storefront.platform.views import platform_index

        return platform_index()
    partner = g.partner
    return render_template(
        "storefront/home.html", offers=featured_offers(partner), families=families(partner)
    )


@bp.route("/products")
def catalogue() -> str:
    partner = current_partner()
    family = request.args.get("family") or None
    if family and family not in FAMILIES:
        family = None
    query = (request.args.get("q") or "").strip()[:80]
    page = paging.page_or_404(lambda n: offer_page(partner, family, query or None, n))
    return render_template(
        "storefront/catalogue.html",
        page=page,
        offers=page.items,
        families=families(partner),
        family=family,
        query=query,
    )


@bp.route("/products/<code>")
def product(code: str) -> str:
    partner = current_partner()
    offer = get_offer(partner, code)
    if offer is None or offer.product.kind != "software":
        abort(404)
    # A page rendered for the cache carries no CSRF token: adding checks the origin instead.
    form = AddToCartForm(backup=partner.backup_by_default,  # a partner may include it by default
                         meta={"csrf": not pagecache.anonymous_render()})
    return render_template(
        "storefront/product.html", offer=offer, form=form, addons=addon_offers(partner)
    )


@bp.post("/cart/add/<code>")
@csrf.exempt  # the product page may come from the cache, without a token: origin checked
def cart_add(code: str) -> Response | tuple[str, int]:
    require_same_origin()
    partner = current_partner()
    offer = get_offer(partner, code)
    if offer is None or offer.product.kind != "software":
        abort(404)
    form = AddToCartForm(meta={"csrf": False})
    if not form.validate():
        return render_template(
            "storefront/product.html", offer=offer, form=form, addons=addon_offers(partner)
        ), 400
    addons = [
        c for c, on in ((ADDON_BACKUP, form.backup.data), (ADDON_INSTALL, form.install.data)) if on
    ]
    try:
        carts.add(partner, code, form.quantity.data, addons)
    except carts.CartError:
        abort(400, _("This item cannot be added to the cart."))
    flash(_("%(name)s was added to your cart.", name=offer.product.name), "success")
    return redirect(url_for("shop.cart"))


@bp.route("/cart/summary")
def cart_summary() -> Response:
    """The cart's count (and this session's CSRF token, when it has one) for a page that came
    from the cache; a visitor without a session is answered by the page cache itself."""
    partner = current_partner()
    data: dict[str, Any] = {"count": carts.load(partner).count,
                            "signed_in": sessions.current() is not None}
    if "csrf_token" in session:
        data["csrf_token"] = generate_csrf()
    response = jsonify(data)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/cart/from/<token>")
def cart_from_link(token: str) -> Response:
    """Load a cart a reseller prepared for their client; the order will be theirs."""
    partner = current_partner()
    prepared = referrals.read_cart_link(partner, token)
    if prepared is None:
        abort(404)
    code, lines = prepared
    carts.clear(partner)
    for item in lines:
        try:
            carts.add(
                partner, str(item.get("code")), int(item.get("q", 1)), list(item.get("a", []))
            )
        except (carts.CartError, TypeError, ValueError):
            flash(_("Some items of the prepared cart are no longer on sale."), "info")
    referrals.mark_assisted(partner, code)
    flash(_("Your reseller prepared this cart for you."), "success")
    return redirect(url_for("shop.cart"))


@bp.route("/cart")
def cart() -> str:
    partner = current_partner()
    current = carts.load(partner)
    return render_template(
        "storefront/cart.html",
        cart=current,
        addons=addon_offers(partner),
        line_form=CartLineForm,
        remove_form=EmptyForm(),
    )


@bp.post("/cart/update/<code>")
def cart_update(code: str) -> Response | tuple[str, int]:
    partner = current_partner()
    form = CartLineForm()
    if not form.validate():
        current = carts.load(partner)
        errors = {code: form.quantity.errors}
        return render_template(
            "storefront/cart.html",
            cart=current,
            addons=addon_offers(partner),
            line_form=CartLineForm,
            remove_form=EmptyForm(),
            line_errors=errors,
        ), 400
    try:
        carts.set_quantity(partner, code, form.quantity.data)
        addons = [
            c
            for c, on in ((ADDON_BACKUP, form.backup.data), (ADDON_INSTALL, form.install.data))
            if on
        ]
        carts.set_addons(partner, code, addons)
    except carts.CartError:
        abort(404)
    flash(_("Your cart was updated."), "success")
    return redirect(url_for("shop.cart"))


@bp.post("/cart/remove/<code>")
def cart_remove(code: str) -> Response:
    partner = current_partner()
    if not EmptyForm().validate():
        abort(400)
    carts.remove(partner, code)
    flash(_("The item was removed from your cart."), "success")
    return redirect(url_for("shop.cart"))


def _checkout_form() -> CheckoutForm:
    form = CheckoutForm()
    form.billing_country.choices = pricing.country_choices()
    buyer = current_buyer()
    if request.method == "GET":
        form.billing_country.data = pricing.visitor_country()
        form.terms_version.data = legal_terms.in_force().version
        if buyer is not None:
            form.email.data = form.email.data or buyer.email
            form.name.data = form.name.data or buyer.name
    return form


def _checkout_page(current: carts.Cart, form: CheckoutForm, quote: carts.Quote,
                   status: int = 200, changed: str | None = None) -> tuple[str, int]:
    form.quoted_total.data = str(quote.total_cents)
    return render_template("storefront/checkout.html", cart=current, form=form, quote=quote,
                           changed=changed), status


def _assess(partner: Partner, form: CheckoutForm) -> Assessment | None:
    """The buyer's tax, VIES asked; None with the error on its field when it cannot be."""
    try:
        return assess(partner, form.billing_country.data, form.vat_number.data or "")
    except TaxError as exc:
        field = form.vat_number if exc.field == "vat_number" else form.billing_country
        field.errors = [*field.errors, str(exc)]
        return None


def _total_change(quote: carts.Quote, assessment: Assessment) -> str:
    """Why the total is not the one the page showed, in the buyer's words."""
    total = format_money(quote.total_cents, "EUR", str(get_locale() or "fr"))
    if assessment.decision.reverse_charge:
        return _("Your VAT number is valid: the sale is reverse-charged, VAT 0 %%. "
                 "The total is now %(total)s. Check it and confirm your order.", total=total)
    if assessment.held:
        return _("VIES, the EU's register, cannot confirm your VAT number right now. If you "
                 "confirm, your order is saved without payment: we check your number again "
                 "and e-mail you the final total (VAT 0 %% if it is valid) to pay.")
    if assessment.vies_unavailable:
        return _("VIES, the EU's register, cannot confirm your VAT number right now: VAT is "
                 "charged. The total is now %(total)s. Check it and confirm your order.",
                 total=total)
    return _("Prices now include the VAT of %(country)s (%(rate)s %%). The total is now "
             "%(total)s. Check it and confirm your order.",
             country=pricing.country_name(assessment.decision.country),
             rate=pricing.percent(assessment.decision.rate), total=total)


def accepted_terms(form: Any) -> str | None:
    """The version of the terms the buyer accepted, if it is still the one in force; otherwise
    None, with the form saying so and showing the version in force."""
    try:
        return legal_terms.accepted(form.terms_version.data)
    except legal_terms.TermsError:
        form.terms_version.data = legal_terms.in_force().version
        form.terms.errors = [_("The terms of sale changed while you were ordering: read "
                               "version %(version)s and accept it.",
                               version=form.terms_version.data)]
        return None


@bp.route("/checkout", methods=["GET", "POST"])
def checkout() -> Response | str | tuple[str, int]:
    partner = current_partner()
    current = carts.load(partner)
    if not current.lines:
        flash(_("Your cart is empty."), "info")
        return redirect(url_for("shop.cart"))
    form = _checkout_form()
    shown = current.quote(pricing.shown_decision())
    if request.method == "GET":
        return _checkout_page(current, form, shown)
    if "update" in request.form:
        # The buyer changed their country or VAT number and asks for the total: no order yet.
        form.email.errors = []
        if form.billing_country.validate(form):
            pricing.choose_country(form.billing_country.data)
            assessment = _assess(partner, form)
            if assessment is not None:
                return _checkout_page(current, form, current.quote(assessment.decision))
        return _checkout_page(current, form, shown, 400)
    terms_version = accepted_terms(form) if form.validate() else None
    if terms_version is None:
        return _checkout_page(current, form, shown, 400)
    pricing.choose_country(form.billing_country.data)
    assessment = _assess(partner, form)
    if assessment is None:
        return _checkout_page(current, form, shown, 400)
    quote = current.quote(assessment.decision)
    if form.quoted_total.data != str(quote.total_cents):
        return _checkout_page(current, form, quote, changed=_total_change(quote, assessment))
    buyer = BuyerDetails(
        email=form.email.data,
        name=form.name.data,
        company=form.company.data or "",
        vat_number=assessment.vat_number,
        billing_country=form.billing_country.data,
        billing_line1=form.billing_line1.data or "",
        billing_postcode=form.billing_postcode.data or "",
        billing_city=form.billing_city.data or "",
        ip_country=pricing.ip_country(),
        locale=str(get_locale() or "fr"),
    )
    try:
        order = place_order(
            partner,
            current.requests(),
            buyer,
            user=current_buyer(),
            consent_at=datetime.now(UTC),
            consent_version=current_app.config["CONSENT_WORDING_VERSION"],
            gateway=current_app.config["PAYMENT_GATEWAY"],
            source="embed" if embed.is_embedded() else "shop",
            tax=assessment.decision,
            vies=assessment.vies,
        )
        order.terms_version = terms_version
        if assessment.held:
            order.vies_status = HELD  # no payment until VIES answers (payments/held.py)
        db.session.flush()
        attribute_order(
            order,
            reseller_code=(form.reseller_code.data or "").strip() or None,
            cookie_code=referrals.referral_code(partner),
            assisted_by=referrals.assisted_code(partner),
            source="shop",
        )
        db.session.commit()
    except OrderError as exc:
        db.session.rollback()
        flash(_("Your cart changed: %(reason)s. Please check it again.", reason=str(exc)), "error")
        return redirect(url_for("shop.cart"))
    remember_order(order)
    if assessment.held:
        carts.clear(partner)
        flash(
            _(
                "VIES, the EU's register, cannot confirm your VAT number right now. Your order "
                "%(number)s is saved: we check again in a few minutes and e-mail you as soon as "
                "you can pay it.",
                number=order.number,
            ),
            "info",
        )
        return redirect(url_for("shop.order_page", order_id=order.id))
    response = pay(order, started=lambda: carts.clear(partner))
    if response is None:
        flash(
            _(
                "Payment is unavailable right now. Your order %(number)s is saved; "
                "please try again.",
                number=order.number,
            ),
            "error",
        )
        return redirect(url_for("shop.order_page", order_id=order.id))
    return response


def _visible_order(order_id: uuid.UUID) -> Order:
    """An order of this partner that this visitor placed or owns; 404 otherwise."""
    partner = current_partner()
    order = db.session.scalar(
        select(Order).where(Order.id == order_id, Order.partner_id == partner.id)
    )
    if order is None:
        abort(404)
    buyer = current_buyer()
    owns = buyer is not None and owns_order(buyer, order)
    if not owns and not proven_here(order):
        abort(404)
    return order


def proven_here(order: Order) -> bool:
    """Whether this browser placed the order, or opened it through its e-mailed link."""
    return str(order.id) in session.get(GUEST_ORDERS, [])


@bp.route("/pay/test/<reference>", methods=["GET", "POST"])
def test_pay(reference: str) -> Response | str | tuple[str, int]:
    partner = current_partner()
    order = db.session.scalar(
        select(Order).where(
            Order.gateway_reference == reference,
            Order.partner_id == partner.id,
            Order.gateway == "test",
        )
    )
    if order is None:
        abort(404)
    form = TestCardForm()
    if request.method == "GET":
        # A card of the billing country, as most buyers' are: it tells its country.
        form.card_number.data = " ".join(
            textwrap.wrap(country_card(order.billing_country), 4))
    if request.method == "GET" or not form.validate():
        status = 200 if request.method == "GET" else 400
        return render_template("storefront/test_pay.html", order=order, form=form), status
    event = TestGateway.card_event(
        reference, order.id, form.card_number.data, order.total_cents, order.currency
    )
    result = confirm_payment(event, "test")
    if event.outcome != "paid":
        db.session.refresh(order)
        form.card_number.errors = [
            _("The card was declined. Try the test card 4242 4242 4242 4242.")
        ]
        return render_template("storefront/test_pay.html", order=order, form=form), 402
    current_app.logger.info("test payment for %s: %s", order.number, result)
    if order.source == "embed":  # paid in a window of its own: back to the partner's page
        return redirect(_embed_success_url(order, request.args.get("to")))
    return redirect(url_for("shop.checkout_return", order_id=order.id))


@bp.route("/checkout/return/<uuid:order_id>")
def checkout_return(order_id: uuid.UUID) -> str:
    order = _visible_order(order_id)
    reference = request.args.get("session_id")
    if (
        order.payment_status == PaymentStatus.PENDING
        and reference
        and reference == order.gateway_reference
    ):
        try:
            event = gateway_for(order.gateway).fetch_outcome(reference)
        except GatewayError:
            event = None
        if event is not None and event.order_id == order.id:
            confirm_payment(event, order.gateway)
            db.session.refresh(order)
    return render_template(
        "storefront/order_confirmed.html",
        order=order,
        paid=order.payment_status == PaymentStatus.PAID,
        live=_live(order),
        **_claim_context(order),
    )


@bp.route("/checkout/cancel/<uuid:order_id>")
def checkout_cancel(order_id: uuid.UUID) -> str:
    order = _visible_order(order_id)
    return render_template("storefront/checkout_cancelled.html", order=order)


@bp.post("/checkout/retry/<uuid:order_id>")
def checkout_retry(order_id: uuid.UUID) -> Response:
    order = _visible_order(order_id)
    if not EmptyForm().validate():
        abort(400)
    if order.payment_status not in (PaymentStatus.PENDING, PaymentStatus.FAILED):
        return redirect(url_for("shop.order_page", order_id=order.id))
    if order.vies_status == HELD:
        flash(_("Your VAT number is still being checked with VIES: we e-mail you as soon as you "
                "can pay."), "info")
        return redirect(url_for("shop.order_page", order_id=order.id))
    return pay_or_retry_later(order)


def remember_order(order: Order) -> None:
    """Let this browser see an order it placed or opened by its link, and claim it later."""
    known = [o for o in session.get(GUEST_ORDERS, []) if o != str(order.id)]
    session[GUEST_ORDERS] = [*known[-19:], str(order.id)]


def _claim_context(order: Order) -> dict[str, object]:
    """Whether the signed-in buyer may add this guest order (proven in this browser) to the
    account, and the form to do it."""
    buyer = current_buyer()
    can_claim = buyer is not None and order.buyer_id is None and proven_here(order) \
        and not owns_order(buyer, order)
    return {"can_claim": can_claim, "claim_form": EmptyForm()}


def pay(order: Order, started: Callable[[], None] | None = None) -> Response | None:
    """Send the buyer to the order's payment page; None when the gateway cannot be reached.

    In a frame, payment cannot happen in place (Stripe Checkout refuses frames): the frame shows
    a page that opens payment in a window of its own and follows the order until it is paid.
    `started` runs once the payment has started, before any page is drawn (the cart emptied,
    so the page's header shows it empty)."""
    framed = embed.is_embedded()
    back = embed.return_page() if framed else None
    try:
        redirect_to = start_payment(
            order,
            success_url=(_embed_success_url(order, back) if framed else
                         url_for("shop.checkout_return", order_id=order.id, _external=True)
                         + "?session_id={CHECKOUT_SESSION_ID}"),
            cancel_url=url_for("shop.checkout_cancel", order_id=order.id, _external=True),
        )
    except GatewayError:
        current_app.logger.exception("payment could not start for order %s", order.number)
        return None
    if started is not None:
        started()
    if framed:
        payment_url = redirect_to.url
        if order.gateway == "test" and back:  # our own card page passes it on when paid
            payment_url += ("&" if "?" in payment_url else "?") + urlencode({"to": back})
        return Response(render_template("storefront/embed_pay.html", order=order,
                                        payment_url=payment_url))
    return redirect(redirect_to.url)


def _embed_success_url(order: Order, back: str | None) -> str:
    """Where a payment begun in a frame comes back: the order, opened by its signed link in the
    payment's own window, then the partner's page that embeds the shop (which that window's
    session cannot know: it travels in the address, and is checked again on arrival)."""
    back = embed.allowed_return(order.partner, back)
    return url_for("shop.paid_return", token=access.access_token(order), _external=True,
                   **({"to": back} if back else {}))


@bp.get("/orders/paid/<token>")
@limiter.limit("30/minute")
def paid_return(token: str) -> Response | tuple[str, int]:
    """The end of a payment begun in a frame: this window may see the order (by its signed
    link); it goes back to the partner's page that embeds the shop, or to the order page."""
    result = access.check(token)
    order = result.order
    if result.state != LinkState.VALID or order is None \
            or order.partner_id != current_partner().id:
        state = result.state if result.state != LinkState.VALID else LinkState.UNKNOWN
        return render_template("storefront/order_link_refused.html", state=str(state)), \
            state.http_status
    remember_order(order)
    back = embed.allowed_return(order.partner, request.args.get("to"))
    if back is not None:
        return redirect(f"{back.split('#', 1)[0]}#comptoir-order={order.id}")
    return redirect(url_for("shop.order_page", order_id=order.id))


@bp.get("/orders/<uuid:order_id>/status")
def order_status(order_id: uuid.UUID) -> Response:
    """An order's payment and delivery status as JSON, for pages that follow it: `version`
    changes whenever what its pages show changes, `following` says whether to keep asking."""
    order = _visible_order(order_id)
    live = _live(order)
    return jsonify({
        "number": order.number,
        "payment_status": str(order.payment_status),
        "fulfilment_status": str(order.fulfilment_status),
        "paid": order.payment_status == PaymentStatus.PAID,
        "delivered": order.fulfilment_status == FulfilmentStatus.DELIVERED,
        "following": live.following,
        "version": live.version,
        "confirmation_url": url_for("shop.checkout_return", order_id=order.id),
    })


@dataclass(frozen=True)
class Live:
    """What an order page needs to follow the order until there is nothing left to wait for."""

    following: bool
    version: str


# While an order is in one of these, its page follows it: a payment being confirmed, keys
# being delivered (or delayed: an operator may still fix the line).
_WAITING_PAYMENT = frozenset({PaymentStatus.PENDING, PaymentStatus.REFUND_PENDING})
_WAITING_DELIVERY = frozenset({
    FulfilmentStatus.UNFULFILLED, FulfilmentStatus.AWAITING, FulfilmentStatus.IN_PROGRESS,
    FulfilmentStatus.PARTIALLY_DELIVERED, FulfilmentStatus.NEEDS_ATTENTION,
})


def _live(order: Order) -> Live:
    from fulfilment.models import FulfilmentLine

    lines = db.session.execute(
        select(FulfilmentLine.id, FulfilmentLine.status, FulfilmentLine.delivered_at)
        .where(FulfilmentLine.order_id == order.id).order_by(FulfilmentLine.id)
    ).all()
    seen = f"{order.payment_status}|{order.fulfilment_status}|" + ",".join(
        f"{line_id}:{status}:{delivered_at}" for line_id, status, delivered_at in lines)
    following = order.payment_status in _WAITING_PAYMENT or (
        order.payment_status == PaymentStatus.PAID
        and order.fulfilment_status in _WAITING_DELIVERY)
    return Live(following, hashlib.sha256(seen.encode()).hexdigest()[:16])


def pay_or_retry_later(order: Order) -> Response:
    """Send the buyer to payment, or back to the saved order with a message to try again."""
    response = pay(order)
    if response is None:
        flash(_("Payment is unavailable right now; please try again in a moment."), "error")
        return redirect(url_for("shop.order_page", order_id=order.id))
    return response


@bp.route("/orders/<uuid:order_id>")
def order_page(order_id: uuid.UUID) -> str:
    from fulfilment.delivery import line_deliveries

    order = _visible_order(order_id)
    return render_template(
        "storefront/order.html",
        order=order,
        retry_form=EmptyForm(),
        deliveries=line_deliveries(order),
        documents=documents_of(order.id),
        live=_live(order),
        **_claim_context(order),
    )


@bp.get("/orders/<uuid:order_id>/invoices/<number>.pdf")
def invoice_pdf(order_id: uuid.UUID, number: str) -> Response:
    """The order's invoice or one of its credit notes, for whoever may see the order."""
    order = _visible_order(order_id)
    invoice = document_for_order(order.id, number)
    if invoice is None:
        abort(404)
    return pdf_response(invoice)


@bp.get("/orders/access/<token>/invoices/<number>.pdf")
@limiter.limit("30/minute")
def invoice_by_link(token: str, number: str) -> Response | tuple[str, int]:
    """The e-mailed invoice link: the PDF by the order's signed link, without signing in."""
    result = access.check(token)
    order = result.order
    invoice = document_for_order(order.id, number) if order is not None else None
    if result.state != LinkState.VALID or order is None or invoice is None \
            or order.partner_id != current_partner().id:
        state = result.state if result.state != LinkState.VALID else LinkState.UNKNOWN
        return render_template("storefront/order_link_refused.html", state=str(state)), \
            state.http_status
    return pdf_response(invoice)


@bp.post("/orders/<uuid:order_id>/claim")
def claim_order(order_id: uuid.UUID) -> Response:
    """Add a guest order this browser has proven to the signed-in buyer's account."""
    order = _visible_order(order_id)
    if not EmptyForm().validate():
        abort(400)
    buyer = current_buyer()
    if buyer is None:
        return redirect(url_for("accounts.signin", next=request.script_root + request.path))
    if not proven_here(order) or claim(order.id, buyer, current_partner()) is None:
        flash(_("This order cannot be added: it may already be in an account."), "error")
        return redirect(url_for("shop.order_page", order_id=order.id))
    flash(_("Order %(number)s is now in your account.", number=order.number), "success")
    return redirect(url_for("shop.order_page", order_id=order.id))


@bp.get("/orders/access/<token>")
@limiter.limit("30/minute")
def order_access(token: str) -> Response | tuple[str, int]:
    """The e-mailed order link: opens the order in this browser, then leaves the address bar."""
    result = access.check(token)
    order = result.order
    if result.state == LinkState.VALID and order is not None \
            and order.partner_id == current_partner().id:
        remember_order(order)
        sessions.regenerate()  # this browser now reaches the order: a new session id
        return redirect(url_for("shop.order_page", order_id=order.id))
    if result.state == LinkState.EXPIRED and order is not None \
            and order.partner_id == current_partner().id:
        secret_links.stash("order-expired", token)
        return redirect(url_for("shop.order_access_expired"))
    state = result.state if result.state != LinkState.VALID else LinkState.UNKNOWN
    return render_template("storefront/order_link_refused.html", state=str(state)), \
        state.http_status


@bp.route("/orders/access/expired", methods=["GET", "POST"])
@limiter.limit("5/minute;20/hour", methods=["POST"])
def order_access_expired() -> Response | str | tuple[str, int]:
    """An expired order link: send a fresh one to the order's own address, on request."""
    token = secret_links.stashed("order-expired")
    result = access.check(token) if token else None
    order = result.order if result is not None else None
    if order is None or order.partner_id != current_partner().id:
        return render_template("storefront/order_link_refused.html", state="unknown"), 404
    form = EmptyForm()
    if request.method == "GET":
        return render_template("storefront/order_link_expired.html", form=form, sent=False)
    if not form.validate():
        abort(400)
    secret_links.drop("order-expired")
    try:
        send_branded("storefront/emails/order_link", order.email,
                     lambda: _("Your link to order %(number)s", number=order.number), order.partner,
                     order.locale, order=order, name=order.name, url=access.access_url(order),
                     expires_at=utcnow() + timedelta(seconds=access.max_age()))
    except Exception:  # noqa: BLE001 - say so; the buyer can ask again
        current_app.logger.exception("order link for %s not sent", order.number)
        flash(_("We could not send the e-mail just now. Please try again in a few minutes."),
              "error")
        return redirect(url_for("shop.home"))
    return render_template("storefront/order_link_expired.html", form=form, sent=True,
                           email=order.email)


@bp.route("/orders/<uuid:order_id>/units/<uuid:unit_id>/activated", methods=["GET", "POST"])
def report_activated(order_id: uuid.UUID, unit_id: uuid.UUID) -> Response | str:
    """Report a key Microsoft refused as already activated: a page says what will happen and
    asks for confirmation; only the confirmed form replaces the key."""
    from fulfilment.operations import OperationError, report_activated_key
    from fulfilment.wholesalers import WholesalerError

    order = _visible_order(order_id)
    shown = _active_unit(order, unit_id)
    form = ReportActivatedForm()
    if not form.validate_on_submit():
        line, unit = shown
        return render_template("storefront/report_activated.html", order=order, line=line,
                               unit=unit, form=form)
    try:
        report_activated_key(unit_id, order, actor=f"buyer:{order.email}")
    except OperationError:
        abort(404)
    except WholesalerError:
        current_app.logger.exception("replacement failed for order %s", order.number)
        flash(
            _(
                "We could not get a replacement key right now. Our support team has been told; "
                "please try again later."
            ),
            "error",
        )
        return redirect(url_for("shop.order_page", order_id=order.id))
    flash(
        _(
            "Here is your new key; the previous licence has been revoked. "
            "We also sent it by e-mail."
        ),
        "success",
    )
    return redirect(url_for("shop.order_page", order_id=order.id))


def _active_unit(order: Order, unit_id: uuid.UUID) -> tuple[Any, Any]:
    """The order line and the unit view of one of this order's current keys; 404 otherwise."""
    from fulfilment.delivery import line_deliveries

    for line, units in line_deliveries(order).values():
        for unit in units:
            if unit.unit_id == unit_id:
                return line.order_line, unit
    abort(404)


@bp.route("/legal")
def legal() -> str:
    """The legal notice (mentions légales): the shop's publisher, host and seller."""
    partner = current_partner()
    return render_template("storefront/legal.html", merchant=merchant_of(partner))


@bp.route("/legal/terms")
@bp.route("/legal/terms/<version>")
def terms(version: str | None = None) -> str:
    """The terms of sale in force, or a published version at its stable address."""
    partner = current_partner()
    current = legal_terms.in_force()
    shown = current if version is None else legal_terms.find(version)
    if shown is None:
        abort(404)
    language = str(get_locale() or "fr")
    return render_template("storefront/terms.html", shown=shown, current=current,
                           versions=[v for v in legal_terms.versions()
                                     if v.effective_at <= current.effective_at],
                           text_template=shown.template(language),
                           merchant=merchant_of(partner))


@bp.route("/legal/privacy")
def privacy() -> str:
    """The privacy notice: the merchant as controller, purposes, bases, retention, rights."""
    partner = current_partner()
    language = "en" if str(get_locale() or "fr").startswith("en") else "fr"
    return render_template("storefront/privacy.html", merchant=merchant_of(partner),
                           text_template=f"legal/privacy.{language}.html")


@bp.route("/brand/logo")
def logo() -> Response:
    partner = current_partner()
    if not partner.logo_data or not partner.logo_mime:
        abort(404)
    response = Response(partner.logo_data, mimetype=partner.logo_mime)
    response.headers["Cache-Control"] = "public, max-age=3600"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/subscriptions/change/<token>", methods=["GET", "POST"])
@limiter.limit("30/minute")
def subscription_change(token: str) -> Response | str | tuple[str, int]:
    """A change a reseller prepared: the client sees the prorated price, approves and pays."""
    from storefront.forms import ApproveChangeForm
    from subscriptions.services import (
        SubscriptionError,
        approve_change,
        change_for_token,
        check_open,
        quote,
    )

    change = change_for_token(token)
    if change is None or change.subscription.partner_id != current_partner().id:
        abort(404)
    now = utcnow()
    form = ApproveChangeForm()
    problem = None
    try:
        check_open(change, now)
    except SubscriptionError as exc:
        problem = str(exc)
    offer = quote(change, now) if problem is None else None
    if request.method == "POST" and problem is None and form.validate():
        try:
            quoted = int(form.quoted_total.data or "")
        except ValueError:
            quoted = None
        try:
            order = approve_change(change, now, quoted_total=quoted)
        except SubscriptionError as exc:
            problem = str(exc)
            db.session.rollback()
            offer = quote(change, now) if change.status == "prepared" else None
        else:
            remember_order(order)
            flash(_("Thank you: the change is paid and in force."), "success")
            return redirect(url_for("shop.order_page", order_id=order.id))
    if offer is not None:
        form.quoted_total.data = str(offer.total_cents)
    status = 200 if request.method == "GET" and problem is None else (
        409 if problem else 400)
    return render_template("storefront/subscription_change.html", change=change,
                           sub=change.subscription, offer=offer, form=form,
                           problem=problem), status
