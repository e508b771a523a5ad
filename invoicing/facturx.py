"""The Factur-X XML of an invoice or a credit note: UN/CEFACT CII, EN 16931 profile.

`build_xml(document)` writes the CrossIndustryInvoice that `invoicing/pdf.py` embeds in the
PDF/A-3. Amounts come from integer cents as two-digit decimals, never through floats; the order
of elements follows the Factur-X 1.09 EN 16931 schema; tests check each kind of document
against the schema and the business rules (schematrons) shipped in the `factur-x` package.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from lxml import etree

from invoicing.document import DocumentKind, DocumentLine, InvoiceDocument, Party, VatAmount

GUIDELINE_EN16931 = "urn:cen.eu:en16931:2017"
# BT-23, the French e-invoicing "cadre de facturation": S2, services invoiced already paid.
BUSINESS_PROCESS_PAID_SERVICES = "S2"
RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
NSMAP = {"rsm": RSM, "ram": RAM, "qdt": QDT, "udt": UDT}

TYPE_CODES = {DocumentKind.INVOICE: "380", DocumentKind.CREDIT_NOTE: "381"}
# UNTDID 4461: 48 bank card; 30 credit transfer; 1 not defined.
# UNTDID 4461: 48 bank card, 30 credit transfer, ZZZ mutually defined (the buyer paid the
# partner whose site took the order through the API).
PAYMENT_MEANS = {"card": "48", "transfer": "30", "partner": "ZZZ"}
REVERSE_CHARGE_REASON = "Autoliquidation"
REVERSE_CHARGE_CODE = "VATEX-EU-AE"
SIREN_SCHEME = "0002"  # ISO 6523 ICD for the French SIRENE register
UNIT_CODE = "C62"  # UN/ECE Rec. 20 "one": a unit


# The legal mentions both the XML's notes and the PDF carry, in each language a document may use.
MENTIONS: dict[str, dict[str, str]] = {
    "fr": {
        "penalties": "Pénalités de retard : taux d'intérêt appliqué par la BCE à son opération "
                     "de refinancement la plus récente, majoré de 10 points (C. com. L441-10).",
        "indemnity": "Indemnité forfaitaire pour frais de recouvrement en cas de retard de "
                     "paiement : 40 € (C. com. L441-10 et D441-5).",
        "discount": "Pas d'escompte pour paiement anticipé.",
        "reverse_charge": "Autoliquidation — TVA due par le preneur (article 196 de la "
                          "directive 2006/112/CE)",
        "paid_on": "Payée {method} le {date}.",
        "refunded_on": "Remboursé {method} le {date}.",
        "method_card": "par carte",
        "method_transfer": "par virement",
        "method_partner": "auprès du partenaire de vente",
        "method_other": "",
    },
    "en": {
        "penalties": "Late-payment penalties: the interest rate of the ECB's most recent "
                     "refinancing operation plus 10 points (French Commercial Code L441-10).",
        "indemnity": "Fixed indemnity for recovery costs in case of late payment: EUR 40 "
                     "(French Commercial Code L441-10 and D441-5).",
        "discount": "No discount for early payment.",
        "reverse_charge": "Reverse charge — VAT due by the customer (article 196 of "
                          "Directive 2006/112/EC)",
        "paid_on": "Paid {method} on {date}.",
        "refunded_on": "Refunded {method} on {date}.",
        "method_card": "by card",
        "method_transfer": "by transfer",
        "method_partner": "to the sales partner",
        "method_other": "",
    },
}


class FacturXError(ValueError):
    """The document cannot be written as EN 16931 (a missing mandatory part, a bad value)."""


def amount(cents: int) -> str:
    """Return integer cents as a decimal string with two digits: 1999 -> '19.99'."""
    if not isinstance(cents, int) or isinstance(cents, bool):
        raise FacturXError(f"amounts are integer cents, not {cents!r}")
    return str((Decimal(cents) / 100).quantize(Decimal("0.01")))


def rate(value: Decimal) -> str:
    """Return a VAT rate in percent with two digits: Decimal('19') -> '19.00'."""
    if not isinstance(value, Decimal):
        raise FacturXError(f"VAT rates are Decimal percents, not {value!r}")
    return str(value.quantize(Decimal("0.01")))


def unit_price(line: DocumentLine) -> str:
    """Return the net price of one unit: two digits when exact, else rounded to four."""
    price = Decimal(line.net_cents) / 100 / line.quantity
    cents = price.quantize(Decimal("0.01"))
    return str(cents if cents == price else price.quantize(Decimal("0.0001")))


def mention(document: InvoiceDocument, key: str, **values: str) -> str:
    """Return a legal mention in the document's language (French unless it is English)."""
    table = MENTIONS["en"] if document.locale.lower().startswith("en") else MENTIONS["fr"]
    return table[key].format(**values)


