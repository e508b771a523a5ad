"""Checking what an operator sends about a partner, field by field.

Every check returns clean values or raises PartnerError with one message per field, named as the
field is named in the forms, the commands (`--set field=value`) and the operator API's JSON. The
brand's fields (colours, font, logo, texts) are checked by partners/brand.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from commerce.models import MerchantOfRecord, PartnerKind
from commerce.refusals import FieldErrors
from extensions import db
from partners.brand import BrandError, header_breaks, validate_brand

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
# Slugs that would read as one of the platform's own paths.
RESERVED_SLUGS = {"admin", "api", "static", "p", "healthz", "webhooks", "dev", "embed", "platform"}
LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
LEGAL_FORMS = ("SA", "SAS", "SASU", "SARL", "EURL", "SNC", "SCOP", "SCA", "EI", "EIRL", "GIE",
               "SE", "association")
# What a shop must publish before it opens; each is a field of Partner.
LEGAL_FIELDS = ("legal_name", "legal_form", "siren", "rcs_city", "vat_number",
                "registered_office", "publication_director", "host_details", "mediator_name",
                "mediator_url")
TEXT_LIMITS = {"legal_name": 160, "rcs_city": 80, "registered_office": 300,
               "publication_director": 120, "host_details": 300, "mediator_name": 160}
BOOLEAN_FIELDS = ("allow_failover", "backup_by_default")
MAX_PRICE_CENTS = 1_000_000_00  # a million euros: anything above is a typing error


class PartnerError(FieldErrors):
    """Partner values refused; errors maps each field to its message. Nothing was stored."""


def flush_or_refuse(field: str, message: Any) -> None:
    """Flush in a savepoint: a unique key that another transaction took meanwhile (a domain, a
    slug, a product code) becomes a refusal naming the field, not a crash; the rest of the
    transaction stands."""
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError as exc:
        raise PartnerError({field: message}) from exc


def check_slug(value: Any) -> str:
    slug = str(value or "").strip().lower()
    if not SLUG.match(slug):
        raise PartnerError({"slug": _l("2 to 40 lower-case letters, digits or hyphens, "
                                       "not starting or ending with a hyphen")})
    if slug in RESERVED_SLUGS:
        raise PartnerError({"slug": _l("'%(slug)s' is reserved by the platform", slug=slug)})
    return slug


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def french_vat_key(siren: str) -> str:
    """The two-digit key of the French VAT number of a SIREN: (12 + 3 × (SIREN mod 97)) mod 97."""
    return f"{(12 + 3 * (int(siren) % 97)) % 97:02d}"


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on", "y"}:
        return True
    if text in {"0", "false", "no", "off", "n", ""}:
        return False
    return None


def validate_partner(values: dict[str, Any], *, wholesalers: list[str],
                     max_logo_bytes: int = 512 * 1024,
                     themes: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Check the partner fields present in values; return their clean values.

    Only the fields given are checked and returned, so that an update sends what it changes."""
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    if "kind" in values:
        kind = str(values["kind"] or "").strip().lower()
        if kind not in {k.value for k in PartnerKind}:
            errors["kind"] = _l("must be one of: %(choices)s",
                                choices=", ".join(k.value for k in PartnerKind))
        else:
            clean["kind"] = PartnerKind(kind)
    if "wholesaler_code" in values:
        code = str(values["wholesaler_code"] or "").strip().lower()
        if code not in wholesalers:
            errors["wholesaler_code"] = _l("must be one of: %(choices)s",
                                           choices=", ".join(wholesalers))
        else:
            clean["wholesaler_code"] = code
    if "merchant_of_record" in values:
        merchant = str(values["merchant_of_record"] or "").strip().lower()
        if merchant not in {m.value for m in MerchantOfRecord}:
            errors["merchant_of_record"] = _l("must be 'partner' or 'platform'")
        else:
            clean["merchant_of_record"] = MerchantOfRecord(merchant)
    for field in BOOLEAN_FIELDS:
        if field in values:
            flag = _bool(values[field])
            if flag is None:
                errors[field] = _l("must be true or false")
            else:
                clean[field] = flag
    if "theme" in values:
        theme = str(values["theme"] or "").strip()
        if theme and theme not in themes:
            errors["theme"] = (_l("must be one of the installed themes: %(themes)s",
                                   themes=", ".join(themes))
                                if themes else _l("no theme is installed"))
        else:
            clean["theme"] = theme or None
    _legal(values, clean, errors)
    brand_values = {k: v for k, v in values.items()
                    if k in {"name", "tagline", "primary_color", "secondary_color",
                             "accent_color", "font", "logo_url", "legal_notice",
                             "support_email", "support_phone"}}
    if "name" in brand_values and not str(brand_values["name"] or "").strip():
        errors["name"] = _l("is required")
        brand_values.pop("name")
    try:
        clean.update(validate_brand(brand_values, None, max_logo_bytes=max_logo_bytes))
    except BrandError as exc:
        errors.update(exc.errors)
    if errors:
        raise PartnerError(errors)
    return clean


