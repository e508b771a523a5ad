"""What search engines read of a shop: its sitemap, robots.txt, and each product's schema.org
Product and Offer."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from flask import Response, g, request, url_for
from sqlalchemy import select

from commerce.links import shop_url
from commerce.models import Partner, PartnerProduct, Product, ProductKind
from extensions import db
from storefront.shop.catalogue import Offer
from storefront.shop.media import product_picture_attrs
from storefront.shop.views import bp
from storefront.tenancy import current_partner

SITEMAP_MAX_URLS = 50_000  # the sitemaps protocol's limit per file


@bp.app_template_global()
def canonical(endpoint: str, **values: Any) -> str:
    """The page's address on the shop's own domain, whichever way this request reached it."""
    path = url_for(endpoint, **values)[len(request.script_root):]
    return shop_base() + path


def shop_base() -> str:
    """The shop's own address, worked out once a request (a page writes it several times)."""
    base = g.get("_shop_base")
    if base is None:
        base = g._shop_base = shop_url(current_partner())
    return str(base)


def _offered_codes(partner: Partner) -> list[str]:
    return list(db.session.scalars(
        select(Product.code).join(PartnerProduct, PartnerProduct.product_id == Product.id)
        .where(PartnerProduct.partner_id == partner.id, PartnerProduct.available.is_(True),
               Product.is_active.is_(True), Product.kind == ProductKind.SOFTWARE)
        .order_by(PartnerProduct.position, Product.code).limit(SITEMAP_MAX_URLS - 10)))


@bp.get("/sitemap.xml")
def sitemap() -> Response:
    """The shop's pages worth finding: home, catalogue, each product, the legal pages."""
    partner = current_partner()
    pages = [canonical("shop.home"), canonical("shop.catalogue")]
    pages += [canonical("shop.product", code=code) for code in _offered_codes(partner)]
    pages += [canonical("shop.legal"), canonical("shop.terms"), canonical("shop.privacy")]
    body = "".join(f"<url><loc>{escape(page)}</loc></url>" for page in pages)
    xml = ('<?xml version="1.0" encoding="UTF-8"?>\n'
           f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</urlset>\n')
    response = Response(xml, mimetype="application/xml")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get("/robots.txt")
def robots() -> Response:
    """Everything buyers browse may be indexed; carts, checkout, orders and accounts not."""
    lines = ["User-agent: *"]
    lines += [f"Disallow: {request.script_root}{path}" for path in (
        "/cart", "/checkout", "/orders/", "/account", "/pay/", "/reseller/", "/backups/")]
    lines.append(f"Sitemap: {canonical('shop.sitemap')}")
    response = Response("\n".join(lines) + "\n", mimetype="text/plain")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.app_template_global()
def product_structured_data(offer: Offer) -> dict[str, Any]:
    """The product page's schema.org Product with its Offer, for JSON-LD (the template writes
    it with `tojson`, which escapes <, > and & so the script cannot be closed early)."""
    partner = current_partner()
    product = offer.product
    data = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": product.display_name,
        "description": product.display_description,
        "sku": product.code,
        "brand": {"@type": "Brand", "name": "Microsoft"},
        "image": shop_base()
        + product_picture_attrs(product, 800)["src"][len(request.script_root):],
        "offers": {
            "@type": "Offer",
            "url": canonical("shop.product", code=product.code),
            "price": f"{offer.price_cents / 100:.2f}",
            "priceCurrency": "EUR",
            "availability": "https://schema.org/InStock",
            "itemCondition": "https://schema.org/NewCondition",
            "seller": {"@type": "Organization", "name": partner.name},
        },
    }
    return data
