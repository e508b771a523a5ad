"""An invoice or a credit note as a PDF/A-3 carrying its Factur-X XML (EN 16931 profile).

`render(document)` lays the document out on A4 with reportlab in the buyer's language (French,
or English), with every mention French law asks of an invoice (CGI art. 242 nonies A, C. com.
L441-9 and L441-10) and the withdrawal waiver restated on a durable medium (C. consom. L221-13
and L221-28 13°). The fonts are embedded (DejaVu Sans, shipped in `invoicing/fonts/`), the page
gets an sRGB output intent, and the `factur-x` package embeds the XML of `invoicing/facturx.py`
with the PDF/A-3 XMP metadata. Works outside a request: the wording is a local table.
"""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from babel import Locale
from babel.numbers import format_currency, format_decimal
from facturx import generate_from_binary
from PIL import ImageCms
from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    TextStringObject,
)
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

from invoicing.document import DocumentKind, InvoiceDocument, Party
from invoicing.facturx import build_xml, format_date, mention, payment_terms, penalty_notes

FONTS = Path(__file__).parent / "fonts"
FONT = "ComptoirSans"
FONT_BOLD = "ComptoirSans-Bold"
PARIS = ZoneInfo("Europe/Paris")

LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "invoice": "Facture",
        "credit_note": "Avoir",
        "number": "N°",
        "issued_on": "Date",
        "order": "Commande",
        "seller": "Vendeur",
        "buyer": "Client",
        "vat_number": "N° TVA intracommunautaire : {value}",
        "siren": "SIREN {value}",
        "rcs": "RCS {city} {siren}",
        "contact": "À l'attention de {value}",
        "description": "Désignation",
        "quantity": "Qté",
        "net": "Total HT",
        "vat_rate": "TVA %",
        "vat": "TVA",
        "total": "Total TTC",
        "breakdown": "Récapitulatif de la TVA",
        "rate": "Taux",
        "basis": "Base HT",
        "total_net": "Total HT",
        "total_vat": "Total TVA",
        "total_gross": "Total TTC",
        "refers_to": "Avoir se rapportant à la facture n° {number}{dated}.",
        "dated": " du {date}",
        "vat_country": "TVA de l'État membre de consommation ({country}), guichet unique (OSS).",
        "waiver_title": "Renonciation au droit de rétractation",
        "waiver": "Vous avez expressément consenti à la fourniture immédiate du contenu "
                  "numérique, avant la fin du délai de rétractation de 14 jours, et reconnu "
                  "que vous perdez ainsi votre droit de rétractation (Code de la "
                  "consommation, art. L221-28 13°). Consentement donné le {at}, texte "
                  "accepté : version {version}. Cette confirmation vous est remise sur un "
                  "support durable (art. L221-13).",
        "at_time": "{date} à {time} (heure de Paris)",
        "page": "Page {page}",
    },
    "en": {
        "invoice": "Invoice",
        "credit_note": "Credit note",
        "number": "No.",
        "issued_on": "Date",
        "order": "Order",
        "seller": "Seller",
        "buyer": "Customer",
        "vat_number": "VAT number: {value}",
        "siren": "SIREN {value}",
        "rcs": "RCS {city} {siren}",
        "contact": "For the attention of {value}",
        "description": "Description",
        "quantity": "Qty",
        "net": "Net",
        "vat_rate": "VAT %",
        "vat": "VAT",
        "total": "Total",
        "breakdown": "VAT summary",
        "rate": "Rate",
        "basis": "Net amount",
        "total_net": "Total excl. VAT",
        "total_vat": "Total VAT",
        "total_gross": "Total incl. VAT",
        "refers_to": "Credit note for invoice no. {number}{dated}.",
        "dated": " of {date}",
        "vat_country": "VAT of the Member State of consumption ({country}), One-Stop Shop "
                       "(OSS).",
        "waiver_title": "Waiver of the right of withdrawal",
        "waiver": "You expressly consented to the immediate supply of the digital content "
                  "before the end of the 14-day withdrawal period and acknowledged that you "
                  "thereby lose your right of withdrawal (French Consumer Code, art. L221-28 "
                  "13°). Consent given on {at}, wording accepted: version {version}. This "
                  "confirmation is given to you on a durable medium (art. L221-13).",
        "at_time": "{date} at {time} (Paris time)",
        "page": "Page {page}",
    },
}


class PdfError(RuntimeError):
    """The PDF could not be made (a font missing from the package, a refused XML)."""


