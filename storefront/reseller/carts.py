"""Carts a reseller prepares for a client: pick products, get a link; the order is theirs."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request
from flask_babel import gettext as _

from commerce.links import shop_url
from commerce.orders import ADDON_BACKUP, ADDON_INSTALL, MAX_QUANTITY
from commissions.models import Reseller
from storefront.forms import EmptyForm
from storefront.reseller.views import bp, reseller_required
from storefront.shop.catalogue import addon_offers, list_offers
from storefront.shop.referrals import cart_link_token
from storefront.tenancy import current_partner


def lines_from_form(
    codes: set[str], offered_addons: set[str]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Read `qty-<code>`, `backup-<code>`, `install-<code>` fields; quantities 0 to 10."""
    lines: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    for code in sorted(codes):
        raw = (request.form.get(f"qty-{code}") or "0").strip()
        if not raw.isdigit() or int(raw) > MAX_QUANTITY:
            errors[code] = _("Choose a quantity from 0 to %(max)s.", max=MAX_QUANTITY)
            continue
        if int(raw) == 0:
            continue
        addons = [
            a
            for a, field in ((ADDON_BACKUP, "backup"), (ADDON_INSTALL, "install"))
            if request.form.get(f"{field}-{code}") and a in offered_addons
        ]
        lines.append({"code": code, "q": int(raw), "a": addons})
    return lines, errors


@bp.route("/carts", methods=["GET", "POST"])
@reseller_required
def prepare_cart(reseller: Reseller) -> str | tuple[str, int]:
    """Prepare a cart for a client and get the link to send them."""
    partner = current_partner()
    offers = list_offers(partner)
    addons = addon_offers(partner)
    context: dict[str, Any] = {
        "reseller": reseller,
        "active": "carts",
        "offers": offers,
        "addons": addons,
        "form": EmptyForm(),
        "errors": {},
        "link": None,
    }
    if request.method == "GET":
        return render_template("reseller/carts.html", **context)
    if not context["form"].validate():
        abort(400)
    lines, errors = lines_from_form({o.code for o in offers}, set(addons))
    context["errors"] = errors
    if errors or not lines:
        context["problem"] = _("Choose at least one product.") if not errors else None
        return render_template("reseller/carts.html", **context), 400
    token = cart_link_token(partner, reseller.code, lines)
    # The link is sent to the client: on the partner's own domain, like every link that leaves.
    context["link"] = f"{shop_url(partner)}/cart/from/{token}"
    context["chosen"] = {line["code"]: line for line in lines}
    return render_template("reseller/carts.html", **context)