def penalty_notes(document: InvoiceDocument) -> list[tuple[str, str]]:
    """Return the notes a business buyer's invoice must carry, with their subject codes."""
    if not document.buyer_is_business:
        return []
    return [("PMD", mention(document, "penalties")), ("PMT", mention(document, "indemnity")),
            ("AAB", mention(document, "discount"))]


def payment_terms(document: InvoiceDocument) -> str:
    """Return how and when the document was settled ("Paid by card on ..."), or ''."""
    if not document.paid_on:
        return ""
    key = "refunded_on" if document.kind is DocumentKind.CREDIT_NOTE else "paid_on"
    method = f"method_{document.payment_method}"
    if method not in MENTIONS["fr"]:
        method = "method_other"
    text = mention(document, key, method=mention(document, method),
                   date=format_date(document, document.paid_on))
    return " ".join(text.split())  # no double space when the method is unnamed


def format_date(document: InvoiceDocument, day: date) -> str:
    """Return a date as the document's readers write it: 06/12/2026, or 2026-12-06."""
    if document.locale.lower().startswith("en"):
        return day.isoformat()
    return day.strftime("%d/%m/%Y")


def build_xml(document: InvoiceDocument) -> bytes:
    """Return the UTF-8 CrossIndustryInvoice XML of a document (EN 16931 profile)."""
    check(document)
    root = etree.Element(_rsm("CrossIndustryInvoice"), nsmap=NSMAP)
    context = _sub(root, _rsm("ExchangedDocumentContext"))
    if document.paid_on:
        _sub(_sub(context, _ram("BusinessProcessSpecifiedDocumentContextParameter")),
             _ram("ID"), BUSINESS_PROCESS_PAID_SERVICES)
    _sub(_sub(context, _ram("GuidelineSpecifiedDocumentContextParameter")), _ram("ID"),
         GUIDELINE_EN16931)

    header = _sub(root, _rsm("ExchangedDocument"))
    _sub(header, _ram("ID"), document.number)
    _sub(header, _ram("TypeCode"), TYPE_CODES[document.kind])
    _date(_sub(header, _ram("IssueDateTime")), document.issued_on)
    for subject, text in _notes(document):
        note = _sub(header, _ram("IncludedNote"))
        _sub(note, _ram("Content"), text)
        if subject:
            _sub(note, _ram("SubjectCode"), subject)

    transaction = _sub(root, _rsm("SupplyChainTradeTransaction"))
    for number, line in enumerate(document.lines, start=1):
        _line(transaction, number, line, document)
    _agreement(transaction, document)
    delivery = _sub(transaction, _ram("ApplicableHeaderTradeDelivery"))
    delivered_on = document.paid_on or document.issued_on
    event = _sub(delivery, _ram("ActualDeliverySupplyChainEvent"))
    _date(_sub(event, _ram("OccurrenceDateTime")), delivered_on)
    _settlement(transaction, document)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def check(document: InvoiceDocument) -> None:
    """Refuse a document that EN 16931 cannot carry, naming what is wrong."""
    problems: list[str] = []
    if not document.number:
        problems.append("the document has no number")
    if not document.lines:
        problems.append("the document has no lines")
    if not document.seller.name:
        problems.append("the seller has no name")
    if not document.seller.vat_number:
        problems.append("the seller has no VAT number")
    if not document.buyer.name:
        problems.append("the buyer has no name")
    if len(document.currency) != 3 or not document.currency.isalpha():
        problems.append(f"currency {document.currency!r} is not an ISO 4217 code")
    for party, role in ((document.seller, "seller"), (document.buyer, "buyer")):
        if len(party.country) != 2 or not party.country.isalpha():
            problems.append(f"the {role}'s country {party.country!r} is not an ISO 3166 code")
    for line in document.lines:
        if line.quantity <= 0:
            problems.append(f"line {line.description!r} has quantity {line.quantity}")
        if document.reverse_charge and (line.vat_rate != 0 or line.vat_cents != 0):
            problems.append(f"line {line.description!r} carries VAT under reverse charge")
    if document.reverse_charge and not document.buyer.vat_number:
        problems.append("reverse charge without the buyer's VAT number")
    if document.kind is DocumentKind.CREDIT_NOTE and not document.refers_to_number:
        problems.append("a credit note must name the invoice it corrects")
    if problems:
        raise FacturXError("; ".join(problems))


