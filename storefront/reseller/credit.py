"""The reseller's credit line in the portal: what is available and due, ordering on account,
statements, paying the balance by card (the shop's gateway) or by transfer."""

from __future__ import annotations

import textwrap
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from commerce.orders import BuyerDetails, LineRequest, OrderError
from commerce.tax import TaxError
from commerce.taxation import assess
from commissions.models import Reseller
from credit import accounts
from credit import payments as credit_payments
from credit.errors import CreditError, CreditRefused
from credit.models import CreditPayment, CreditStatement, PaymentState
from credit.orders import AccountOrder, buy_on_account
from credit.statements import bank_details, statements_of
from credit.terms import grouped, parse_amount
from extensions import db, limiter, utcnow
from legal import terms as legal_terms
from payments.base import GatewayError
from payments.services import gateway_for
from payments.test_gateway import TestGateway
from storefront.forms import TestCardForm
from storefront.reseller.carts import lines_from_form
from storefront.reseller.forms import CreditOrderForm, CreditPayForm
from storefront.reseller.views import bp, reseller_required
from storefront.shop import pricing
from storefront.shop.catalogue import addon_offers, list_offers
from storefront.tenancy import current_partner


def _page(reseller: Reseller, pay_form: CreditPayForm | None = None, status: int = 200
          ) -> tuple[str, int]:
    account = accounts.account_of(reseller)
    context: dict[str, Any] = {"reseller": reseller, "active": "credit", "account": account}
    if account is not None:
        now = utcnow()
        standing = accounts.standing(account, now)
        if pay_form is None:
            pay_form = CreditPayForm()
            due = standing.overdue_cents or (standing.next_due.amount_cents
                                             if standing.next_due else 0)
            owed = max(due, 0) or max(standing.outstanding_cents, 0)
            pay_form.amount.data = f"{owed // 100}.{owed % 100:02d}"
        context.update(standing=standing, entries=accounts.entries_of(account, 50),
                       statements=statements_of(account), bank=bank_details(),
                       reference=grouped(account.reference), pay_form=pay_form,
                       payments=credit_payments.payments_of(account, 10))
    return render_template("reseller/credit.html", **context), status


@bp.route("/credit")
@reseller_required
def credit(reseller: Reseller) -> tuple[str, int]:
    return _page(reseller)


# --- ordering on account ------------------------------------------------------------------------


def _order_form() -> CreditOrderForm:
    form = CreditOrderForm()
    form.billing_country.choices = [SelectChoice(value, label)
                                    for value, label in pricing.country_choices()]
    if request.method == "GET":
        form.terms_version.data = legal_terms.in_force().version
    return form


@bp.route("/credit/order", methods=["GET", "POST"])
@limiter.limit("30/minute", methods=["POST"])
@reseller_required
def credit_order(reseller: Reseller) -> Response | tuple[str, int]:
    """Order for a client on account: the lines, the client, then the credit line decides."""
    partner = current_partner()
    offers = list_offers(partner)
    form = _order_form()
    context: dict[str, Any] = {"reseller": reseller, "active": "credit", "offers": offers,
                               "addons": addon_offers(partner), "form": form, "errors": {},
                               "problem": None, "terms": legal_terms.in_force()}
    account = accounts.account_of(reseller)
    if account is not None:
        context["standing"] = accounts.standing(account, utcnow())
    if request.method == "GET":
        return render_template("reseller/credit_order.html", **context), 200
    lines, errors = lines_from_form({o.code for o in offers}, set(context["addons"]))
    context["errors"] = errors
    if not form.validate() or errors or not lines:
        if not lines and not errors:
            context["problem"] = _("Choose at least one product.")
        return render_template("reseller/credit_order.html", **context), 400
    problem = _place(reseller, form, lines)
    if isinstance(problem, str):
        context["problem"] = problem
        return render_template("reseller/credit_order.html", **context), 409
    return redirect(url_for("reseller.credit"))


def _place(reseller: Reseller, form: CreditOrderForm, lines: list[dict[str, Any]]) -> str | None:
    """Place the order on account; the refusal's message when it is refused, nothing written."""
    try:
        terms_version = legal_terms.accepted(form.terms_version.data)
    except legal_terms.TermsError:
        form.terms_version.data = legal_terms.in_force().version
        return _("The terms of sale changed: read version %(version)s with your client and "
                 "confirm again.", version=form.terms_version.data)
    try:  # VIES is asked before anything is locked or written
        assessment = assess(current_partner(), form.billing_country.data,
                            form.vat_number.data or "")
    except TaxError as exc:
        return str(exc)
    if assessment.held:
        return _("VIES, the EU's register, cannot confirm this VAT number right now; nothing "
                 "was ordered. Try again in a few minutes.")
    buyer = BuyerDetails(
        email=form.email.data, name=form.name.data, company=form.company.data or "",
        vat_number=assessment.vat_number, billing_country=form.billing_country.data,
        billing_line1=form.billing_line1.data or "",
        billing_postcode=form.billing_postcode.data or "",
        billing_city=form.billing_city.data or "", locale=str(get_locale() or "fr"))
    command = AccountOrder(
        lines=[LineRequest(line["code"], line["q"], tuple(line["a"])) for line in lines],
        buyer=buyer, terms_version=terms_version, consent_at=datetime.now(UTC),
        consent_version=current_app.config["CONSENT_WORDING_VERSION"],
        tax=assessment.decision, vies=assessment.vies)
    try:
        order = buy_on_account(reseller, command, utcnow())
    except CreditRefused as exc:
        return exc.message
    except OrderError as exc:
        return _("This order cannot be placed: %(reason)s.", reason=str(exc))
    flash(_("Order %(number)s is placed on account for %(total)s: your client receives it by "
            "e-mail.", number=order.number, total=accounts.money(order.total_cents)), "success")
    return None


