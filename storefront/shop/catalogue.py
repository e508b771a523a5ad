"""What a partner sells, at the partner's price."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import ColumnElement, Select, and_, exists, func, literal, or_, select, union_all
from sqlalchemy.orm import contains_eager

from commerce.models import Partner, PartnerProduct, Product, ProductKind
from commerce.paging import Page, paginate
from commerce.tax import price_for
from extensions import db
from storefront.shop.pricing import shown_rate

FAMILIES = ("office", "microsoft365", "windows", "visio", "project", "server")
PAGE_SIZE = 24
NOT_LISTED_KINDS = tuple(k.value for k in ProductKind if k != ProductKind.SOFTWARE)
FEATURED = 8


@dataclass(frozen=True)
class Offer:
    """A product at the partner's price: `base_price_cents` as the catalogue writes it (VAT
    included at the product's rate), `price_cents` with the visitor's country's VAT."""

    product: Product
    base_price_cents: int
    vat_rate: Decimal

    @property
    def price_cents(self) -> int:
        return price_for(self.base_price_cents, self.product.vat_rate, self.vat_rate)

    @property
    def code(self) -> str:
        return self.product.code


def _offer(row: PartnerProduct) -> Offer:
    return Offer(row.product, row.price_cents, shown_rate())


def _offers(partner: Partner) -> Select[tuple[PartnerProduct]]:
    """The partner's offers on sale, each with its product in the same row: a page that shows
    a hundred products reads them in one query, not one more per product."""
    return (
        select(PartnerProduct)
        .join(Product)
        .options(contains_eager(PartnerProduct.product))
        .where(
            PartnerProduct.partner_id == partner.id,
            PartnerProduct.available.is_(True),
            Product.is_active.is_(True),
        )
    )


def _listing(
    partner: Partner, family: str | None = None, query: str | None = None
) -> Select[tuple[PartnerProduct]]:
    """The partner's software offers, filtered, in the partner's order (the code, unique,
    keeps pages from overlapping when positions and names tie)."""
    stmt = _offers(partner).where(Product.kind == ProductKind.SOFTWARE)
    if family:
        stmt = stmt.where(Product.family == family)
    if query:
        for word in query.lower().split()[:6]:
            like = f"%{word.replace('%', '').replace('_', '')}%"
            stmt = stmt.where(
                or_(
                    func.lower(Product.name).like(like),
                    func.lower(Product.edition).like(like),
                    func.lower(Product.description).like(like),
                    func.lower(Product.code).like(like),
                )
            )
    return stmt.order_by(PartnerProduct.position, Product.name, Product.code)


def offer_page(
    partner: Partner,
    family: str | None = None,
    query: str | None = None,
    number: int = 1,
    size: int = PAGE_SIZE,
) -> Page[Offer]:
    """Page `number` of the partner's software offers, filtered by family and a free-text
    search; PageNotFound past the last page. Two queries: the count and the page."""
    count = None if family or query else _count_listed(partner)
    return paginate(_listing(partner, family, query), number, size, count=count).map(_offer)


def _count_listed(partner: Partner) -> Select[tuple[int]]:
    """How many software offers the whole listing has, without joining every offer to its
    product: the offers on sale (read from the index alone) less the few whose product is not
    listed (an add-on, or withdrawn), found from the products' index."""
    on_sale = (select(func.count()).select_from(PartnerProduct)
               .where(PartnerProduct.partner_id == partner.id,
                      PartnerProduct.available.is_(True)))
    unlisted = (select(func.count()).select_from(Product)
                .where(or_(Product.kind.in_(NOT_LISTED_KINDS),
                           and_(Product.kind == ProductKind.SOFTWARE,
                                Product.is_active == False)),  # noqa: E712 - indexable
                       _on_sale_here(partner)))
    return select(on_sale.scalar_subquery() - unlisted.scalar_subquery())


def _on_sale_here(partner: Partner) -> ColumnElement[bool]:
    """The product (of the enclosing query) is on sale in the partner's shop: one probe of
    the offers' unique (partner, product) index."""
    return exists().where(PartnerProduct.partner_id == partner.id,
                          PartnerProduct.product_id == Product.id,
                          PartnerProduct.available.is_(True))


def list_offers(
    partner: Partner, family: str | None = None, query: str | None = None,
    limit: int | None = None,
) -> list[Offer]:
    """The partner's software offers, filtered by family and a free-text search."""
    rows = db.session.scalars(_listing(partner, family, query).limit(limit)).all()
    return [_offer(row) for row in rows]


def featured_offers(partner: Partner) -> list[Offer]:
    """The first offers of the partner's catalogue, for its home page."""
    return list_offers(partner, limit=FEATURED)


def get_offer(partner: Partner, code: str) -> Offer | None:
    row = db.session.scalar(_offers(partner).where(Product.code == code))
    return _offer(row) if row else None


def offers_by_code(partner: Partner, codes: Iterable[str]) -> dict[str, Offer]:
    """The offers on sale among these codes, and every add-on, in one query."""
    rows = db.session.scalars(_offers(partner).where(_products(
        or_(Product.code.in_(sorted(set(codes))), Product.kind == ProductKind.ADDON)))).all()
    return {row.product.code: _offer(row) for row in rows}


def _products(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    """Offers of the few products matching `conditions`, found from the products' indexes
    rather than by reading every offer of a large catalogue."""
    return PartnerProduct.product_id.in_(select(Product.id).where(*conditions))


def addon_offers(partner: Partner) -> dict[str, Offer]:
    rows = db.session.scalars(_offers(partner).where(
        _products(Product.kind == ProductKind.ADDON))).all()
    return {row.product.code: _offer(row) for row in rows}


def families(partner: Partner) -> list[str]:
    """The families the partner sells, in FAMILIES' order: one EXISTS per family that walks
    the family's products and stops at the first on sale here, rather than reading the whole
    catalogue for six names."""
    sold = union_all(*(
        select(literal(family).label("family")).where(
            select(Product.id).where(Product.family == family,
                                     Product.kind == ProductKind.SOFTWARE,
                                     Product.is_active.is_(True), _on_sale_here(partner))
            .exists())
        for family in FAMILIES))
    present = set(db.session.scalars(select(sold.subquery().c.family)))
    return [f for f in FAMILIES if f in present]
