"""Serving an invoice's or a credit note's PDF, the same way from every door that may show it.

Each door decides who may see which documents (the shop: the order's buyer; the back office:
operators; the reseller portal: the reseller's own clients'; the API: the partner's key). Once
the buyer's personal data is erased, the invoice is kept for its ten legal years but only
finance staff read it (accounts/privacy.py, docs/privacy.md): every door sends the file
through here, which checks that last.
"""

from __future__ import annotations

from flask import Response, abort, current_app

from accounts.privacy import may_read_invoice
from commerce.models import Order, User
from extensions import db
from invoicing import services
from invoicing.models import Invoice


def pdf_response(invoice: Invoice, reader: User | None = None) -> Response:
    """The PDF as a download named after its number; 503 while the store cannot give it.

    `reader` is the signed-in staff member, if any. An erased buyer's invoice is refused to
    all but finance staff: 403 to another operator, 404 at the other doors."""
    order = db.session.get(Order, invoice.order_id)
    if order is not None and not may_read_invoice(reader, order):
        abort(403 if reader is not None and reader.is_operator else 404)
    try:
        data = services.pdf_bytes(invoice)
    except Exception:  # noqa: BLE001 - the store or the renderer is down: say so, log why
        current_app.logger.exception("invoice %s could not be read", invoice.number)
        abort(503)
    return Response(data, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{invoice.filename}"',
        "Cache-Control": "private, no-store",
    })
