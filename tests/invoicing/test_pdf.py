"""The invoice PDF: a PDF/A-3 carrying the Factur-X XML, with every mention French law asks."""

from __future__ import annotations

import dataclasses
import io
import re

import pytest
from facturx import get_xml_from_pdf
from pypdf import PdfReader
from test_facturx import (
    CREDIT_NOTE,
    DOCUMENTS,
    FRENCH_BUSINESS,
    GERMAN_BUSINESS,
    GERMAN_CONSUMER,
)

from invoicing.document import InvoiceDocument, Party
from invoicing.facturx import FacturXError, build_xml
from invoicing.pdf import render, srgb_profile


@pytest.fixture(scope="module")
def rendered() -> dict[str, bytes]:
    return {name: render(document) for name, document in DOCUMENTS.items()}


def _text(pdf: bytes) -> str:
    """The PDF's text with runs of white space made one space, as a reader sees it."""
    reader = PdfReader(io.BytesIO(pdf))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


@pytest.mark.parametrize("name", DOCUMENTS)
def test_the_pdf_carries_exactly_the_xml_facturx_built(rendered: dict[str, bytes],
                                                       name: str) -> None:
    pdf = rendered[name]
    assert pdf.startswith(b"%PDF-1.7")
    filename, xml = get_xml_from_pdf(pdf, check_xsd=True)
    assert filename == "factur-x.xml"
    assert xml == build_xml(DOCUMENTS[name])
    # The same attachment as pypdf sees it, declared as the invoice's data (PDF/A-3 AF).
    reader = PdfReader(io.BytesIO(pdf))
    assert reader.attachments == {"factur-x.xml": [xml]}
    root = reader.trailer["/Root"]
    filespec = root["/AF"][0].get_object()
    assert filespec["/AFRelationship"] == "/Data"


@pytest.mark.parametrize("name", DOCUMENTS)
def test_the_pdf_has_what_pdf_a_3_asks(rendered: dict[str, bytes], name: str) -> None:
    reader = PdfReader(io.BytesIO(rendered[name]))
    root = reader.trailer["/Root"]
    # XMP metadata naming PDF/A-3B and the Factur-X EN 16931 profile.
    xmp = root["/Metadata"].get_object().get_data().decode()
    assert 'pdfaid:part>3<' in xmp or 'pdfaid:part="3"' in xmp
    assert "EN 16931" in xmp and "factur-x.xml" in xmp
    # Info agrees with the XMP's producer, and has nothing the XMP lacks.
    assert reader.metadata["/Producer"] == "pypdf"
    assert "/Trapped" not in reader.metadata
    # An sRGB output intent with its ICC profile.
    intent = root["/OutputIntents"][0].get_object()
    assert intent["/S"] == "/GTS_PDFA1"
    profile = intent["/DestOutputProfile"].get_object().get_data()
    assert profile == srgb_profile() and profile[36:40] == b"acsp" and profile[8] == 4
    # Every font is embedded: no standard font left unembedded (reportlab's Helvetica).
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            assert "DejaVuSans" in font["/BaseFont"]
            assert "/FontFile2" in font["/FontDescriptor"].get_object()
    assert "/Encrypt" not in reader.trailer
    assert reader.trailer["/ID"]
    assert root["/Lang"] in ("fr-FR", "en-GB")


def test_french_consumer_invoice_states_the_mandatory_mentions(
        rendered: dict[str, bytes]) -> None:
    text = _text(rendered["french-consumer"])
    for expected in [
        "Facture N° F-2026-000001", "Date : 06/12/2026", "Commande : CPT-2026-000042",
        # The seller: legal name, form, address, SIREN, RCS, VAT number.
        "Logiciels Martin SAS", "SAS au capital de 10 000 €", "12 rue de la Paix",
        "75002 Paris", "SIREN 732829320", "RCS Paris 732829320",
        "N° TVA intracommunautaire : FR44732829320",
        # The buyer.
        "Camille Durand", "3 avenue Foch", "69006 Lyon",
        # Lines, VAT rate and amounts per rate, totals.
        "Microsoft Office Famille 2024", "124,99 €", "20 %", "25,00 €", "149,99 €",
        "Sauvegarde de licence 2 ans", "Récapitulatif de la TVA", "133,32 €", "26,67 €",
        "Total HT", "Total TVA", "Total TTC 159,99 €",
        "Payée par carte le 06/12/2026.",
        # The waiver restated: consent, acknowledgement, version and time.
        "Renonciation au droit de rétractation",
        "expressément consenti à la fourniture immédiate",
        "vous perdez ainsi votre droit de rétractation",
        "L221-28 13°", "06/12/2026 à 11:15:30 (heure de Paris)", "version 2026-11-v1",
    ]:
        assert expected in text, expected
    # A consumer is no business: no penalties, no reverse charge.
    assert "Pénalités de retard" not in text
    assert "Autoliquidation" not in text


