"""What a partner sells, at the partner's price."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, or_, select

from commerce.models import Partner, PartnerProduct, Product, ProductKind
from commerce.tax import price_for
from extensions import db
from storefront.shop.pricing import shown_rate

FAMILIES = ("office", "microsoft365", "windows", "visio", "project", "server")


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


def _offers(partner: Partner):  # type: ignore[no-untyped-def]
    return (
        select(PartnerProduct)
        .join(Product)
        .where(
            PartnerProduct.partner_id == partner.id,
            PartnerProduct.available.is_(True),
            Product.is_active.is_(True),
        )
    )


def list_offers(
    partner: Partner, family: str | None = None, query: str | None = None
) -> list[Offer]:
    """The partner's software offers, filtered by family and a free-text search."""
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
    rows = db.session.scalars(stmt.order_by(PartnerProduct.position, Product.name)).all()
    return [_offer(row) for row in rows]


def get_offer(partner: Partner, code: str) -> Offer | None:
    row = db.session.scalar(_offers(partner).where(Product.code == code))
    return _offer(row) if row else None


def addon_offers(partner: Partner) -> dict[str, Offer]:
    rows = db.session.scalars(_offers(partner).where(Product.kind == ProductKind.ADDON)).all()
    return {row.product.code: _offer(row) for row in rows}


def families(partner: Partner) -> list[str]:
    present = set(
        db.session.scalars(
            _offers(partner)
            .with_only_columns(Product.family)
            .where(Product.kind == ProductKind.SOFTWARE)
            .distinct()
        )
    )
    return [f for f in FAMILIES if f in present]
