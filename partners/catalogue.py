"""The platform's catalogue texts in other languages than French (the products' own)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from commerce.models import Product
from extensions import db
from partners.brand import header_breaks
from partners.validation import PartnerError

LIMITS = {"name": 160, "description": 2000}


def translate_product(code: str, locale: str, *, locales: list[str], name: str | None = None,
                      description: str | None = None) -> Product:
    """Set (or, with a blank text, remove) a product's name and description in a language other
    than French. The caller commits."""
    product = db.session.scalar(select(Product).where(Product.code == code.strip().upper()))
    errors: dict[str, Any] = {}
    if product is None:
        errors["product"] = _l("no product %(code)s in the catalogue", code=repr(code))
    if locale not in locales:
        errors["locale"] = _l("must be one of: %(choices)s", choices=", ".join(locales))
    texts: dict[str, Any] = {}
    for field, value in (("name", name), ("description", description)):
        if value is None:
            continue
        text = " ".join(value.split()) if field == "name" else value.strip()
        if len(text) > LIMITS[field]:
            errors[field] = _l("at most %(limit)d characters", limit=LIMITS[field])
        elif (header_breaks(text) and field == "name") or "<" in text or ">" in text:
            errors[field] = _l("plain text only: no control characters, < or >")
        else:
            texts[field] = text
    if errors or product is None:
        raise PartnerError(errors)
    merged = {lang: dict(values) for lang, values in (product.translations or {}).items()}
    for field, text in texts.items():
        if text:
            merged.setdefault(locale, {})[field] = text
        else:
            merged.get(locale, {}).pop(field, None)
    product.translations = {lang: values for lang, values in merged.items() if values}
    return product
