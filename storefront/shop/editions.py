"""A product line's editions on its product pages: the picker (edition, then PC or Mac) and the
comparison of the editions side by side, from the partner's own offers."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from commerce.models import PartnerProduct, Product, ProductKind
from extensions import db
from storefront.labels import licence_label, platform_label, seats_label
from storefront.shop.catalogue import Offer
from storefront.shop.pricing import shown_rate
from storefront.shop.views import bp
from storefront.tenancy import current_partner


@dataclass(frozen=True)
class Choice:
    """One way to go from the product shown: to `offer` (the product itself when current)."""

    offer: Offer
    current: bool


@dataclass(frozen=True)
class Column:
    """One edition in the comparison, its texts ready to print (the table writes each several
    times: written once here, they cost the page nothing more)."""

    code: str
    name: str
    price_cents: int
    seats: str
    licence: str
    platforms: str
    description: str
    current: bool

    @classmethod
    def of(cls, offer: Offer, platforms: list[str], current: bool) -> Column:
        product = offer.product
        return cls(offer.code, product.display_name, offer.price_cents, seats_label(product),
                   licence_label(product), ", ".join(platform_label(p) for p in platforms),
                   product.display_description, current)


@dataclass(frozen=True)
class Editions:
    editions: list[Choice]  # one per edition, on the shown platform where it exists
    platforms: list[Choice]  # the shown edition on each platform it has
    columns: list[Column]

    @property
    def worth_showing(self) -> bool:
        return len(self.editions) > 1 or len(self.platforms) > 1


def _line_offers(line: str) -> list[Offer]:
    """The partner's offers of a product line, in the catalogue's order, in one query."""
    partner = current_partner()
    rows = db.session.scalars(
        select(PartnerProduct).join(PartnerProduct.product)
        .options(contains_eager(PartnerProduct.product))
        .where(PartnerProduct.partner_id == partner.id, PartnerProduct.available.is_(True),
               Product.is_active.is_(True), Product.kind == ProductKind.SOFTWARE,
               Product.line == line)
        .order_by(PartnerProduct.position, Product.name)
    ).all()
    rate = shown_rate()
    return [Offer(row.product, row.price_cents, rate) for row in rows]


@bp.app_template_global()
def editions_of(offer: Offer) -> Editions | None:
    """The picker and the comparison for the product shown, or None when its line has only it."""
    line = offer.product.line
    if not line:
        return None
    offers = _line_offers(line)
    shown = offer.product
    by_edition: dict[str, list[Offer]] = {}
    for o in offers:
        by_edition.setdefault(o.product.edition, []).append(o)
    if shown.edition not in by_edition:
        return None

    def variant(edition: str) -> Offer:
        same = [o for o in by_edition[edition] if o.product.platform == shown.platform]
        return same[0] if same else by_edition[edition][0]

    editions = [Choice(variant(e), e == shown.edition) for e in by_edition]
    platforms = [Choice(o, o.product.code == shown.code) for o in by_edition[shown.edition]]
    columns = [Column.of(c.offer, [o.product.platform for o in by_edition[c.offer.product.edition]],
                         c.current) for c in editions]
    result = Editions(editions, platforms if len(platforms) > 1 else [], columns)
    return result if result.worth_showing else None
