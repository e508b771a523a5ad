"""The session cart: codes and quantities only; prices come from the catalogue each time."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from flask import g, session

from commerce.models import Partner, ProductKind
from commerce.orders import ADDON_CODES, MAX_LINES, MAX_QUANTITY, LineRequest, line_amounts
from commerce.tax import TaxDecision
from storefront import embed
from storefront.shop.catalogue import Offer, addon_offers, get_offer, offers_by_code

SESSION_KEY = "carts"


class CartError(ValueError):
    """A cart change that cannot be made."""


@dataclass
class CartLine:
    offer: Offer
    quantity: int
    addons: list[Offer] = field(default_factory=list)

    @property
    def total_cents(self) -> int:
        return self.quantity * (self.offer.price_cents + sum(a.price_cents for a in self.addons))


@dataclass(frozen=True)
class QuotedLine:
    name: str
    quantity: int
    total_cents: int
    addon: bool = False


@dataclass(frozen=True)
class Quote:
    """What the order will cost under a given tax, computed as place_order will compute it."""

    tax: TaxDecision
    lines: tuple[QuotedLine, ...]
    vat_cents: int

    @property
    def total_cents(self) -> int:
        return sum(line.total_cents for line in self.lines)

    @property
    def net_cents(self) -> int:
        return self.total_cents - self.vat_cents

    @property
    def rate(self) -> Decimal:
        return self.tax.rate


@dataclass
class Cart:
    lines: list[CartLine]
    dropped: list[str]

    def quote(self, tax: TaxDecision) -> Quote:
        lines: list[QuotedLine] = []
        vat = 0
        for line in self.lines:
            for offer, addon in ((line.offer, False), *((a, True) for a in line.addons)):
                _, total, line_vat = line_amounts(
                    offer.base_price_cents, offer.product.vat_rate, line.quantity, tax
                )
                lines.append(QuotedLine(offer.product.display_name, line.quantity, total, addon))
                vat += line_vat
        return Quote(tax, tuple(lines), vat)

    @property
    def total_cents(self) -> int:
        return sum(line.total_cents for line in self.lines)

    @property
    def count(self) -> int:
        return sum(line.quantity for line in self.lines)

    def requests(self) -> list[LineRequest]:
        return [
            LineRequest(line.offer.code, line.quantity, tuple(a.code for a in line.addons))
            for line in self.lines
        ]


def _raw(partner: Partner) -> dict[str, dict]:  # type: ignore[type-arg]
    carts = session.get(SESSION_KEY, {})
    return dict(carts.get(str(partner.id), {}))


def _save(partner: Partner, raw: dict[str, dict]) -> None:  # type: ignore[type-arg]
    carts = dict(session.get(SESSION_KEY, {}))
    if raw:
        carts[str(partner.id)] = raw
    else:
        carts.pop(str(partner.id), None)
    session[SESSION_KEY] = carts
    g.pop("_carts", None)
    embed.note_event("cart-changed")


def has_items(partner: Partner) -> bool:
    """Whether this visitor has a cart on this shop (without pricing it)."""
    return bool(_raw(partner))


def add(partner: Partner, code: str, quantity: int, addons: list[str]) -> None:
    """Add a product (or more of it) to the partner's cart."""
    if get_offer(partner, code) is None:
        raise CartError("unknown product")
    offered = addon_offers(partner)
    if any(a not in ADDON_CODES or a not in offered for a in addons):
        raise CartError("add-on not offered")
    raw = _raw(partner)
    if code not in raw and len(raw) >= MAX_LINES:
        raise CartError("cart is full")
    current = raw.get(code, {"q": 0, "a": []})
    new_quantity = min(current["q"] + quantity, MAX_QUANTITY)
    raw[code] = {"q": new_quantity, "a": sorted(set(current["a"]) | set(addons))}
    _save(partner, raw)


def set_quantity(partner: Partner, code: str, quantity: int) -> None:
    raw = _raw(partner)
    if code not in raw:
        raise CartError("not in the cart")
    raw[code] = {**raw[code], "q": quantity}
    _save(partner, raw)


def set_addons(partner: Partner, code: str, addons: list[str]) -> None:
    raw = _raw(partner)
    if code not in raw:
        raise CartError("not in the cart")
    offered = addon_offers(partner)
    raw[code] = {**raw[code], "a": sorted(a for a in set(addons) if a in offered)}
    _save(partner, raw)


def remove(partner: Partner, code: str) -> None:
    raw = _raw(partner)
    raw.pop(code, None)
    _save(partner, raw)


def clear(partner: Partner) -> None:
    _save(partner, {})


def count(partner: Partner) -> int:
    """How many items the cart holds, as `load(partner).count`; an empty cart reads nothing."""
    return load(partner).count if _raw(partner) else 0


def load(partner: Partner) -> Cart:
    """The cart priced now; lines no longer on sale are dropped and named.

    One query whatever the cart holds, and once a request: every page shows the cart's count.
    """
    loaded: dict[str, Cart] = g.setdefault("_carts", {})
    cart = loaded.get(str(partner.id))
    if cart is None:
        cart = loaded[str(partner.id)] = _priced(partner)
    return cart


def _priced(partner: Partner) -> Cart:
    raw = _raw(partner)
    if not raw:
        return Cart([], [])
    offers = offers_by_code(partner, raw)
    offered_addons = {code: o for code, o in offers.items() if o.product.kind == ProductKind.ADDON}
    lines: list[CartLine] = []
    dropped: list[str] = []
    for code, item in raw.items():
        offer = offers.get(code)
        quantity = item.get("q", 0)
        if offer is None or not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
            dropped.append(code)
            continue
        addons = [offered_addons[a] for a in item.get("a", []) if a in offered_addons]
        lines.append(CartLine(offer, quantity, addons))
    return Cart(lines, dropped)
