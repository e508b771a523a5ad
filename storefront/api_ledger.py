"""GET /api/v1/resellers/<code>/ledger: a reseller's ledger, for its network's partner only."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify

from commissions import UnknownReseller, ledger_for
from extensions import csrf
from storefront.api.auth import partner_from_request

bp = Blueprint("api_ledger", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


def _error(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


@bp.get("/resellers/<code>/ledger")
def reseller_ledger(code: str) -> Response:
    """The reseller's balances and entries; a reseller of another network is not found (404)."""
    partner = partner_from_request()
    try:
        ledger = ledger_for(code, partner_id=partner.id)
    except UnknownReseller:
        return _error(404, "not_found", f"no reseller {code!r} in your network")
    b = ledger.balances
    response = jsonify({
        "reseller": {"code": ledger.code, "name": ledger.name},
        "balances": {"accrued_cents": b.accrued, "payable_cents": b.payable, "paid_cents": b.paid,
                     "next_payout_cents": b.next_payout, "minimum_payout_cents": b.minimum_payout},
        "entries": [entry.as_json() for entry in ledger.entries],
    })
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Register the ledger endpoint (called by storefront.init_app)."""
    app.register_blueprint(bp)
