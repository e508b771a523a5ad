"""The back office's payouts: SEPA credit-transfer files, payouts and their statements,
resellers' bank details (masked)."""

from __future__ import annotations

import uuid

from flask import Response, abort, render_template

from commissions.bank import mask_bic, mask_iban
from commissions.models import Payout, PayoutBatch
from commissions.reports import payouts_overview
from extensions import db
from storefront.backoffice.auth import operator_required
from storefront.backoffice.blueprint import bp
from storefront.forms import EmptyForm


@bp.route("/payouts")
@operator_required
def payouts() -> str:
    return render_template("backoffice/payouts.html", overview=payouts_overview(),
                           mask_iban=mask_iban, mask_bic=mask_bic, logout_form=EmptyForm())


@bp.route("/payouts/files/<uuid:batch_id>.xml")
@operator_required
def payout_file(batch_id: uuid.UUID) -> Response:
    """The pain.001 file of a run, to upload to the bank."""
    batch = db.session.get(PayoutBatch, batch_id)
    if batch is None:
        abort(404)
    return Response(batch.xml, mimetype="application/xml", headers={
        "Content-Disposition": f'attachment; filename="{batch.number}.xml"',
        "Cache-Control": "no-store"})


@bp.route("/payouts/<uuid:payout_id>/statement.<any(pdf, csv):kind>")
@operator_required
def payout_statement(payout_id: uuid.UUID, kind: str) -> Response:
    payout = db.session.get(Payout, payout_id)
    if payout is None:
        abort(404)
    body, mimetype = ((payout.statement_pdf, "application/pdf") if kind == "pdf"
                      else (payout.statement_csv, "text/csv"))
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{payout.number}.{kind}"',
        "Cache-Control": "no-store"})
