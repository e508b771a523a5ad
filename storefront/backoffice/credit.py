"""The back office's credit lines: accounts and their standing, limits and extras (audited),
transfers received."""

from __future__ import annotations

import uuid
from datetime import datetime, time

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from commissions.models import Reseller
from credit import accounts
from credit.errors import CreditError
from credit.models import ExtraKind
from credit.payments import payments_of, record_transfer
from credit.statements import statements_of
from credit.terms import MAX_TERM_DAYS, PARIS, paris_day, parse_amount
from extensions import db, utcnow
from fulfilment.wholesalers import WHOLESALERS
from storefront.backoffice.auth import current_operator, operator_required
from storefront.backoffice.blueprint import bp
from storefront.forms import EmptyForm


class LineForm(FlaskForm):
    limit = StringField(_l("Limit (€)"), validators=[InputRequired(_l("Enter the limit."))])
    term_days = IntegerField(_l("Payment terms (days end of month)"), default=30, validators=[
        InputRequired(), NumberRange(0, MAX_TERM_DAYS)])
    active = BooleanField(_l("Orders on account allowed"), default=True)
    reason = StringField(_l("Reason (kept in the audit trail)"), validators=[Length(max=300)])


class ExtraForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=[
        SelectChoice(ExtraKind.WHOLESALER.value, _l("A wholesaler's programme")),
        SelectChoice(ExtraKind.OEM_VOLUME.value, _l("Per step of firm OEM orders"))])
    label = StringField(_l("Label"), validators=[Length(max=160)])
    amount = StringField(_l("Extra credit (€)"),
                         validators=[InputRequired(_l("Enter the amount."))])
    wholesaler = SelectField(_l("Wholesaler"), validators=[Optional()])
    step = StringField(_l("Firm OEM orders per step (€)"), validators=[Optional()])
    starts_on = DateField(_l("From"), validators=[InputRequired(_l("Give the first day."))])
    ends_on = DateField(_l("Until (excluded, optional)"), validators=[Optional()])


class TransferForm(FlaskForm):
    bank_reference = StringField(_l("Bank reference"), validators=[
        InputRequired(_l("Give the bank's reference of the transfer.")), Length(max=120)])
    amount = StringField(_l("Amount received (€)"), validators=[
        InputRequired(_l("Enter the amount received."))])
    received_on = DateField(_l("Value date"), validators=[InputRequired()])


def _wholesalers() -> list[SelectChoice]:
    return [SelectChoice(code, code) for code in sorted(WHOLESALERS)]


def _reseller(code: str) -> Reseller:
    reseller = db.session.scalar(select(Reseller).where(Reseller.code == code.upper()))
    if reseller is None:
        abort(404)
    return reseller


def _actor() -> str:
    return f"operator:{current_operator().email}"


def _problem(exc: Exception) -> str:
    """A refusal in the operator's language: the service's own words, or the amount's."""
    if isinstance(exc, CreditError):
        return exc.message
    return _("Enter an amount in euros, such as 1250.00.")


def _paris_midnight(day: object) -> datetime:
    return datetime.combine(day, time(0), PARIS)  # type: ignore[arg-type]


@bp.route("/credit")
@operator_required
def credit_accounts() -> str:
    """Every credit line with its standing; `?overdue=1` only those with a balance overdue."""
    now = utcnow()
    rows = [accounts.standing(a, now) for a in accounts.all_accounts()]
    overdue_only = request.args.get("overdue") == "1"
    if overdue_only:
        rows = [s for s in rows if s.overdue_cents]
    code = (request.args.get("code") or "").strip()
    if code:
        return redirect(url_for("backoffice.credit_account", code=code))  # type: ignore[return-value]
    return render_template("backoffice/credit.html", rows=rows, overdue_only=overdue_only,
                           logout_form=EmptyForm())


def _account_page(reseller: Reseller, status: int = 200, **forms: FlaskForm) -> tuple[str, int]:
    account = accounts.account_of(reseller)
    line_form = forms.get("line_form") or LineForm()
    extra_form = forms.get("extra_form") or ExtraForm()
    extra_form.wholesaler.choices = _wholesalers()
    if account is not None and "line_form" not in forms:
        line_form.limit.data = f"{account.limit_cents // 100}.{account.limit_cents % 100:02d}"
        line_form.term_days.data = account.term_days
        line_form.active.data = account.active
    context = {"reseller": reseller, "account": account, "line_form": line_form,
               "extra_form": extra_form, "transfer_form": forms.get("transfer_form")
               or TransferForm(received_on=paris_day(utcnow())), "end_form": EmptyForm(),
               "logout_form": EmptyForm()}
    if account is not None:
        now = utcnow()
        context.update(standing=accounts.standing(account, now),
                       entries=accounts.entries_of(account), changes=accounts.changes_of(account),
                       payments=payments_of(account), statements=statements_of(account),
                       now=now)
    return render_template("backoffice/credit_account.html", **context), status


