"""An InvoiceDocument as JSON and back, exactly: what the `invoices.content` column keeps.

Dates and datetimes as ISO 8601, rates as decimal strings ("19.00"), amounts as integer cents;
`from_json(to_json(doc)) == doc` for every document.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from invoicing.document import DocumentKind, DocumentLine, InvoiceDocument, Party, Waiver

VERSION = 1


def to_json(doc: InvoiceDocument) -> dict[str, Any]:
    return {
        "version": VERSION,
        "kind": str(doc.kind),
        "number": doc.number,
        "issued_on": doc.issued_on.isoformat(),
        "currency": doc.currency,
        "seller": asdict(doc.seller),
        "buyer": asdict(doc.buyer),
        "buyer_is_business": doc.buyer_is_business,
        "lines": [
            {"description": line.description, "quantity": line.quantity,
             "net_cents": line.net_cents, "vat_rate": str(line.vat_rate),
             "vat_cents": line.vat_cents, "product_code": line.product_code}
            for line in doc.lines
        ],
        "order_number": doc.order_number,
        "locale": doc.locale,
        "reverse_charge": doc.reverse_charge,
        "vat_country": doc.vat_country,
        "paid_on": doc.paid_on.isoformat() if doc.paid_on else None,
        "payment_method": doc.payment_method,
        "refers_to_number": doc.refers_to_number,
        "refers_to_date": doc.refers_to_date.isoformat() if doc.refers_to_date else None,
        "waiver": ({"consented_at": doc.waiver.consented_at.isoformat(),
                    "wording_version": doc.waiver.wording_version} if doc.waiver else None),
        "notes": list(doc.notes),
    }


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def from_json(data: dict[str, Any]) -> InvoiceDocument:
    if data.get("version") != VERSION:
        raise ValueError(f"unknown invoice snapshot version {data.get('version')!r}")
    waiver = data.get("waiver")
    issued_on = _date(data["issued_on"])
    assert issued_on is not None
    return InvoiceDocument(
        kind=DocumentKind(data["kind"]),
        number=data["number"],
        issued_on=issued_on,
        currency=data["currency"],
        seller=Party(**data["seller"]),
        buyer=Party(**data["buyer"]),
        buyer_is_business=bool(data["buyer_is_business"]),
        lines=tuple(
            DocumentLine(description=line["description"], quantity=int(line["quantity"]),
                         net_cents=int(line["net_cents"]), vat_rate=Decimal(line["vat_rate"]),
                         vat_cents=int(line["vat_cents"]), product_code=line["product_code"])
            for line in data["lines"]
        ),
        order_number=data["order_number"],
        locale=data["locale"],
        reverse_charge=bool(data["reverse_charge"]),
        vat_country=data["vat_country"],
        paid_on=_date(data.get("paid_on")),
        payment_method=data.get("payment_method") or "",
        refers_to_number=data.get("refers_to_number"),
        refers_to_date=_date(data.get("refers_to_date")),
        waiver=(Waiver(consented_at=datetime.fromisoformat(waiver["consented_at"]),
                       wording_version=waiver["wording_version"]) if waiver else None),
        notes=tuple(data.get("notes") or ()),
    )