def _legal(values: dict[str, Any], clean: dict[str, Any], errors: dict[str, str]) -> None:
    for field, limit in TEXT_LIMITS.items():
        if field in values:
            text = " ".join(str(values[field] or "").split())
            if len(text) > limit:
                errors[field] = _l("at most %(limit)d characters", limit=limit)
            elif header_breaks(text) or "<" in text or ">" in text:
                errors[field] = _l("plain text only: no control characters, < or >")
            else:
                clean[field] = text
    if "legal_form" in values:
        form = str(values["legal_form"] or "").strip()
        match = next((f for f in LEGAL_FORMS if f.lower() == form.lower()), None)
        if form and match is None:
            errors["legal_form"] = _l("must be one of: %(choices)s", choices=", ".join(LEGAL_FORMS))
        else:
            clean["legal_form"] = match or ""
    if "siren" in values:
        siren = re.sub(r"[\s.]", "", str(values["siren"] or ""))
        if siren and (not re.fullmatch(r"\d{9}", siren) or not luhn_ok(siren)):
            errors["siren"] = _l("must be the 9 digits of a valid SIREN")
        else:
            clean["siren"] = siren
    if "vat_number" in values:
        vat = re.sub(r"[\s.-]", "", str(values["vat_number"] or "")).upper()
        siren = clean.get("siren", "")
        if vat and not re.fullmatch(r"[A-Z]{2}[0-9A-Z]{2,12}", vat):
            errors["vat_number"] = _l("must be an EU VAT number: a country code and 2 to 12 "
                                      "letters or digits, e.g. FR40303265045")
        elif vat.startswith("FR") and not re.fullmatch(r"FR[0-9A-Z]{2}\d{9}", vat):
            errors["vat_number"] = _l("a French VAT number is FR, a two-character key and the "
                                      "SIREN")
        elif vat.startswith("FR") and siren and vat[4:] != siren:
            errors["vat_number"] = _l("does not carry the SIREN given")
        elif vat.startswith("FR") and vat[2:4].isdigit() and vat[2:4] != french_vat_key(vat[4:]):
            errors["vat_number"] = _l("the key of this number is %(key)s, not %(given)s",
                                      key=french_vat_key(vat[4:]), given=vat[2:4])
        else:
            clean["vat_number"] = vat
    if "mediator_url" in values:
        url = str(values["mediator_url"] or "").strip()
        parsed = urlparse(url)
        if url and (parsed.scheme != "https" or not parsed.netloc or len(url) > 300
                    or any(c in url for c in "\"'<> \\")):
            errors["mediator_url"] = _l("must be an https:// address")
        else:
            clean["mediator_url"] = url