def _line(parent: etree._Element, number: int, line: DocumentLine,
          document: InvoiceDocument) -> None:
    item = _sub(parent, _ram("IncludedSupplyChainTradeLineItem"))
    _sub(_sub(item, _ram("AssociatedDocumentLineDocument")), _ram("LineID"), str(number))
    product = _sub(item, _ram("SpecifiedTradeProduct"))
    if line.product_code:
        _sub(product, _ram("SellerAssignedID"), line.product_code)
    _sub(product, _ram("Name"), line.description)
    agreement = _sub(item, _ram("SpecifiedLineTradeAgreement"))
    _sub(_sub(agreement, _ram("NetPriceProductTradePrice")), _ram("ChargeAmount"),
         unit_price(line))
    delivery = _sub(item, _ram("SpecifiedLineTradeDelivery"))
    _sub(delivery, _ram("BilledQuantity"), str(line.quantity), unitCode=UNIT_CODE)
    settlement = _sub(item, _ram("SpecifiedLineTradeSettlement"))
    tax = _sub(settlement, _ram("ApplicableTradeTax"))
    _sub(tax, _ram("TypeCode"), "VAT")
    _sub(tax, _ram("CategoryCode"), "AE" if document.reverse_charge else "S")
    _sub(tax, _ram("RateApplicablePercent"), rate(line.vat_rate))
    summation = _sub(settlement, _ram("SpecifiedTradeSettlementLineMonetarySummation"))
    _sub(summation, _ram("LineTotalAmount"), amount(line.net_cents))


def _agreement(parent: etree._Element, document: InvoiceDocument) -> None:
    agreement = _sub(parent, _ram("ApplicableHeaderTradeAgreement"))
    _party(agreement, _ram("SellerTradeParty"), document.seller, seller=True)
    _party(agreement, _ram("BuyerTradeParty"), document.buyer, seller=False)
    if document.order_number:
        _sub(_sub(agreement, _ram("SellerOrderReferencedDocument")), _ram("IssuerAssignedID"),
             document.order_number)


def _party(parent: etree._Element, tag: str, party: Party, *, seller: bool) -> None:
    element = _sub(parent, tag)
    _sub(element, _ram("Name"), party.name)
    if party.siren:
        legal = _sub(element, _ram("SpecifiedLegalOrganization"))
        _sub(legal, _ram("ID"), party.siren, schemeID=SIREN_SCHEME)
    if party.contact:
        _sub(_sub(element, _ram("DefinedTradeContact")), _ram("PersonName"), party.contact)
    address = _sub(element, _ram("PostalTradeAddress"))
    if party.postcode:
        _sub(address, _ram("PostcodeCode"), party.postcode)
    if party.line1:
        _sub(address, _ram("LineOne"), party.line1)
    if party.city:
        _sub(address, _ram("CityName"), party.city)
    _sub(address, _ram("CountryID"), party.country.upper())
    if party.email:
        uri = _sub(element, _ram("URIUniversalCommunication"))
        _sub(uri, _ram("URIID"), party.email, schemeID="EM")
    if party.vat_number:
        registration = _sub(element, _ram("SpecifiedTaxRegistration"))
        _sub(registration, _ram("ID"), party.vat_number.replace(" ", "").upper(),
             schemeID="VA")


