"""Serving an invoice's or a credit note's PDF, the same way from every door that may show it.

Each door decides who may see which documents (the shop: the order's buyer; the back office:
operators; the reseller portal: the reseller's own clients'; the API: the partner's key); this
module only sends the file.
"""

from __future__ import annotations

from flask import Response, abort, current_app

from invoicing import services
from invoicing.models import Invoice


def pdf_response(invoice: Invoice) -> Response:
    """The PDF as a download named after its number; 503 while the store cannot give it."""
    try:
        data = services.pdf_bytes(invoice)
    except Exception:  # noqa: BLE001 - the store or the renderer is down: say so, log why
        current_app.logger.exception("invoice %s could not be read", invoice.number)
        abort(503)
    return Response(data, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{invoice.filename}"',
        "Cache-Control": "private, no-store",
    })
