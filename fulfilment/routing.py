"""Which wholesaler supplies a product for a partner, and why."""

from __future__ import annotations

from dataclasses import dataclass

from commerce.models import Partner, Product
from fulfilment.wholesalers import WHOLESALERS


@dataclass(frozen=True)
class Route:
    wholesaler_code: str
    sku: str
    reason: str


class NoRoute(Exception):
    """No wholesaler can supply this product for this partner."""


def select_wholesaler(
    partner: Partner, product: Product, exclude: frozenset[str] = frozenset()
) -> Route:
    """The partner's contracted wholesaler, unless a routing rule sends the product elsewhere."""
    rules = [r for r in product.routing_rules if r.partner_id in (partner.id, None)]
    # A partner's own rule wins over a global one.
    rule = min(rules, key=lambda r: r.partner_id is None, default=None)
    if rule is not None and rule.wholesaler_code not in exclude:
        code, reason = rule.wholesaler_code, f"routing rule: {rule.reason or 'product routed'}"
    elif partner.wholesaler_code not in exclude:
        code, reason = partner.wholesaler_code, f"contracted wholesaler of {partner.slug}"
    else:
        return failover_route(partner, product, exclude, "contracted wholesaler excluded")
    sku = product.sku_for(code)
    if sku is None:
        raise NoRoute(f"{product.code} has no SKU at {code}")
    return Route(code, sku, reason)


def failover_route(partner: Partner, product: Product, exclude: frozenset[str], why: str) -> Route:
    """Another wholesaler, where the partner allows failover."""
    if not partner.allow_failover:
        raise NoRoute(f"{why}; {partner.slug} does not allow failover")
    for code in WHOLESALERS:
        sku = product.sku_for(code)
        if code not in exclude and sku is not None:
            return Route(code, sku, f"failover to {code}: {why}")
    raise NoRoute(f"{why}; no other wholesaler sells {product.code}")