def render(document: InvoiceDocument) -> bytes:
    """Return the PDF/A-3 of a document with its Factur-X XML embedded."""
    xml = build_xml(document)  # refuses what EN 16931 cannot carry, before any layout
    layout = _layout(document)
    with_intent = _add_output_intent(layout)
    lang = "en-GB" if _language(document) == "en" else "fr-FR"
    title = f"{_label(document, _kind_key(document))} {document.number}"
    try:
        return bytes(generate_from_binary(
            with_intent, xml, flavor="factur-x", level="en16931", check_xsd=True, lang=lang,
            pdf_metadata={
                "author": document.seller.name,
                "keywords": "Factur-X, " + _label(document, _kind_key(document)),
                "title": f"{document.seller.name}: {title}",
                "subject": f"{title}, {format_date(document, document.issued_on)}",
            },
        ))
    except Exception as exc:  # the library raises bare Exception on a schema failure
        raise PdfError(f"Factur-X embedding of {document.number} failed: {exc}") from exc


def _language(document: InvoiceDocument) -> str:
    return "en" if document.locale.lower().startswith("en") else "fr"


def _label(document: InvoiceDocument, key: str, **values: str) -> str:
    return LABELS[_language(document)][key].format(**values)


def _kind_key(document: InvoiceDocument) -> str:
    return "credit_note" if document.kind is DocumentKind.CREDIT_NOTE else "invoice"


@cache
def _fonts() -> tuple[str, str]:
    """Register the embedded fonts once per process (PDF/A refuses the standard 14 unembedded)."""
    for name, filename in ((FONT, "DejaVuSans.ttf"), (FONT_BOLD, "DejaVuSans-Bold.ttf")):
        path = FONTS / filename
        if not path.is_file():
            raise PdfError(f"font {path} is missing from the package")
        pdfmetrics.registerFont(TTFont(name, str(path)))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT,
                                  boldItalic=FONT_BOLD)
    return FONT, FONT_BOLD


def _styles() -> dict[str, ParagraphStyle]:
    regular, bold = _fonts()
    base = ParagraphStyle("base", fontName=regular, fontSize=9, leading=11.5)
    return {
        "base": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.5),
        "title": ParagraphStyle("title", parent=base, fontName=bold, fontSize=16, leading=20),
        "heading": ParagraphStyle("heading", parent=base, fontName=bold, fontSize=9.5),
        "right": ParagraphStyle("right", parent=base, alignment=TA_RIGHT),
        "bold_right": ParagraphStyle("bold_right", parent=base, fontName=bold,
                                     alignment=TA_RIGHT),
    }


def _layout(document: InvoiceDocument) -> bytes:
    """Lay the document out on A4 pages; return reportlab's plain PDF."""
    regular, _bold = _fonts()
    styles = _styles()
    buffer = io.BytesIO()
    template = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
        bottomMargin=18 * mm, initialFontName=regular, title=document.number,
        author=document.seller.name, lang=_language(document),
    )
    story: list[Flowable] = []
    story += _header(document, styles)
    story += _lines(document, styles)
    story += _totals(document, styles)
    story += _mentions(document, styles)

    def footer(canvas, doc) -> None:  # type: ignore[no-untyped-def]
        canvas.saveState()
        canvas.setFont(regular, 7)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(18 * mm, 10 * mm, _seller_footer(document))
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm,
                               _label(document, "page", page=str(doc.page)))
        canvas.restoreState()

    template.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text), style)


def _table(rows: list[list[object]], widths: list[float], style: list[tuple[object, ...]],
           **kwargs: int) -> Table:
    """A table whose cells draw in the embedded font (reportlab's default is Helvetica)."""
    table = Table(rows, colWidths=widths, hAlign="LEFT", **kwargs)
    table.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), _fonts()[0]), *style]))
    return table


