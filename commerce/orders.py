"""Placing an order: prices and VAT from the database, never from the buyer's input."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select

from commerce.models import (
    Order,
    OrderLine,
    Partner,
    PartnerProduct,
    Product,
    ProductKind,
    User,
)
from commerce.money import vat_included
from commerce.numbers import next_order_number
from extensions import db

ADDON_BACKUP = "ADDON-BACKUP-2Y"
ADDON_INSTALL = "ADDON-INSTALL"
ADDON_CODES = (ADDON_BACKUP, ADDON_INSTALL)
MAX_QUANTITY = 10
MAX_LINES = 20


class OrderError(ValueError):
    """An order that cannot be placed as asked; field names the culprit."""

    def __init__(self, message: str, field: str = "lines") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class LineRequest:
    product_code: str
    quantity: int
    addons: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuyerDetails:
    email: str
    name: str
    company: str = ""
    vat_number: str = ""
    billing_country: str = "FR"
    locale: str = "fr"


@dataclass
class PricedLine:
    product: Product
    quantity: int
    unit_price_cents: int
    addons: list[PricedLine] = field(default_factory=list)

    @property
    def total_cents(self) -> int:
        return self.unit_price_cents * self.quantity

    @property
    def total_with_addons_cents(self) -> int:
        return self.total_cents + sum(a.total_cents for a in self.addons)


def offer_for(partner: Partner, code: str) -> PartnerProduct | None:
    """The partner's live offer for a product code, or None."""
    return db.session.scalar(
        select(PartnerProduct)
        .join(Product)
        .where(
            PartnerProduct.partner_id == partner.id,
            Product.code == code,
            PartnerProduct.available.is_(True),
            Product.is_active.is_(True),
        )
    )


def price_lines(partner: Partner, requests: list[LineRequest]) -> list[PricedLine]:
    """Price each requested line from the partner's catalogue; raise OrderError on anything off."""
    if not requests:
        raise OrderError("the order has no lines")
    if len(requests) > MAX_LINES:
        raise OrderError(f"at most {MAX_LINES} lines an order")
    priced: list[PricedLine] = []
    for req in requests:
        if not 1 <= req.quantity <= MAX_QUANTITY:
            raise OrderError(f"quantity must be between 1 and {MAX_QUANTITY}", "quantity")
        offer = offer_for(partner, req.product_code)
        if offer is None or offer.product.kind != ProductKind.SOFTWARE:
            raise OrderError(f"unknown product: {req.product_code}", "product")
        line = PricedLine(offer.product, req.quantity, offer.price_cents)
        for code in dict.fromkeys(req.addons):
            addon = offer_for(partner, code)
            if code not in ADDON_CODES or addon is None:
                raise OrderError(f"add-on not offered: {code}", "addons")
            line.addons.append(PricedLine(addon.product, req.quantity, addon.price_cents))
        priced.append(line)
    return priced


def place_order(
    partner: Partner,
    requests: list[LineRequest],
    buyer: BuyerDetails,
    *,
    user: User | None = None,
    consent_at: datetime | None = None,
    consent_version: str | None = None,
    gateway: str = "test",
    source: str = "shop",
) -> Order:
    """Create a pending order (the caller commits)."""
    priced = price_lines(partner, requests)
    order = _new_order(
        partner, buyer, user, consent_at, consent_version, gateway, source
    )
    position = 0
    for item in priced:
        parent = _order_line(item, position)
        order.lines.append(parent)
        for addon in item.addons:
            position += 1
            child = _order_line(addon, position)
            parent.addons.append(child)
            order.lines.append(child)
        position += 1
    return _totalled(order)


def place_backup_renewal(
    partner: Partner,
    backup_id: uuid.UUID,
    until: datetime,
    buyer: BuyerDetails,
    *,
    user: User | None = None,
    consent_at: datetime | None = None,
    consent_version: str | None = None,
    gateway: str = "test",
) -> Order:
    """An order for two more years of a licence backup, paid to run to `until` (caller commits)."""
    offer = offer_for(partner, ADDON_BACKUP)
    if offer is None:
        raise OrderError("this shop does not sell the licence backup", "product")
    order = _new_order(partner, buyer, user, consent_at, consent_version, gateway, "shop")
    line = _order_line(PricedLine(offer.product, 1, offer.price_cents), 0)
    line.product_name = f"{offer.product.name} (renewal)"
    line.renews_backup_id, line.renews_until = backup_id, until
    order.lines.append(line)
    return _totalled(order)


def _new_order(
    partner: Partner,
    buyer: BuyerDetails,
    user: User | None,
    consent_at: datetime | None,
    consent_version: str | None,
    gateway: str,
    source: str,
) -> Order:
    order = Order(
        id=uuid.uuid4(),
        number=next_order_number(),
        partner=partner,
        buyer=user,
        source=source,
        email=buyer.email.strip().lower(),
        name=buyer.name.strip(),
        company=buyer.company.strip(),
        vat_number=buyer.vat_number.strip().upper(),
        billing_country=buyer.billing_country,
        locale=buyer.locale,
        gateway=gateway,
        consent_at=consent_at,
        consent_wording_version=consent_version,
        created_at=datetime.now(UTC),
    )
    db.session.add(order)
    return order


def _totalled(order: Order) -> Order:
    order.total_cents = sum(line.total_cents for line in order.lines)
    order.vat_cents = sum(line.vat_cents for line in order.lines)
    return order


def _order_line(item: PricedLine, position: int) -> OrderLine:
    product = item.product
    total = item.total_cents
    return OrderLine(
        id=uuid.uuid4(),
        product=product,
        position=position,
        product_code=product.code,
        product_name=product.name,
        quantity=item.quantity,
        unit_price_cents=item.unit_price_cents,
        vat_rate=product.vat_rate,
        vat_cents=vat_included(total, product.vat_rate),
        total_cents=total,
    )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

