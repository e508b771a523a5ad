"""Products' pictures, uploaded by the operator: checked, re-encoded at the widths pages ask for,
described by an alternative text in each language, and audited.

A picture is decoded with Pillow and written again as WebP at each width of WIDTHS no wider than
the original, so that nothing of the upload but its pixels is served (no metadata, no script in
an SVG, no second format inside the file). The renditions are rows of `product_pictures`; the
product keeps what pages need to write an <img> (digest, size, alternative text), so that
listing products reads nothing more. The digest changes with the picture: pages address the
renditions by it, and the browser may keep each one for ever.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l
from PIL import Image, UnidentifiedImageError
from sqlalchemy import delete, select

from commerce.models import Product, ProductPicture
from extensions import db
from partners.models import ProductChange
from partners.validation import PartnerError

WIDTHS = (96, 192, 400, 800)  # a card shows 96 px, a product page 200 px; twice for dense screens
FORMATS = {"PNG", "JPEG", "WEBP"}
MIN_SIDE = 200  # smaller would look blurred on a product page
MAX_PIXELS = 40_000_000  # a decompression bomb is refused before it is decoded
ALT_MAX = 200
QUALITY = 82


@dataclass(frozen=True)
class Rendition:
    data: bytes
    mime: str
    digest: str


def max_bytes() -> int:
    return int(current_app.config["PRODUCT_PICTURE_MAX_BYTES"])


def _refuse(field: str, message: object) -> PartnerError:
    return PartnerError({field: message})


def _alt(field: str, text: str | None, required: bool) -> str:
    value = " ".join((text or "").split())
    if required and not value:
        raise _refuse(field, _l("Describe the picture for those who cannot see it."))
    if len(value) > ALT_MAX:
        raise _refuse(field, _l("At most %(count)d characters.", count=ALT_MAX))
    return value


def _decode(data: bytes) -> Image.Image:
    if not data:
        raise _refuse("picture", _l("Choose a picture file."))
    if len(data) > max_bytes():
        raise _refuse("picture", _l("The picture is larger than %(size)s MB.",
                                    size=f"{max_bytes() / (1024 * 1024):g}"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
            if probe.format not in FORMATS:
                raise _refuse("picture", _l("Send a PNG, JPEG or WebP picture."))
            if probe.width * probe.height > MAX_PIXELS:
                raise _refuse("picture", _l("The picture has too many pixels."))
            probe.load()
    except PartnerError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise _refuse("picture", _l("This file is not a picture that can be read.")) from exc
    if min(probe.size) < MIN_SIDE:
        raise _refuse("picture", _l("The picture must be at least %(size)d pixels on each side.",
                                    size=MIN_SIDE))
    return probe.convert("RGBA" if "A" in probe.getbands() or probe.mode == "P" else "RGB")


def _renditions(image: Image.Image) -> list[tuple[int, int, bytes]]:
    widths = [w for w in WIDTHS if w < image.width] + [min(image.width, WIDTHS[-1])]
    out = []
    for width in sorted(set(widths)):
        height = round(image.height * width / image.width)
        resized = image if width == image.width else image.resize((width, height),
                                                                   Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        resized.save(buffer, "WEBP", quality=QUALITY, method=4)
        out.append((width, height, buffer.getvalue()))
    return out


def store_picture(product: Product, data: bytes, alt: str, *, alt_en: str | None = None,
                  actor: str) -> None:
    """Check the picture and its descriptions, then replace the product's picture; audited.
    A refusal (PartnerError, naming the field) stores nothing. The caller commits."""
    alt_fr = _alt("alt", alt, required=True)
    alt_english = _alt("alt_en", alt_en, required=False)
    image = _decode(data)
    digest = hashlib.sha256(data).hexdigest()[:16]
    before = picture_record(product)
    db.session.execute(delete(ProductPicture).where(ProductPicture.product_id == product.id))
    for width, height, encoded in _renditions(image):
        db.session.add(ProductPicture(product_id=product.id, width=width, height=height,
                                      digest=digest, mime="image/webp", data=encoded))
    product.picture_digest, product.picture_alt = digest, alt_fr
    product.picture_width, product.picture_height = image.width, image.height
    translations = {k: dict(v) for k, v in (product.translations or {}).items()}
    english = translations.setdefault("en", {})
    if alt_english:
        english["picture_alt"] = alt_english
    else:
        english.pop("picture_alt", None)
    product.translations = {k: v for k, v in translations.items() if v}
    _audit(product, before, actor)


def remove_picture(product: Product, *, actor: str) -> bool:
    """Take the product's picture off (pages fall back to the family's drawing); audited.
    False when it had none. The caller commits."""
    if product.picture_digest is None:
        return False
    before = picture_record(product)
    db.session.execute(delete(ProductPicture).where(ProductPicture.product_id == product.id))
    product.picture_digest, product.picture_alt = None, ""
    product.picture_width = product.picture_height = None
    translations = {k: dict(v) for k, v in (product.translations or {}).items()}
    translations.get("en", {}).pop("picture_alt", None)
    product.translations = {k: v for k, v in translations.items() if v}
    _audit(product, before, actor)
    return True


def picture_record(product: Product) -> dict[str, object]:
    return {"picture": product.picture_digest, "picture_alt": product.picture_alt,
            "picture_alt_en": ((product.translations or {}).get("en") or {}).get("picture_alt")}


def _audit(product: Product, before: dict[str, object], actor: str) -> None:
    after = picture_record(product)
    changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    if changes:
        db.session.add(ProductChange(product_id=product.id, action="picture", actor=actor,
                                     changes=changes))


def rendition(code: str, width: int) -> Rendition | None:
    """The stored rendition of a product's picture at this width, or None."""
    row = db.session.execute(
        select(ProductPicture.data, ProductPicture.mime, ProductPicture.digest)
        .join(Product, Product.id == ProductPicture.product_id)
        .where(Product.code == code, ProductPicture.width == width)
    ).one_or_none()
    return Rendition(row.data, row.mime, row.digest) if row else None


def widths_of(product: Product) -> list[int]:
    """The widths its renditions were made at (as _renditions chose them)."""
    if not product.picture_width:
        return []
    original = product.picture_width
    return sorted({w for w in WIDTHS if w < original} | {min(original, WIDTHS[-1])})
