"""Placing an order: prices and VAT from the database, never from the buyer's input."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

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
from commerce.tax import TaxDecision, home_decision, price_for
from commerce.vies import ViesAnswer
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
    vat_number: str = ""  # cleaned (commerce.tax.clean_vat_number)
    billing_country: str = "FR"
    locale: str = "fr"
    billing_line1: str = ""
    billing_postcode: str = ""
    billing_city: str = ""
    ip_country: str | None = None  # evidence of location beside the billing country
    card_country: str | None = None  # known before payment when a partner took it (API)

    @property
    def is_business(self) -> bool:
        return bool(self.company.strip() or self.vat_number)


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
    tax: TaxDecision | None = None,
    vies: ViesAnswer | None = None,
    terms_version: str | None = None,
) -> Order:
    """Create a pending order (the caller commits).

    `tax` is the VAT the buyer pays (commerce.tax.decide, after VIES for a business abroad);
    French VAT when not given. Each price is the catalogue's with that rate instead of the
    product's own, the price before VAT unchanged.
    """
    priced = price_lines(partner, requests)
    tax = tax or home_decision()
    order = _new_order(
        partner, buyer, user, consent_at, consent_version, gateway, source, tax, vies,
        terms_version,
    )
    position = 0
    for item in priced:
        parent = _order_line(item, position, tax)
        order.lines.append(parent)
        for addon in item.addons:
            position += 1
            child = _order_line(addon, position, tax)
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
    tax: TaxDecision | None = None,
    vies: ViesAnswer | None = None,
    terms_version: str | None = None,
) -> Order:
    """An order for two more years of a licence backup, paid to run to `until` (caller commits)."""
    offer = offer_for(partner, ADDON_BACKUP)
    if offer is None:
        raise OrderError("this shop does not sell the licence backup", "product")
    tax = tax or home_decision()
    order = _new_order(partner, buyer, user, consent_at, consent_version, gateway, "shop", tax,
                       vies, terms_version)
    line = _order_line(PricedLine(offer.product, 1, offer.price_cents), 0, tax)
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
    tax: TaxDecision,
    vies: ViesAnswer | None,
    terms_version: str | None,
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
        billing_line1=buyer.billing_line1.strip(),
        billing_postcode=buyer.billing_postcode.strip(),
        billing_city=buyer.billing_city.strip(),
        ip_country=buyer.ip_country,
        card_country=buyer.card_country,
        tax_treatment=tax.treatment,
        vat_country=tax.country,
        vies_status=vies.status.value if vies else None,
        vies_reference=vies.reference if vies else None,
        vies_checked_at=vies.checked_at if vies else None,
        terms_version=terms_version,
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


def line_amounts(
    base_unit_cents: int, base_rate: Decimal, quantity: int, tax: TaxDecision
) -> tuple[int, int, int]:
    """A line's unit price, total and VAT inside it under `tax`: what an order line holds and
    what checkout shows before the order exists."""
    unit = price_for(base_unit_cents, base_rate, tax.rate)
    total = unit * quantity
    return unit, total, vat_included(total, tax.rate)


def _order_line(item: PricedLine, position: int, tax: TaxDecision) -> OrderLine:
    product = item.product
    unit, total, vat = line_amounts(item.unit_price_cents, product.vat_rate, item.quantity, tax)
    return OrderLine(
        id=uuid.uuid4(),
        product=product,
        position=position,
        product_code=product.code,
        product_name=product.name,
        quantity=item.quantity,
        unit_price_cents=unit,
        vat_rate=tax.rate,
        vat_cents=vat,
        total_cents=total,
    )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