@bp.route("/credit/<code>")
@operator_required
def credit_account(code: str) -> tuple[str, int]:
    return _account_page(_reseller(code))


@bp.post("/credit/<code>/line")
@operator_required
def credit_set_line(code: str) -> Response | tuple[str, int]:
    reseller = _reseller(code)
    form = LineForm()
    if not form.validate():
        return _account_page(reseller, 400, line_form=form)
    try:
        accounts.set_line(reseller, limit_cents=parse_amount(form.limit.data),
                          term_days=form.term_days.data, active=form.active.data,
                          actor=_actor(), reason=form.reason.data or "")
    except (CreditError, ValueError) as exc:
        db.session.rollback()
        form.limit.errors = [_problem(exc)]
        return _account_page(reseller, 400, line_form=form)
    db.session.commit()
    flash(_("The credit line of %(code)s is saved.", code=reseller.code), "success")
    return redirect(url_for("backoffice.credit_account", code=reseller.code))


@bp.post("/credit/<code>/extras")
@operator_required
def credit_add_extra(code: str) -> Response | tuple[str, int]:
    reseller = _reseller(code)
    account = accounts.account_of(reseller)
    if account is None:
        abort(404)
    form = ExtraForm()
    form.wholesaler.choices = _wholesalers()
    if not form.validate():
        return _account_page(reseller, 400, extra_form=form)
    try:
        oem = form.kind.data == ExtraKind.OEM_VOLUME
        accounts.add_extra(
            account, kind=form.kind.data, amount_cents=parse_amount(form.amount.data),
            starts_at=_paris_midnight(form.starts_on.data),
            ends_at=_paris_midnight(form.ends_on.data) if form.ends_on.data else None,
            actor=_actor(), label=form.label.data or "",
            wholesaler_code=None if oem else form.wholesaler.data,
            step_cents=parse_amount(form.step.data or "") if oem else None)
    except (CreditError, ValueError) as exc:
        db.session.rollback()
        form.amount.errors = [_problem(exc)]
        return _account_page(reseller, 400, extra_form=form)
    db.session.commit()
    flash(_("The extra is added."), "success")
    return redirect(url_for("backoffice.credit_account", code=reseller.code))


@bp.post("/credit/<code>/extras/<uuid:extra_id>/end")
@operator_required
def credit_end_extra(code: str, extra_id: uuid.UUID) -> Response:
    reseller = _reseller(code)
    account = accounts.account_of(reseller)
    if account is None or not EmptyForm().validate():
        abort(404 if account is None else 400)
    try:
        accounts.end_extra(account, extra_id, utcnow(), _actor())
    except CreditError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("backoffice.credit_account", code=reseller.code))
    db.session.commit()
    flash(_("The extra is ended."), "success")
    return redirect(url_for("backoffice.credit_account", code=reseller.code))


@bp.post("/credit/<code>/transfers")
@operator_required
def credit_record_transfer(code: str) -> Response | tuple[str, int]:
    reseller = _reseller(code)
    account = accounts.account_of(reseller)
    if account is None:
        abort(404)
    form = TransferForm()
    if not form.validate():
        return _account_page(reseller, 400, transfer_form=form)
    try:
        recorded = record_transfer(account.reference, form.bank_reference.data,
                                   parse_amount(form.amount.data), form.received_on.data,
                                   _actor(), utcnow())
    except (CreditError, ValueError) as exc:
        db.session.rollback()
        form.bank_reference.errors = [_problem(exc)]
        return _account_page(reseller, 400, transfer_form=form)
    if recorded.created:
        flash(_("The transfer %(number)s is applied.", number=recorded.payment.number), "success")
    else:
        flash(_("This transfer was recorded before (%(number)s): nothing was added.",
                number=recorded.payment.number), "info")
    return redirect(url_for("backoffice.credit_account", code=reseller.code))
