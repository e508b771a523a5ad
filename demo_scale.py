"""Catalogues and order histories at scale, inserted with Core in a few statements.

For the benchmarks and the tests that check a page costs the same at ten rows as at ten
thousand; `comptoir demo load` stays the small, readable demo.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select

from commerce.models import (
    Order,
    OrderLine,
    Partner,
    PartnerProduct,
    PaymentStatus,
    Product,
    ProductSku,
)
from commissions.models import LedgerEntry, OrderAttribution, Reseller, ResellerClient
from extensions import db

FAMILIES = ("office", "microsoft365", "windows", "visio", "project", "server")
VAT = Decimal("20.00")
# Rows per INSERT: well under SQLite's and PostgreSQL's limits on bound parameters.
CHUNK = 500


def _insert(model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        db.session.execute(insert(model), rows[start:start + CHUNK])


def bulk_catalogue(partner: Partner, count: int, *, prefix: str = "BULK") -> list[uuid.UUID]:
    """Add `count` software products to the catalogue and to the partner's offers, after its
    own; the families take turns. Returns the products' ids; the caller commits."""
    first = db.session.scalar(select(func.coalesce(func.max(PartnerProduct.position), -1))
                              .where(PartnerProduct.partner_id == partner.id)) + 1
    products, skus, offers = [], [], []
    for n in range(count):
        product_id = uuid.uuid4()
        family = FAMILIES[n % len(FAMILIES)]
        code = f"{prefix}-{n:05d}"
        price = 4900 + (n % 50) * 1000
        products.append({
            "id": product_id, "code": code, "kind": "software", "family": family,
            "name": f"{family.title()} {prefix.title()} {n:05d}", "edition": "Standard",
            "platform": "windows", "seats": 1, "seat_unit": "device",
            "licence_type": "perpetual", "list_price_cents": price, "vat_rate": VAT,
            "description": f"Generated product {n} of {count}.",
            "image": f"img/products/{family}.svg", "is_active": True, "translations": {},
        })
        skus += [{"id": uuid.uuid4(), "product_id": product_id, "wholesaler_code": w,
                  "sku": f"{w[:2].upper()}-{code}"} for w in ("nexway", "arvato")]
        offers.append({"id": uuid.uuid4(), "partner_id": partner.id, "product_id": product_id,
                       "price_cents": price, "available": True, "position": first + n})
    _insert(Product, products)
    _insert(ProductSku, skus)
    _insert(PartnerProduct, offers)
    return [row["id"] for row in products]


def bulk_orders(reseller: Reseller, product: Product, count: int, *, paid_since: datetime,
                prefix: str = "B") -> None:
    """`count` paid one-line orders of `product` that `reseller` brought, a minute apart from
    `paid_since`, from as many clients attached to the reseller, each credited an accrual
    payable two days after its payment. The caller commits."""
    orders, lines, attributions, clients, entries = [], [], [], [], []
    price, net = product.list_price_cents, product.list_price_cents * 100 // 120
    for n in range(count):
        order_id, line_id = uuid.uuid4(), uuid.uuid4()
        at = paid_since + timedelta(minutes=n)
        email = f"{prefix.lower()}-client-{n:05d}@example.com"
        orders.append({
            "id": order_id, "number": f"{prefix}{n:08d}", "partner_id": reseller.partner_id,
            "email": email, "name": f"Client {n:05d}", "total_cents": price,
            "vat_cents": price - net, "payment_status": PaymentStatus.PAID.value,
            "created_at": at, "paid_at": at, "gateway": "test",
        })
        lines.append({
            "id": line_id, "order_id": order_id, "product_id": product.id, "position": 0,
            "product_code": product.code, "product_name": product.name, "quantity": 1,
            "unit_price_cents": price, "vat_rate": VAT, "vat_cents": price - net,
            "total_cents": price,
        })
        attributions.append({"id": uuid.uuid4(), "order_id": order_id,
                             "reseller_id": reseller.id, "rule": "code", "created_at": at})
        clients.append({"id": uuid.uuid4(), "partner_id": reseller.partner_id,
                        "reseller_id": reseller.id, "email": email, "attached_at": at,
                        "rule": "code", "source_order_id": order_id})
        entries.append({"id": uuid.uuid4(), "reseller_id": reseller.id, "order_id": order_id,
                        "order_line_id": line_id, "kind": "accrual", "amount_cents": net // 10,
                        "rule": "bulk", "created_at": at, "payable_at": at + timedelta(days=2)})
    for model, rows in ((Order, orders), (OrderLine, lines), (OrderAttribution, attributions),
                        (ResellerClient, clients), (LedgerEntry, entries)):
        _insert(model, rows)
