"""The platform's catalogue: products created and changed from a file, written back to one, and
their texts in other languages than French (the products' own).

`import_products` reads what `export_products` writes: a JSON list of product objects, one per
product, keyed by `code`. An existing product is updated with the fields its object gives (the
others keep their value), a new one is created (the fields left out take their default). Every
product and field is checked before anything changes: a refusal (PartnerError) names each bad
field as `#<place in the file> <code>.<field>`, and nothing is stored. Each product created or
changed writes a ProductChange row: who, when, each changed field before and after. The caller
commits. Nothing caches products: a committed import is what the next request of every running
process reads.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from commerce.models import LicenceType, Product, ProductKind, ProductSku
from extensions import db
from partners.brand import header_breaks
from partners.models import ProductChange
from partners.validation import PartnerError, flush_or_refuse, parse_price

# Translated texts: the name as long as its column, the description as the back office shows it.
LIMITS = {"name": 160, "description": 2000, "picture_alt": 200}

# The fields of a product in the file, in the order the export writes them; `price` is the
# list_price_cents column in euros, `active` is is_active, `skus` the product's ProductSku rows.
FIELDS = ("code", "kind", "family", "line", "name", "edition", "platform", "seats", "seat_unit",
          "licence_type", "term_months", "price", "vat_rate", "description", "image", "active",
          "skus", "translations")
REQUIRED_ON_CREATE = ("family", "name", "price")
# What a new product has for a field its object leaves out (the model's defaults).
DEFAULTS: dict[str, Any] = {
    "kind": ProductKind.SOFTWARE.value, "line": "", "edition": "", "platform": "windows",
    "seats": 1,
    "seat_unit": "device", "licence_type": LicenceType.PERPETUAL.value, "term_months": None,
    "vat_rate": "20.00", "description": "", "image": "", "active": True, "skus": {},
    "translations": {},
}
PLATFORMS = ("windows", "mac", "multi")
SEAT_UNITS = ("device", "user")
CODE = re.compile(r"^[A-Z0-9](?:[A-Z0-9_-]*[A-Z0-9])?$")
FAMILY = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
IMAGE = re.compile(r"^[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*\.(?:svg|png|jpe?g|webp)$")
MAX_SEATS = 10_000
MAX_TERM_MONTHS = 120


def _length(column: str) -> int:
    """A string column's length in the model, which PostgreSQL enforces (SQLite does not)."""
    length = getattr(Product.__table__.c[column].type, "length", None)
    return int(length) if length else LIMITS.get(column, 2000)


class _Bad(Exception):
    """One field's refusal, while checking a product."""

    def __init__(self, message: Any) -> None:
        super().__init__()
        self.message = message