# --- paying the balance -------------------------------------------------------------------------


@bp.post("/credit/pay")
@limiter.limit("10/minute")
@reseller_required
def credit_pay(reseller: Reseller) -> Response | tuple[str, int]:
    account = accounts.account_of(reseller)
    if account is None:
        abort(404)
    form = CreditPayForm()
    if not form.validate():
        return _page(reseller, form, 400)
    try:
        redirect_to = credit_payments.start_card_payment(
            account, parse_amount(form.amount.data),
            success_url=url_for("reseller.credit_paid", _external=True)
            + "?session_id={CHECKOUT_SESSION_ID}",
            cancel_url=url_for("reseller.credit", _external=True),
            locale=str(get_locale() or "fr"), now=utcnow())
    except CreditError as exc:
        form.amount.errors = [exc.message]
        return _page(reseller, form, 400)
    except GatewayError:
        current_app.logger.exception("credit payment could not start for %s", reseller.code)
        flash(_("Card payment is unavailable right now; please try again in a moment."), "error")
        return redirect(url_for("reseller.credit"))
    return redirect(redirect_to.url)


def _own_payment(reseller: Reseller, **where: Any) -> CreditPayment:
    payment = db.session.scalar(select(CreditPayment).filter_by(**where))
    if payment is None or payment.account.reseller_id != reseller.id:
        abort(404)
    return payment


@bp.route("/credit/pay/test/<reference>", methods=["GET", "POST"])
@reseller_required
def credit_test_pay(reseller: Reseller, reference: str) -> Response | str | tuple[str, int]:
    """The test gateway's card page for a credit line payment (development and tests)."""
    payment = _own_payment(reseller, gateway_reference=reference, gateway="test")
    form = TestCardForm()
    if payment.status != PaymentState.PENDING:
        flash(_("This payment is no longer open."), "info")
        return redirect(url_for("reseller.credit"))
    if request.method == "GET":
        form.card_number.data = " ".join(textwrap.wrap("4242424242424242", 4))
    if request.method == "GET" or not form.validate():
        return render_template("reseller/credit_test_pay.html", reseller=reseller,
                               active="credit", payment=payment, form=form), \
            200 if request.method == "GET" else 400
    event = replace(TestGateway.card_event(reference, payment.id, form.card_number.data,
                                           payment.amount_cents, payment.currency),
                    purpose=credit_payments.PURPOSE)
    outcome = credit_payments.apply_card_event(event, "test", utcnow())
    _say(outcome, payment)
    return redirect(url_for("reseller.credit"))


@bp.route("/credit/paid")
@reseller_required
def credit_paid(reseller: Reseller) -> Response:
    """Back from the gateway's page: ask it how the payment stands (the webhook may be late)."""
    reference = request.args.get("session_id") or ""
    payment = _own_payment(reseller, gateway_reference=reference)
    if payment.status == PaymentState.PENDING and payment.gateway:
        try:
            event = gateway_for(payment.gateway).fetch_outcome(reference)
        except GatewayError:
            event = None
        if event is not None and event.order_id == payment.id:
            _say(credit_payments.apply_card_event(event, payment.gateway, utcnow()), payment)
            return redirect(url_for("reseller.credit"))
    db.session.refresh(payment)
    _say("applied" if payment.status == PaymentState.APPLIED else "pending", payment)
    return redirect(url_for("reseller.credit"))


def _say(outcome: str, payment: CreditPayment) -> None:
    amount = accounts.money(payment.amount_cents, payment.currency)
    if outcome in ("applied", "already_processed"):
        db.session.refresh(payment)
    if payment.status == PaymentState.APPLIED:
        flash(_("Your payment of %(amount)s is applied to your credit line.", amount=amount),
              "success")
    elif payment.status == PaymentState.PENDING:
        flash(_("Your payment of %(amount)s is being confirmed; it shows here as soon as the "
                "bank confirms it.", amount=amount), "info")
    else:
        flash(_("The card payment of %(amount)s did not go through; nothing was taken. Try "
                "again or pay by transfer.", amount=amount), "error")


# --- statements ---------------------------------------------------------------------------------


def _own_statement(reseller: Reseller, statement_id: uuid.UUID) -> CreditStatement:
    statement = db.session.get(CreditStatement, statement_id)
    if statement is None or statement.account.reseller_id != reseller.id:
        abort(404)
    return statement


STATEMENT_FORMATS = {"html": ("text/html", "inline"), "csv": ("text/csv", "attachment")}


@bp.route("/credit/statements/<uuid:statement_id>.<fmt>")
@reseller_required
def credit_statement(reseller: Reseller, statement_id: uuid.UUID, fmt: str) -> Response:
    """A statement as HTML (to read or print) or CSV (for the accounts); the reseller's only."""
    statement = _own_statement(reseller, statement_id)
    if fmt not in STATEMENT_FORMATS:
        abort(404)
    mimetype, disposition = STATEMENT_FORMATS[fmt]
    return Response(getattr(statement, fmt), mimetype=mimetype, headers={
        "Content-Disposition": f'{disposition}; filename="{statement.number}.{fmt}"'})