def _settlement(parent: etree._Element, document: InvoiceDocument) -> None:
    settlement = _sub(parent, _ram("ApplicableHeaderTradeSettlement"))
    _sub(settlement, _ram("InvoiceCurrencyCode"), document.currency.upper())
    if document.payment_method:
        means = _sub(settlement, _ram("SpecifiedTradeSettlementPaymentMeans"))
        _sub(means, _ram("TypeCode"), PAYMENT_MEANS.get(document.payment_method, "1"))
    for breakdown in document.vat_breakdown:
        _header_tax(settlement, breakdown)
    terms = payment_terms(document)
    if terms and document.paid_on:
        payment = _sub(settlement, _ram("SpecifiedTradePaymentTerms"))
        _sub(payment, _ram("Description"), terms)
        _date(_sub(payment, _ram("DueDateDateTime")), document.paid_on)  # BT-9: paid that day
    summation = _sub(settlement, _ram("SpecifiedTradeSettlementHeaderMonetarySummation"))
    _sub(summation, _ram("LineTotalAmount"), amount(document.net_cents))
    _sub(summation, _ram("TaxBasisTotalAmount"), amount(document.net_cents))
    _sub(summation, _ram("TaxTotalAmount"), amount(document.vat_cents),
         currencyID=document.currency.upper())
    _sub(summation, _ram("GrandTotalAmount"), amount(document.total_cents))
    prepaid = document.total_cents if document.paid_on else 0
    _sub(summation, _ram("TotalPrepaidAmount"), amount(prepaid))
    _sub(summation, _ram("DuePayableAmount"), amount(document.total_cents - prepaid))
    if document.refers_to_number:
        referenced = _sub(settlement, _ram("InvoiceReferencedDocument"))
        _sub(referenced, _ram("IssuerAssignedID"), document.refers_to_number)
        if document.refers_to_date:
            issued = _sub(referenced, _ram("FormattedIssueDateTime"))
            _sub(issued, _qdt("DateTimeString"), _yyyymmdd(document.refers_to_date),
                 format="102")


def _header_tax(parent: etree._Element, breakdown: VatAmount) -> None:
    tax = _sub(parent, _ram("ApplicableTradeTax"))
    _sub(tax, _ram("CalculatedAmount"), amount(breakdown.vat_cents))
    _sub(tax, _ram("TypeCode"), "VAT")
    if breakdown.category == "AE":
        _sub(tax, _ram("ExemptionReason"), REVERSE_CHARGE_REASON)
    _sub(tax, _ram("BasisAmount"), amount(breakdown.net_cents))
    _sub(tax, _ram("CategoryCode"), breakdown.category)
    if breakdown.category == "AE":
        _sub(tax, _ram("ExemptionReasonCode"), REVERSE_CHARGE_CODE)
    _sub(tax, _ram("RateApplicablePercent"), rate(breakdown.rate))


def _notes(document: InvoiceDocument) -> list[tuple[str, str]]:
    """Free-text notes with their UNTDID 4451 subject codes: penalties (PMD, PMT), others."""
    notes: list[tuple[str, str]] = list(penalty_notes(document))
    notes += [("", text) for text in document.notes]
    return notes


def _date(parent: etree._Element, day: date) -> None:
    _sub(parent, _udt("DateTimeString"), _yyyymmdd(day), format="102")


def _yyyymmdd(day: date) -> str:
    return day.strftime("%Y%m%d")


def _sub(parent: etree._Element, tag: str, text: str | None = None,
         **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = text
    return element


def _rsm(name: str) -> str:
    return f"{{{RSM}}}{name}"


def _ram(name: str) -> str:
    return f"{{{RAM}}}{name}"


def _qdt(name: str) -> str:
    return f"{{{QDT}}}{name}"


def _udt(name: str) -> str:
    return f"{{{UDT}}}{name}"