def _plain(value: Any, limit: int, *, one_line: bool = True) -> str:
    """A plain text: on one line with its spaces collapsed (a name), or stripped (a
    description); no < or >."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _Bad(_l("must be a text"))
    text = " ".join(value.split()) if one_line else value.strip()
    if len(text) > limit:
        raise _Bad(_l("at most %(limit)d characters", limit=limit))
    if (one_line and header_breaks(text)) or "<" in text or ">" in text:
        raise _Bad(_l("plain text only: no control characters, < or >"))
    return text


def check_translation(locale: str, texts: dict[str, Any], *,
                      locales: list[str]) -> tuple[dict[str, str], dict[str, Any]]:
    """A product's name and description in one language other than French: their clean texts
    (blank: to be removed) and the refusals, keyed `locale` or by the field."""
    errors: dict[str, Any] = {}
    if locale not in locales:
        errors["locale"] = _l("must be one of: %(choices)s", choices=", ".join(locales))
    clean: dict[str, str] = {}
    for name, value in texts.items():
        if name not in LIMITS:
            errors[name] = _l("is not a translated field: name, description or picture_alt")
            continue
        try:
            clean[name] = _plain(value, LIMITS[name], one_line=name == "name")
        except _Bad as bad:
            errors[name] = bad.message
    return clean, errors


def find_product(code: Any) -> Product:
    product = db.session.scalar(select(Product).where(Product.code == str(code).strip().upper()))
    if product is None:
        raise PartnerError({"product": _l("no product %(code)s in the catalogue", code=repr(code))})
    return product


def _audit(product: Product, action: str, changes: dict[str, Any], actor: str) -> None:
    db.session.add(ProductChange(product_id=product.id, action=action, actor=actor,
                                 changes=changes))


def translate_product(code: str, locale: str, *, locales: list[str], actor: str,
                      name: str | None = None, description: str | None = None) -> Product:
    """Set (or, with a blank text, remove) a product's name and description in a language other
    than French. The caller commits."""
    product = db.session.scalar(select(Product).where(Product.code == code.strip().upper()))
    errors: dict[str, Any] = {}
    if product is None:
        errors["product"] = _l("no product %(code)s in the catalogue", code=repr(code))
    given = {k: v for k, v in (("name", name), ("description", description)) if v is not None}
    texts, problems = check_translation(locale, given, locales=locales)
    errors.update(problems)
    if errors or product is None:
        raise PartnerError(errors)
    before = product.translations or {}
    merged = {lang: dict(values) for lang, values in before.items()}
    for key, text in texts.items():
        if text:
            merged.setdefault(locale, {})[key] = text
        else:
            merged.get(locale, {}).pop(key, None)
    after = {lang: values for lang, values in merged.items() if values}
    if after != before:
        product.translations = after
        _audit(product, "translated", {"translations": [before, after]}, actor)
    return product


# --- the catalogue file ------------------------------------------------------------------------


def _euros(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def record(product: Product) -> dict[str, Any]:
    """A product as the file describes it (term_months None for a perpetual licence)."""
    return {
        "code": product.code,
        "kind": ProductKind(product.kind).value,
        "family": product.family,
        "line": product.line or "",
        "name": product.name,
        "edition": product.edition or "",
        "platform": product.platform,
        "seats": product.seats,
        "seat_unit": product.seat_unit,
        "licence_type": LicenceType(product.licence_type).value,
        "term_months": product.term_months,
        "price": _euros(product.list_price_cents),
        "vat_rate": f"{Decimal(product.vat_rate):.2f}",
        "description": product.description or "",
        "image": product.image or "",
        "active": bool(product.is_active),
        "skus": {s.wholesaler_code: s.sku for s in sorted(product.skus,
                                                           key=lambda s: s.wholesaler_code)},
        "translations": {lang: {k: texts[k] for k in sorted(texts)}
                         for lang, texts in sorted((product.translations or {}).items())},
    }


def export_products() -> list[dict[str, Any]]:
    """The whole catalogue, by code, in the format import_products reads."""
    products = db.session.scalars(select(Product).options(selectinload(Product.skus))
                                  .order_by(Product.code))
    exported = []
    for product in products:
        row = record(product)
        if row["term_months"] is None:
            del row["term_months"]
        exported.append(row)
    return exported


def load_catalogue(data: bytes | str) -> Any:
    """A catalogue file's JSON (UTF-8); anything else raises PartnerError."""
    try:
        return json.loads(data)
    except ValueError as exc:
        raise PartnerError({"file": _l("is not JSON: %(error)s", error=str(exc))}) from None


@dataclass
class ImportedProduct:
    """What an import did, or would do, to one product."""

    code: str
    action: str  # created, updated or unchanged
    changes: dict[str, list[Any]] = field(default_factory=dict)


def _choice(value: Any, choices: tuple[str, ...] | list[str]) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    if text not in choices:
        raise _Bad(_l("must be one of: %(choices)s", choices=", ".join(choices)))
    return text