def _header(document: InvoiceDocument, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    title = f"{_label(document, _kind_key(document))} {_label(document, 'number')} " \
            f"{document.number}"
    facts = [
        f"{_label(document, 'issued_on')} : {format_date(document, document.issued_on)}"
        if _language(document) == "fr" else
        f"{_label(document, 'issued_on')}: {format_date(document, document.issued_on)}",
    ]
    if document.order_number:
        separator = " : " if _language(document) == "fr" else ": "
        facts.append(f"{_label(document, 'order')}{separator}{document.order_number}")
    heading = [_p(title, styles["title"]), *[_p(f, styles["base"]) for f in facts]]
    seller = [_p(_label(document, "seller"), styles["heading"]),
              *[_p(row, styles["base"]) for row in _seller_rows(document)]]
    buyer = [_p(_label(document, "buyer"), styles["heading"]),
             *[_p(row, styles["base"]) for row in _buyer_rows(document)]]
    parties = _table([[seller, buyer]], [84 * mm, 84 * mm], [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("BOX", (1, 0), (1, 0), 0.5, colors.HexColor("#999999")),
        ("LEFTPADDING", (1, 0), (1, 0), 6),
        ("TOPPADDING", (1, 0), (1, 0), 4),
        ("BOTTOMPADDING", (1, 0), (1, 0), 6),
    ])
    return [*heading, Spacer(1, 6 * mm), parties, Spacer(1, 7 * mm)]


def _country(document: InvoiceDocument, code: str) -> str:
    territories = Locale.parse(_language(document)).territories
    return str(territories.get(code.upper(), code.upper()))


def _address_rows(document: InvoiceDocument, party: Party) -> list[str]:
    rows = [party.line1] if party.line1 else []
    place = " ".join(part for part in (party.postcode, party.city) if part)
    if place:
        rows.append(place)
    rows.append(_country(document, party.country))
    return rows


def _seller_rows(document: InvoiceDocument) -> list[str]:
    seller = document.seller
    rows = [seller.name]
    if seller.legal_form:
        rows.append(seller.legal_form)
    rows += _address_rows(document, seller)
    if seller.siren:
        rows.append(_label(document, "siren", value=seller.siren))
    if seller.rcs_city and seller.siren:
        rows.append(_label(document, "rcs", city=seller.rcs_city, siren=seller.siren))
    if seller.vat_number:
        rows.append(_label(document, "vat_number", value=seller.vat_number))
    if seller.email:
        rows.append(seller.email)
    return rows


def _buyer_rows(document: InvoiceDocument) -> list[str]:
    buyer = document.buyer
    rows = [buyer.name]
    if buyer.contact:
        rows.append(_label(document, "contact", value=buyer.contact))
    rows += _address_rows(document, buyer)
    if buyer.vat_number:
        rows.append(_label(document, "vat_number", value=buyer.vat_number))
    if buyer.email:
        rows.append(buyer.email)
    return rows


def _seller_footer(document: InvoiceDocument) -> str:
    seller = document.seller
    parts = [seller.name, seller.legal_form]
    if seller.siren:
        parts.append(_label(document, "siren", value=seller.siren))
    if seller.vat_number:
        parts.append(seller.vat_number)
    return " · ".join(part for part in parts if part)


def money(document: InvoiceDocument, cents: int) -> str:
    """Return an amount as the buyer reads it: '1 234,56 €' in French, '€1,234.56' in English."""
    locale = "en_GB" if _language(document) == "en" else "fr_FR"
    text = format_currency(Decimal(cents) / 100, document.currency, locale=locale)
    return str(text).replace("\u202f", " ").replace("\xa0", " ")


def percent(document: InvoiceDocument, rate: Decimal) -> str:
    """Return a VAT rate: '20 %', '5,5 %' in French; '20%' in English."""
    locale = "en_GB" if _language(document) == "en" else "fr_FR"
    number = str(format_decimal(rate, format="#,##0.##", locale=locale))
    return f"{number} %" if _language(document) == "fr" else f"{number}%"


def _lines(document: InvoiceDocument, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    header = [_label(document, key) for key in
              ("description", "quantity", "net", "vat_rate", "vat", "total")]
    rows: list[list[object]] = [[_p(header[0], styles["heading"]),
                                 *[_p(h, styles["bold_right"]) for h in header[1:]]]]
    for line in document.lines:
        description = line.description
        if line.product_code:
            description += f" ({line.product_code})"
        rows.append([
            _p(description, styles["base"]),
            _p(str(line.quantity), styles["right"]),
            _p(money(document, line.net_cents), styles["right"]),
            _p(percent(document, line.vat_rate), styles["right"]),
            _p(money(document, line.vat_cents), styles["right"]),
            _p(money(document, line.total_cents), styles["right"]),
        ])
    table = _table(rows, [66 * mm, 12 * mm, 25 * mm, 17 * mm, 22 * mm, 26 * mm], [
        ("LEFTPADDING", (0, 0), (0, -1), 0),
        ("RIGHTPADDING", (-1, 0), (-1, -1), 0),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#BBBBBB")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ], repeatRows=1)
    return [table, Spacer(1, 5 * mm)]


def _totals(document: InvoiceDocument, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    breakdown: list[list[object]] = [[
        _p(_label(document, "rate"), styles["heading"]),
        _p(_label(document, "basis"), styles["bold_right"]),
        _p(_label(document, "vat"), styles["bold_right"]),
    ]]
    for vat in document.vat_breakdown:
        breakdown.append([_p(percent(document, vat.rate), styles["base"]),
                          _p(money(document, vat.net_cents), styles["right"]),
                          _p(money(document, vat.vat_cents), styles["right"])])
    vat_table = _table(breakdown, [20 * mm, 28 * mm, 24 * mm],
                       [("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
                        ("LEFTPADDING", (0, 0), (0, -1), 0)])
    sums = [
        [_p(_label(document, "total_net"), styles["base"]),
         _p(money(document, document.net_cents), styles["right"])],
        [_p(_label(document, "total_vat"), styles["base"]),
         _p(money(document, document.vat_cents), styles["right"])],
        [_p(_label(document, "total_gross"), styles["heading"]),
         _p(money(document, document.total_cents), styles["bold_right"])],
    ]
    sums_table = _table(sums, [38 * mm, 30 * mm],
                        [("LINEABOVE", (0, 2), (-1, 2), 0.8, colors.black),
                         ("RIGHTPADDING", (1, 0), (1, -1), 0)])
    left = [_p(_label(document, "breakdown"), styles["heading"]), vat_table]
    layout = _table([[left, sums_table]], [98 * mm, 70 * mm],
                    [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (0, 0), 0),
                     ("RIGHTPADDING", (1, 0), (1, 0), 0)])
    return [layout, Spacer(1, 5 * mm)]


def _mentions(document: InvoiceDocument, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = []
    if document.kind is DocumentKind.CREDIT_NOTE and document.refers_to_number:
        dated = _label(document, "dated", date=format_date(document, document.refers_to_date)) \
            if document.refers_to_date else ""
        story.append(_p(_label(document, "refers_to", number=document.refers_to_number,
                               dated=dated), styles["heading"]))
    if document.reverse_charge:
        story.append(_p(mention(document, "reverse_charge"), styles["heading"]))
    elif document.vat_country.upper() != document.seller.country.upper():
        story.append(_p(_label(document, "vat_country",
                               country=_country(document, document.vat_country)),
                        styles["base"]))
    terms = payment_terms(document)
    if terms:
        story.append(_p(terms, styles["base"]))
    for _subject, text in penalty_notes(document):
        story.append(_p(text, styles["small"]))
    for note in document.notes:
        story.append(_p(note, styles["small"]))
    if document.waiver is not None:
        at = document.waiver.consented_at.astimezone(PARIS)
        story += [
            Spacer(1, 4 * mm),
            _p(_label(document, "waiver_title"), styles["heading"]),
            _p(_label(document, "waiver", at=_moment(document, at),
                      version=document.waiver.wording_version), styles["small"]),
        ]
    return [Spacer(1, 2 * mm), *story]


def _moment(document: InvoiceDocument, at: datetime) -> str:
    return _label(document, "at_time", date=format_date(document, at.date()),
                  time=at.strftime("%H:%M:%S"))


@cache
def srgb_profile() -> bytes:
    """Return an sRGB ICC profile (LittleCMS's built-in one, through Pillow), declared v4.2.

    PDF/A-3 takes ICC profiles up to version 4.2 (those PDF 1.7 knows); LittleCMS writes 4.4
    with the same tags, every one of which exists in 4.2, and no profile ID to recompute.
    """
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    if profile[36:40] != b"acsp" or any(profile[84:100]):
        raise PdfError("unexpected ICC profile from LittleCMS")
    profile[8:12] = bytes([4, 0x20, 0, 0])
    return bytes(profile)


def _add_output_intent(pdf: bytes) -> bytes:
    """Give the PDF the sRGB output intent that PDF/A asks for its device colours."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    icc = DecodedStreamObject()
    icc.set_data(srgb_profile())
    icc.update({NameObject("/N"): NumberObject(3)})
    intent = DictionaryObject({
        NameObject("/Type"): NameObject("/OutputIntent"),
        NameObject("/S"): NameObject("/GTS_PDFA1"),
        NameObject("/OutputConditionIdentifier"): TextStringObject("sRGB IEC61966-2.1"),
        NameObject("/Info"): TextStringObject("sRGB IEC61966-2.1"),
        NameObject("/DestOutputProfile"): writer._add_object(icc.flate_encode()),
    })
    writer._root_object[NameObject("/OutputIntents")] = ArrayObject([writer._add_object(intent)])
    # The XMP that factur-x writes names pypdf as the producer; the Info dictionary must agree,
    # and carry nothing the XMP lacks (reportlab's /Trapped).
    info = writer._info.get_object() if writer._info is not None else None
    if isinstance(info, DictionaryObject):
        info.pop(NameObject("/Trapped"), None)
        info[NameObject("/Producer")] = TextStringObject("pypdf")
    writer.pdf_header = "%PDF-1.7"  # PDF/A-3 is PDF 1.7; factur-x's clone keeps this header
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()

