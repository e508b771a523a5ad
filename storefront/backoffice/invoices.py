"""The back office's invoices: every invoice and credit note by merchant and month, their PDFs."""

from __future__ import annotations

import re
import uuid
from datetime import date

from flask import Response, abort, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select

from commerce.models import Partner
from extensions import db
from invoicing.models import PLATFORM, Invoice
from invoicing.services import list_invoices
from storefront.backoffice.auth import current_operator, operator_required
from storefront.backoffice.blueprint import bp
from storefront.forms import EmptyForm
from storefront.invoices import pdf_response

PAGE_SIZE = 50
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _month(value: str) -> date | None:
    """"2026-12" as its first day; ValueError for anything else."""
    match = _MONTH.match(value)
    if not match:
        raise ValueError(value)
    return date(int(match.group(1)), int(match.group(2)), 1)


@bp.route("/invoices")
@operator_required
def invoices() -> tuple[str, int]:
    """Invoices and credit notes, newest first, of one merchant and one month if asked."""
    partners = db.session.scalars(select(Partner).order_by(Partner.name)).all()
    merchants = {PLATFORM: _("The platform")} | {str(p.id): p.legal_name or p.name
                                                 for p in partners}
    merchant = (request.args.get("merchant") or "").strip()
    month_text = (request.args.get("month") or "").strip()
    errors: list[str] = []
    if merchant and merchant not in merchants:
        errors.append(_("No such merchant."))
    month = None
    if month_text:
        try:
            month = _month(month_text)
        except ValueError:
            errors.append(_("Give the month as YYYY-MM, for example 2026-12."))
    try:
        page = max(1, int(request.args.get("page") or 1))
    except ValueError:
        errors.append(_("The page must be a number."))
        page = 1
    found = None if errors else list_invoices(merchant=merchant or None, month=month,
                                              page=page, per_page=PAGE_SIZE)
    return render_template(
        "backoffice/invoices.html", found=found, errors=errors, merchants=merchants,
        filters={"merchant": merchant, "month": month_text}, logout_form=EmptyForm(),
    ), 400 if errors else 200


@bp.context_processor
def _finance_staff() -> dict[str, object]:
    """Whether the signed-in operator may read erased buyers' invoices (docs/privacy.md): the
    invoice rows hide those buyers' names from the others."""
    from accounts.privacy import may_read_erased_invoices
    from accounts.sessions import Door
    from storefront.security import sessions

    signed = sessions.at_door(Door.OPERATOR)
    return {"finance_staff": may_read_erased_invoices(signed.user if signed else None)}


@bp.route("/invoices/<uuid:invoice_id>.pdf")
@operator_required
def invoice_pdf(invoice_id: uuid.UUID) -> Response:
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        abort(404)
    return pdf_response(invoice, reader=current_operator())