# How buyers reach the publisher and the seller (LCEN art. 6 III, Code de la consommation
# L221-5): the legal notice, the terms of sale and the withdrawal form name it.
CONTACT_FIELDS = ("support_email",)


def missing_legal(partner: Any) -> list[str]:
    """The legal fields a partner still lacks (its identity and the contact address its legal
    pages publish); its shop opens only when there are none."""
    return [field for field in (*LEGAL_FIELDS, *CONTACT_FIELDS)
            if not getattr(partner, field, "")]


def normalise_host(value: Any) -> str:
    """A domain as typed (perhaps a pasted address, in capitals or in Unicode) to its stored
    form: lower-case ASCII (IDNA), no scheme, port, path or final dot. Raises PartnerError."""
    text = str(value or "").strip()
    if "://" in text:
        text = urlparse(text).netloc
    text = text.split("/", 1)[0].rsplit("@", 1)[-1]
    if text.count(":") == 1:
        text = text.split(":", 1)[0]
    text = text.rstrip(".").lower()
    try:
        text = text.encode("idna").decode("ascii")
    except UnicodeError:
        raise PartnerError({"domains": _l("'%(value)s' is not a valid domain name",
                                          value=value)}) from None
    labels = text.split(".")
    if (len(text) > 253 or len(labels) < 2 or not all(LABEL.match(label) for label in labels)
            or labels[-1].isdigit()):
        raise PartnerError({"domains": _l("'%(value)s' is not a domain name like shop.example.fr",
                                       value=value)})
    return text


def normalise_origin(value: Any) -> str:
    """An embedding site's origin: https://host[:port] (http only for localhost and
    *.localhost, which browsers treat as secure, for development)."""
    text = str(value or "").strip().rstrip("/")
    parsed = urlparse(text)
    problem = {"embed_origins": _l("'%(value)s' is not an origin like https://www.example.fr",
                                    value=value)}
    if parsed.scheme not in {"https", "http"} or not parsed.hostname or parsed.path \
            or parsed.query or parsed.fragment or parsed.username:
        raise PartnerError(problem)
    host = parsed.hostname
    local = host in {"localhost", "127.0.0.1"} or host.endswith(".localhost")
    if parsed.scheme == "http" and not local:
        raise PartnerError({"embed_origins": _l("'%(value)s': only https:// origins may embed "
                                                "the shop (http:// for localhost only)",
                                                value=value)})
    if host not in {"localhost", "127.0.0.1"}:
        host = normalise_host(host)
    try:
        port = parsed.port
    except ValueError:
        raise PartnerError(problem) from None
    default = {"https": 443, "http": 80}[parsed.scheme]
    return f"{parsed.scheme}://{host}" + (f":{port}" if port and port != default else "")


def parse_price(value: Any, field: str = "price") -> int:
    """A TTC price in euros ("149", "149.90", "149,90") or cents (int) to cents."""
    if isinstance(value, int) and not isinstance(value, bool):
        cents = value
    else:
        text = str(value or "").strip().replace(",", ".").removesuffix("€").strip()
        if not re.fullmatch(r"\d{1,7}(\.\d{1,2})?", text):
            raise PartnerError({field: _l("must be a price in euros, e.g. 149.90")})
        euros, _, fraction = text.partition(".")
        cents = int(euros) * 100 + int((fraction + "00")[:2])
    if not 0 < cents <= MAX_PRICE_CENTS:
        raise PartnerError({field: _l("must be more than 0 and at most 1,000,000 euros")})
    return cents


SHOP_ZONE = ZoneInfo("Europe/Paris")


def parse_moment(value: Any, field: str = "starts_at") -> datetime:
    """An ISO 8601 moment; without an offset it is read as Paris time, the shops' time."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value or "").strip())
        except ValueError:
            raise PartnerError({field: _l("must be a date and time like "
                                               "2027-01-01T00:00:00+01:00")}
                               ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=SHOP_ZONE)).astimezone(UTC)