def _whole(value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _Bad(_l("must be a whole number from %(low)d to %(high)d", low=low, high=high))
    return value


def _vat(value: Any) -> str:
    try:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise InvalidOperation
        rate = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        rate = Decimal(-1)
    if not rate.is_finite() or not Decimal(0) <= rate < Decimal(100) \
            or rate != rate.quantize(Decimal("0.01")):
        raise _Bad(_l("must be a VAT rate in percent from 0 to 99.99, e.g. \"20.00\""))
    return f"{rate:.2f}"


def _price(value: Any) -> str:
    if not isinstance(value, str):
        # A number would be ambiguous (euros or cents?): the file writes prices as texts.
        raise _Bad(_l("must be a price in euros written as a text, e.g. \"149.90\""))
    try:
        return _euros(parse_price(value))
    except PartnerError as exc:
        raise _Bad(next(iter(exc.errors.values()))) from None


def _image(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else None
    if text is None:
        raise _Bad(_l("must be a text"))
    if not text:
        return ""
    if len(text) > _length("image") or not IMAGE.match(text) or ".." in text:
        raise _Bad(_l("must be a path under static/ like img/products/office.svg"))
    folder = current_app.static_folder
    if folder and not (Path(folder) / text).is_file():
        raise _Bad(_l("no file static/%(path)s", path=text))
    return text


def _skus(value: Any, wholesalers: list[str], errors: dict[str, Any]) -> dict[str, str]:
    if not isinstance(value, dict):
        errors["skus"] = _l("must be an object of the wholesalers' references, like "
                            "{\"nexway\": \"NX-123\"}")
        return {}
    clean: dict[str, str] = {}
    limit = int(getattr(ProductSku.__table__.c.sku.type, "length", 80))
    for raw, sku in value.items():
        code = raw.strip().lower()
        if code not in wholesalers:
            errors[f"skus.{raw}"] = _l("is not a wholesaler: must be one of: %(choices)s",
                                       choices=", ".join(wholesalers))
        elif code in clean:
            errors[f"skus.{raw}"] = _l("%(code)s is given twice", code=code)
        elif not isinstance(sku, str) or not sku.strip() or len(sku.strip()) > limit \
                or any(c.isspace() or header_breaks(c) or c in "<>" for c in sku.strip()):
            errors[f"skus.{raw}"] = _l("must be the wholesaler's reference: 1 to %(limit)d "
                                       "characters, no spaces, < or >", limit=limit)
        else:
            clean[code] = sku.strip()
    return {code: clean[code] for code in sorted(clean)}


def _translations(value: Any, locales: list[str],
                  errors: dict[str, Any]) -> dict[str, dict[str, str]]:
    if not isinstance(value, dict) or not all(isinstance(t, dict) for t in value.values()):
        errors["translations"] = _l("must be an object of languages, like {\"en\": {\"name\": "
                                    "…, \"description\": …}}")
        return {}
    clean: dict[str, dict[str, str]] = {}
    for locale, texts in value.items():
        checked, problems = check_translation(locale, texts, locales=locales)
        for key, message in problems.items():
            errors[f"translations.{locale}" + ("" if key == "locale" else f".{key}")] = message
        kept = {k: checked[k] for k in sorted(checked) if checked[k]}
        if kept:
            clean[locale] = kept
    return {locale: clean[locale] for locale in sorted(clean)}


def _check(item: dict[str, Any], before: dict[str, Any], *, creating: bool,
           wholesalers: list[str], locales: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The product's record once item's fields are applied to before, and the refusals by
    field."""
    errors: dict[str, Any] = {}
    for name in item:
        if name not in FIELDS:
            errors[name] = _l("is not a product field")
    given: dict[str, Any] = {}
    checks: dict[str, Any] = {
        "kind": lambda v: _choice(v, [k.value for k in ProductKind]),
        "family": _family,
        "line": _line,
        "name": lambda v: _required(_plain(v, _length("name"))),
        "edition": lambda v: _plain(v, _length("edition")),
        "platform": lambda v: _choice(v, PLATFORMS),
        "seats": lambda v: _whole(v, 1, MAX_SEATS),
        "seat_unit": lambda v: _choice(v, SEAT_UNITS),
        "licence_type": lambda v: _choice(v, [k.value for k in LicenceType]),
        "term_months": lambda v: None if v is None else _whole(v, 1, MAX_TERM_MONTHS),
        "price": _price,
        "vat_rate": _vat,
        "description": lambda v: _plain(v, LIMITS["description"], one_line=False),
        "image": _image,
        "active": _flag,
    }
    for name, check in checks.items():
        if name in item:
            try:
                given[name] = check(item[name])
            except _Bad as bad:
                errors[name] = bad.message
    if "skus" in item:
        given["skus"] = _skus(item["skus"], wholesalers, errors)
    if "translations" in item:
        given["translations"] = _translations(item["translations"], locales, errors)
    if creating:
        for name in REQUIRED_ON_CREATE:
            if name not in item or item[name] in (None, ""):
                errors.setdefault(name, _l("is required"))
    after = {**before, **given}
    if after["licence_type"] == LicenceType.SUBSCRIPTION:
        if after["term_months"] is None and "licence_type" not in errors:
            errors.setdefault("term_months", _l("is required for a subscription: its length in "
                                                "months"))
    elif given.get("term_months") is not None:
        errors.setdefault("term_months", _l("only a subscription has a term: leave it out of a "
                                            "perpetual licence"))
    else:
        after["term_months"] = None
    return after, errors


def _required(text: str) -> str:
    if not text:
        raise _Bad(_l("is required"))
    return text


def _family(value: Any) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    if not FAMILY.match(text) or len(text) > _length("family"):
        raise _Bad(_l("1 to %(limit)d lower-case letters, digits or hyphens, e.g. office",
                      limit=_length("family")))
    return text


def _line(value: Any) -> str:
    """The product line its editions are compared in (blank: compared with none)."""
    text = value.strip().lower() if isinstance(value, str) else None
    if text is None:
        raise _Bad(_l("must be a text"))
    if text and (not FAMILY.match(text) or len(text) > _length("line")):
        raise _Bad(_l("blank, or 1 to %(limit)d lower-case letters, digits or hyphens, e.g. "
                      "office-2024", limit=_length("line")))
    return text


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad(_l("must be true or false"))
    return value


def _code(value: Any) -> str:
    text = value.strip().upper() if isinstance(value, str) else ""
    if not text:
        raise _Bad(_l("is required"))
    if len(text) > _length("code") or not CODE.match(text):
        raise _Bad(_l("1 to %(limit)d letters, digits, hyphens or underscores, e.g. "
                      "OFFICE-HOME-2024-WIN", limit=_length("code")))
    return text


def _write(product: Product, after: dict[str, Any]) -> None:
    product.kind = ProductKind(after["kind"])
    for name in ("family", "line", "name", "edition", "platform", "seats", "seat_unit",
                 "term_months", "description", "image"):
        setattr(product, name, after[name])
    product.licence_type = LicenceType(after["licence_type"])
    product.list_price_cents = parse_price(after["price"])
    product.vat_rate = Decimal(after["vat_rate"])
    product.is_active = after["active"]
    product.translations = {lang: dict(texts) for lang, texts in after["translations"].items()}
    existing = {s.wholesaler_code: s for s in product.skus}
    for code, sku in existing.items():
        if code not in after["skus"]:
            product.skus.remove(sku)
    for code, reference in after["skus"].items():
        if code in existing:
            existing[code].sku = reference
        else:
            product.skus.append(ProductSku(wholesaler_code=code, sku=reference))


def import_products(data: Any, *, actor: str, wholesalers: list[str], locales: list[str],
                    dry_run: bool = False) -> list[ImportedProduct]:
    """Create or update the products of a catalogue file's JSON (see the module's docstring);
    with dry_run, only say what would change. All or nothing: any refusal raises PartnerError
    with every refusal of the file, and nothing has changed. The caller commits."""
    if not isinstance(data, list):
        raise PartnerError({"file": _l("must be a JSON list of products, as `comptoir products "
                                       "export` writes")})
    errors: dict[str, Any] = {}
    codes: list[str | None] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(data, 1):
        if not isinstance(item, dict):
            errors[f"#{index}"] = _l("must be a JSON object of a product's fields")
            codes.append(None)
            continue
        try:
            code = _code(item.get("code"))
        except _Bad as bad:
            errors[f"#{index}.code"] = bad.message
            codes.append(None)
            continue
        if code in seen:
            errors[f"#{index} {code}.code"] = _l("%(code)s is already given by product "
                                                 "#%(index)d", code=code, index=seen[code])
            codes.append(None)
            continue
        seen[code] = index
        codes.append(code)
    # Read afresh, and on PostgreSQL locked until the caller commits: two imports at once apply
    # one after the other, each auditing against what the other stored.
    query = (select(Product).where(Product.code.in_(list(seen)))
             .options(selectinload(Product.skus)).execution_options(populate_existing=True))
    existing = {p.code: p for p in db.session.scalars(
        query if dry_run else query.with_for_update(of=Product))}
    plans: list[tuple[str, Product | None, dict[str, Any], dict[str, Any]]] = []
    for index, (item, given) in enumerate(zip(data, codes, strict=True), 1):
        if given is None:
            continue
        code = given
        product = existing.get(code)
        before = record(product) if product is not None else {
            **{name: None for name in FIELDS}, **DEFAULTS, "code": code}
        after, problems = _check({k: v for k, v in item.items() if k != "code"}, before,
                                 creating=product is None, wholesalers=wholesalers,
                                 locales=locales)
        errors.update({f"#{index} {code}.{name}": message for name, message in problems.items()})
        plans.append((code, product, before, after))
    if errors:
        # In the file's order (a duplicate code is found before the fields are checked).
        raise PartnerError(dict(sorted(errors.items(), key=lambda kv: _place(kv[0]))))
    results: list[ImportedProduct] = []
    for code, product, before, after in plans:
        if product is None:
            changes = {name: [None, after[name]] for name in FIELDS
                       if name != "code" and after[name] not in (None, "", {})}
            results.append(ImportedProduct(code, "created", changes))
            if not dry_run:
                product = Product(id=uuid.uuid4(), code=code)
                _write(product, after)
                db.session.add(product)
                _audit(product, "created", changes, actor)
            continue
        changes = {name: [before[name], after[name]] for name in FIELDS
                   if before[name] != after[name]}
        results.append(ImportedProduct(code, "updated" if changes else "unchanged", changes))
        if changes and not dry_run:
            _write(product, after)
            _audit(product, "updated", changes, actor)
    if not dry_run:
        _flush_checking_codes()
    return results


def _place(key: str) -> int:
    match = re.match(r"#(\d+)", key)
    return int(match.group(1)) if match else 0


def _flush_checking_codes() -> None:
    """Flush; a product created meanwhile by another import is a refusal, not a crash."""
    flush_or_refuse("file", _l("a product of this file was just created by someone else: run "
                               "the import again"))


def product_history(code: str, limit: int = 100) -> list[ProductChange]:
    """A product's changes, newest first."""
    product = find_product(code)
    return list(db.session.scalars(
        select(ProductChange).where(ProductChange.product_id == product.id)
        .order_by(ProductChange.at.desc()).limit(limit)))
