"""Products' pictures as pages ask for them: one rendition per width, kept for ever by the
browser and any CDN once addressed by the picture's digest."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, request, url_for

from commerce.models import Product
from partners.pictures import rendition, widths_of
from storefront.shop.views import bp

FALLBACK = "img/products/{family}.svg"
FAMILIES_DRAWN = {"office", "microsoft365", "windows", "visio", "project", "server", "addon"}


@bp.get("/media/products/<code>/<int:width>.webp")
def product_picture(code: str, width: int) -> Response:
    found = rendition(code, width)
    if found is None:
        abort(404)
    response = Response(found.data, mimetype=found.mime)
    current = request.args.get("v") == found.digest
    # Addressed by its digest, a rendition never changes; otherwise it may, soon.
    response.headers["Cache-Control"] = ("public, max-age=31536000, immutable" if current
                                         else "public, max-age=300")
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    response.set_etag(f"{found.digest}-{width}")
    return response.make_conditional(request)


@bp.app_template_global()
def product_picture_attrs(product: Product, shown: int, sizes: str | None = None) -> dict[str, Any]:
    """The attributes of a product's <img> shown `shown` CSS pixels wide: its renditions in a
    srcset with their sizes, its description; the family's drawing when it has no picture."""
    if product.picture_digest and product.picture_width and product.picture_height:
        widths = widths_of(product)
        first = next((w for w in widths if w >= shown), widths[-1])

        def address(width: int) -> str:
            return url_for("shop.product_picture", code=product.code, width=width,
                           v=product.picture_digest)

        return {
            "src": address(first),
            "srcset": ", ".join(f"{address(w)} {w}w" for w in widths),
            "sizes": sizes or f"{shown}px",
            "width": shown,
            "height": round(shown * product.picture_height / product.picture_width),
            "alt": product.display_picture_alt,
        }
    family = product.family if product.family in FAMILIES_DRAWN else "office"
    return {"src": url_for("static", filename=product.image or FALLBACK.format(family=family)),
            "width": shown, "height": shown, "alt": ""}
