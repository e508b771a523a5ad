"""The JSON shapes of products and orders, as the OpenAPI document describes them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import current_app

from backups.vault.models import Backup
from commerce.links import DEFAULT_PUBLIC_URL
from commerce.models import Order, OrderLine, PartnerProduct
from commerce.orders import ADDON_BACKUP
from fulfilment.delivery import UnitView
from invoicing.models import Invoice

CURRENCY = "EUR"


@dataclass(frozen=True)
class LineDelivery:
    """Where fulfilment stands with one line, and the units it delivered."""

    status: str
    units: list[dict[str, Any]] = field(default_factory=list)


def rate(value: Decimal) -> str:
    """Write a VAT rate with two decimals: Decimal("20") -> "20.00"."""
    return f"{Decimal(value):.2f}"


def timestamp(value: datetime | None) -> str | None:
    """Write an aware datetime as ISO 8601 with its offset."""
    return value.isoformat() if value is not None else None


def product_json(offer: PartnerProduct) -> dict[str, Any]:
    """Return one catalogue entry at the partner's price."""
    product = offer.product
    return {
        "code": product.code,
        "name": product.name,
        "kind": str(product.kind),
        "family": product.family,
        "edition": product.edition,
        "platform": product.platform,
        "licence_type": str(product.licence_type),
        "term_months": product.term_months,
        "seats": product.seats,
        "seat_unit": product.seat_unit,
        "price_cents": offer.price_cents,
        "vat_rate": rate(product.vat_rate),
        "currency": CURRENCY,
    }


def invoice_url(invoice: Invoice) -> str:
    """The document's PDF in the API, on the platform's public address."""
    public = (current_app.config.get("PUBLIC_URL") or DEFAULT_PUBLIC_URL).rstrip("/")
    return f"{public}/api/v1/orders/{invoice.order_id}/invoices/{invoice.number}"


def invoice_json(invoice: Invoice, url: str | None) -> dict[str, Any]:
    """An invoice or a credit note: its number, date, totals and the address of its PDF."""
    shown: dict[str, Any] = {
        "number": invoice.number,
        "kind": str(invoice.kind),
        "issued_on": invoice.issued_on.isoformat(),
        "currency": invoice.currency,
        "net_cents": invoice.net_cents,
        "vat_cents": invoice.vat_cents,
        "total_cents": invoice.total_cents,
        "url": url,
    }
    if invoice.refers_to is not None:
        shown["refers_to"] = invoice.refers_to.number
    return shown


def order_json(
    order: Order,
    reseller_code: str | None,
    backups: Mapping[str, Backup],
    deliveries: Mapping[uuid.UUID, LineDelivery],
    invoice: dict[str, Any] | None = None,
    credit_notes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Return an order with its lines, add-ons, statuses, backups and delivered units."""
    return {
        "id": str(order.id),
        "number": order.number,
        "source": order.source,
        "created_at": timestamp(order.created_at),
        "paid_at": timestamp(order.paid_at),
        "payment_status": str(order.payment_status),
        "fulfilment_status": str(order.fulfilment_status),
        "currency": order.currency,
        "total_cents": order.total_cents,
        "vat_cents": order.vat_cents,
        "net_cents": order.net_cents,
        "buyer": {
            "email": order.email,
            "name": order.name,
            "company": order.company,
            "vat_number": order.vat_number,
            "billing_country": order.billing_country,
            "billing_address": {"line1": order.billing_line1,
                                "postcode": order.billing_postcode,
                                "city": order.billing_city} if order.billing_line1 else None,
        },
        "tax": {"treatment": str(order.tax_treatment), "country": order.vat_country,
                "vies_reference": order.vies_reference},
        "locale": order.locale,
        "reseller_code": reseller_code,
        "lines": [
            _line_json(line, backups, deliveries.get(line.id)) for line in order.product_lines
        ],
        "invoice": invoice,
        "credit_notes": credit_notes or [],
    }


def _amounts(line: OrderLine) -> dict[str, Any]:
    return {
        "id": str(line.id),
        "product": line.product_code,
        "name": line.product_name,
        "quantity": line.quantity,
        "unit_price_cents": line.unit_price_cents,
        "vat_rate": rate(line.vat_rate),
        "vat_cents": line.vat_cents,
        "total_cents": line.total_cents,
    }


def _line_json(
    line: OrderLine, backups: Mapping[str, Backup], delivery: LineDelivery | None
) -> dict[str, Any]:
    return {
        **_amounts(line),
        "addons": [_amounts(addon) for addon in line.addons],
        "total_with_addons_cents": line.total_cents + sum(a.total_cents for a in line.addons),
        "delivery_status": delivery.status if delivery else None,
        "backup": _backup_json(line, backups.get(backup_ref(line))),
        "units": delivery.units if delivery else [],
    }


def unit_json(unit: UnitView) -> dict[str, Any]:
    """Return one delivered unit: its product key, download and signed licence."""
    return {
        "unit": unit.unit,
        "product_key": unit.product_key,
        "download_url": unit.download_url,
        "download_expires_at": timestamp(unit.download_expires_at),
        "licence_number": unit.licence_number,
        "licence_token": unit.licence_token,
    }


def backup_ref(line: OrderLine) -> str:
    """Return the vault's reference for an order line's backup: the line's id."""
    return str(line.id)


def _backup_json(line: OrderLine, backup: Backup | None) -> dict[str, Any] | None:
    if backup is not None:
        return {"status": str(backup.display_status()), "expires_at": timestamp(backup.expires_at)}
    if line.has_addon(ADDON_BACKUP):
        return {"status": "pending", "expires_at": None}
    return None
