"""What an order's invoice and a refund's credit note say, built from the order as it was paid.

The seller is the merchant of record: the partner's legal identity, or the platform's
(`COMPTOIR_PLATFORM_*`). The buyer is a business when it gave a company name or a VAT number.
Lines carry the VAT charged on each order line (commerce/tax.py); nothing is recomputed except
the share of VAT inside a line refunded for less than its whole amount.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

from flask import current_app

from commerce.merchant import merchant_of
from commerce.models import MerchantOfRecord, Order, OrderLine, Refund, TaxTreatment
from invoicing.document import DocumentKind, DocumentLine, InvoiceDocument, Party, Waiver
from invoicing.models import PLATFORM

PAYMENT_METHODS = {"stripe": "card", "test": "card", "partner": "partner"}
_POSTCODE_CITY = re.compile(r"^\s*(\d{4,5})\s+(.+?)\s*$")


def paris_date(moment: datetime) -> date:
    """The calendar day in France: invoices are dated and numbered by it."""
    return moment.astimezone(ZoneInfo(current_app.config.get("TIMEZONE", "Europe/Paris"))).date()


def merchant_key(order: Order) -> str:
    """Whose series an order's invoice takes its number from."""
    if order.partner.merchant_of_record == MerchantOfRecord.PARTNER:
        return str(order.partner_id)
    return PLATFORM


def _address(office: str) -> tuple[str, str, str]:
    """Split "12 quai Saint-Antoine, 69002 Lyon" into street, postcode and city."""
    street, _, rest = office.rpartition(",")
    match = _POSTCODE_CITY.match(rest)
    if street and match:
        return street.strip(), match.group(1), match.group(2)
    return office.strip(), "", ""


def seller_of(order: Order) -> Party:
    """The merchant of record as its invoices name it (commerce/merchant.py)."""
    merchant = merchant_of(order.partner)
    line1, postcode, city = _address(merchant.registered_office)
    return Party(name=merchant.legal_name or order.partner.name, line1=line1, postcode=postcode,
                 city=city, country="FR", legal_form=merchant.legal_form, siren=merchant.siren,
                 rcs_city=merchant.rcs_city, vat_number=merchant.vat_number,
                 email="" if merchant.is_platform else order.partner.support_email)


def is_business(order: Order) -> bool:
    return bool(order.company.strip() or order.vat_number.strip())


def buyer_of(order: Order) -> Party:
    business = is_business(order)
    company = order.company.strip()
    return Party(
        name=company or order.name,
        line1=order.billing_line1,
        postcode=order.billing_postcode,
        city=order.billing_city,
        country=order.billing_country,
        vat_number=order.vat_number.strip() if business else "",
        email=order.email,
        contact=order.name if company else "",
    )


def _line(line: OrderLine, total_cents: int | None = None) -> DocumentLine:
    """An order line on a document: whole, or for part of its amount (a partial refund)."""
    total = line.total_cents if total_cents is None else total_cents
    if total == line.total_cents:
        vat = line.vat_cents
    elif line.total_cents:
        vat = int((Decimal(total) * line.vat_cents / line.total_cents)
                  .quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    else:
        vat = 0
    return DocumentLine(description=line.product_name, quantity=line.quantity,
                        net_cents=total - vat, vat_rate=Decimal(line.vat_rate), vat_cents=vat,
                        product_code=line.product_code)


def _common(order: Order) -> dict[str, object]:
    return {
        "currency": order.currency,
        "seller": seller_of(order),
        "buyer": buyer_of(order),
        "buyer_is_business": is_business(order),
        "order_number": order.number,
        "locale": order.locale or "fr",
        "reverse_charge": order.tax_treatment == TaxTreatment.REVERSE_CHARGE,
        "vat_country": order.vat_country,
        "payment_method": PAYMENT_METHODS.get(order.gateway, order.gateway),
    }


def invoice_document(order: Order, number: str, issued_on: date) -> InvoiceDocument:
    """The invoice of a paid order: every line, add-ons included, and the buyer's waiver."""
    waiver = (Waiver(consented_at=order.consent_at,
                     wording_version=order.consent_wording_version or "")
              if order.consent_at is not None else None)
    return InvoiceDocument(
        kind=DocumentKind.INVOICE, number=number, issued_on=issued_on,
        lines=tuple(_line(line) for line in order.lines),
        paid_on=paris_date(order.paid_at) if order.paid_at else None,
        waiver=waiver,
        **_common(order),  # type: ignore[arg-type]
    )


def credit_note_document(refund: Refund, number: str, issued_on: date,
                         invoice_number: str, invoice_date: date) -> InvoiceDocument:
    """A refund's credit note: the refunded lines' amounts, referring to the invoice."""
    order = refund.order
    lines = [_line(rl.order_line, rl.amount_cents)
             for rl in sorted(refund.lines, key=lambda rl: rl.order_line.position)]
    given = sum(line.total_cents for line in lines)
    if refund.amount_cents != given and order.lines:
        # Money given back that no refund line accounts for (a refund made at the gateway for
        # an amount of its own): one line at the order's first rate.
        first = order.lines[0]
        extra = refund.amount_cents - given
        vat = int((Decimal(extra) * first.vat_rate / (100 + first.vat_rate))
                  .quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
        label = "Refund" if (order.locale or "fr").startswith("en") else "Remboursement"
        lines.append(DocumentLine(description=f"{label} {refund.sequence}", quantity=1,
                                  net_cents=extra - vat, vat_rate=Decimal(first.vat_rate),
                                  vat_cents=vat))
    return InvoiceDocument(
        kind=DocumentKind.CREDIT_NOTE, number=number, issued_on=issued_on,
        lines=tuple(lines),
        paid_on=paris_date(refund.completed_at) if refund.completed_at else None,
        refers_to_number=invoice_number, refers_to_date=invoice_date,
        **_common(order),  # type: ignore[arg-type]
    )