def test_german_consumer_invoice_is_in_english_at_german_vat(
        rendered: dict[str, bytes]) -> None:
    text = _text(rendered["german-consumer"])
    for expected in [
        "Invoice No. F-2026-000002", "Jonas Weber", "10115 Berlin", "Germany", "19%",
        "€252.10", "€47.90", "€300.00", "VAT summary", "€260.50", "€49.50",
        "Total incl. VAT €310.00", "Paid by card on 2026-12-06.",
        "VAT of the Member State of consumption (Germany)",
        "Waiver of the right of withdrawal", "2026-12-06 at 11:15:30 (Paris time)",
    ]:
        assert expected in text, expected
    assert "Late-payment penalties" not in text


def test_german_business_invoice_is_reverse_charged_with_penalties(
        rendered: dict[str, bytes]) -> None:
    text = _text(rendered["german-business"])
    for expected in [
        "Weber Software GmbH", "For the attention of Jonas Weber",
        "VAT number: DE136695976", "VAT number: FR44732829320", "0%", "€374.97",
        "Total VAT €0.00",
        "Reverse charge — VAT due by the customer (article 196 of Directive 2006/112/EC)",
        "Late-payment penalties", "EUR 40", "L441-10", "No discount for early payment.",
    ]:
        assert expected in text, expected


def test_french_invoice_for_a_business_carries_the_french_penalties(
        rendered: dict[str, bytes]) -> None:
    text = _text(rendered["french-business"])
    for expected in [
        "Atelier Durand SARL", "N° TVA intracommunautaire : FR40303265045",
        "Pénalités de retard", "majoré de 10 points", "40 €", "L441-10",
        "Pas d'escompte pour paiement anticipé.",
    ]:
        assert expected in text, expected
    assert "Autoliquidation" not in text


def test_french_reverse_charge_mention_reads_as_the_law_writes_it() -> None:
    document = dataclasses.replace(GERMAN_BUSINESS, locale="fr")
    text = _text(render(document))
    assert ("Autoliquidation — TVA due par le preneur (article 196 de la directive "
            "2006/112/CE)") in text
    assert "0 %" in text


def test_credit_note_names_its_invoice(rendered: dict[str, bytes]) -> None:
    text = _text(rendered["credit-note"])
    for expected in ["Avoir N° A-2026-000001", "Date : 09/12/2026",
                     "Avoir se rapportant à la facture n° F-2026-000001 du 06/12/2026.",
                     "Remboursé par carte le 09/12/2026.", "Total TTC 10,00 €"]:
        assert expected in text, expected
    assert "Renonciation" not in text  # the waiver belongs to the invoice


def test_a_long_invoice_runs_over_pages_with_its_totals() -> None:
    lines = GERMAN_CONSUMER.lines * 40
    document = dataclasses.replace(GERMAN_CONSUMER, lines=lines)
    pdf = render(document)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 2
    assert "Description" in reader.pages[1].extract_text()  # the header repeats
    assert document.total_cents == 1_240_000
    assert "Total incl. VAT €12,400.00" in _text(pdf)
    assert get_xml_from_pdf(pdf)[1] == build_xml(document)


def test_text_that_looks_like_markup_prints_as_written() -> None:
    buyer = Party(name="Dupont & Fils <SARL>", country="FR")
    text = _text(render(dataclasses.replace(FRENCH_BUSINESS, buyer=buyer)))
    assert "Dupont & Fils <SARL>" in text


def test_a_document_en16931_cannot_carry_is_refused_before_layout() -> None:
    broken: InvoiceDocument = dataclasses.replace(CREDIT_NOTE, refers_to_number=None)
    with pytest.raises(FacturXError, match="must name the invoice"):
        render(broken)
