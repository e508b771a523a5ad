"""What an invoice or a credit note says, frozen at issue: the renderers' only input.

`invoicing/pdf.py` turns an `InvoiceDocument` into a PDF/A-3 carrying its Factur-X XML
(`invoicing/facturx.py`); the rest of the package builds documents from orders and refunds.
Amounts are integer cents; a line's VAT is the one charged on it (commerce/tax.py), so the
document's totals are the money that changed hands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum


class DocumentKind(StrEnum):
    INVOICE = "invoice"  # Factur-X type code 380
    CREDIT_NOTE = "credit_note"  # type code 381


@dataclass(frozen=True)
class Party:
    """A seller or a buyer as the invoice names them."""

    name: str  # the seller's legal name; the buyer's company, else their name
    line1: str = ""
    postcode: str = ""
    city: str = ""
    country: str = "FR"  # ISO 3166-1 alpha-2
    legal_form: str = ""
    siren: str = ""  # sellers: the 9-digit SIREN
    rcs_city: str = ""
    vat_number: str = ""  # the seller's; the buyer's when a business gave one
    email: str = ""
    contact: str = ""  # a business buyer's person, when the name above is the company's


@dataclass(frozen=True)
class DocumentLine:
    description: str
    quantity: int
    net_cents: int  # before VAT, the whole line
    vat_rate: Decimal  # percent: Decimal("19.00"); 0 under reverse charge
    vat_cents: int
    product_code: str = ""

    @property
    def total_cents(self) -> int:
        return self.net_cents + self.vat_cents


@dataclass(frozen=True)
class VatAmount:
    """One line of the VAT breakdown: a rate, what it applies to, what it comes to."""

    rate: Decimal
    net_cents: int
    vat_cents: int
    category: str  # EN 16931 VAT category code: "S" standard, "AE" reverse charge


@dataclass(frozen=True)
class Waiver:
    """The buyer's consent to immediate delivery and waiver of withdrawal (L221-28 13°)."""

    consented_at: datetime
    wording_version: str


@dataclass(frozen=True)
class InvoiceDocument:
    kind: DocumentKind
    number: str
    issued_on: date
    currency: str
    seller: Party
    buyer: Party
    buyer_is_business: bool
    lines: tuple[DocumentLine, ...]
    order_number: str
    locale: str = "fr"  # the buyer's language: the PDF's wording
    reverse_charge: bool = False  # prints the mention, VAT category AE at 0 %
    vat_country: str = "FR"  # whose VAT was charged
    paid_on: date | None = None
    payment_method: str = ""  # "card", shown in the buyer's language
    refers_to_number: str | None = None  # a credit note's invoice
    refers_to_date: date | None = None
    waiver: Waiver | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def net_cents(self) -> int:
        return sum(line.net_cents for line in self.lines)

    @property
    def vat_cents(self) -> int:
        return sum(line.vat_cents for line in self.lines)

    @property
    def total_cents(self) -> int:
        return self.net_cents + self.vat_cents

    @property
    def vat_breakdown(self) -> tuple[VatAmount, ...]:
        """Per rate, summing the lines: the VAT charged, not recomputed."""
        rates: dict[Decimal, list[int]] = {}
        for line in self.lines:
            sums = rates.setdefault(line.vat_rate, [0, 0])
            sums[0] += line.net_cents
            sums[1] += line.vat_cents
        category = "AE" if self.reverse_charge else "S"
        return tuple(
            VatAmount(rate, net, vat, category) for rate, (net, vat) in sorted(rates.items())
        )
