"""A partner's brand: validated values rendered as CSS custom properties."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from commerce.models import Partner
from commerce.refusals import FieldErrors

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")

# Allowlisted font stacks: partners choose a name, never raw CSS.
FONTS: dict[str, str] = {
    "system": 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif',
    "humanist": '"Segoe UI", "Gill Sans", "Trebuchet MS", Calibri, sans-serif',
    "geometric": '"Century Gothic", "Avenir Next", Avenir, "Futura", sans-serif',
    "classic": 'Georgia, "Times New Roman", Cambria, serif',
    "rounded": '"Nunito", "Arial Rounded MT Bold", "Helvetica Rounded", Arial, sans-serif',
    "mono": '"SFMono-Regular", Consolas, "Liberation Mono", Menlo, monospace',
}

LOGO_TYPES = {
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff",
    "image/webp": b"RIFF",
}
COLOUR_FIELDS = ("primary_color", "secondary_color", "accent_color")


class BrandError(FieldErrors):
    """Brand values refused; errors maps each field to its message."""


@dataclass(frozen=True)
class Logo:
    data: bytes
    mime: str


def validate_brand(
    values: dict[str, Any], logo: Logo | None, max_logo_bytes: int
) -> dict[str, Any]:
    """Check brand values and return the clean ones; raise BrandError naming each bad field."""
    errors: dict[str, Any] = {}
    clean: dict[str, Any] = {}
    for field in COLOUR_FIELDS:
        if field in values:
            value = str(values[field]).strip()
            if not HEX_COLOUR.match(value):
                errors[field] = _l("must be a hex colour like #1a2b3c")
            else:
                clean[field] = value.lower()
    if "font" in values:
        if values["font"] not in FONTS:
            errors["font"] = _l("must be one of: %(choices)s", choices=", ".join(FONTS))
        else:
            clean["font"] = values["font"]
    if values.get("logo_url"):
        url = str(values["logo_url"]).strip()
        parsed = urlparse(url)
        if parsed.scheme != "https" or not parsed.netloc or any(c in url for c in "\"'<>() \\"):
            errors["logo_url"] = _l("must be an https:// address")
        else:
            clean["logo_url"] = url
    if logo is not None:
        problem = _check_logo(logo, max_logo_bytes)
        if problem:
            errors["logo"] = problem
        else:
            clean["logo_data"], clean["logo_mime"] = logo.data, logo.mime
    for field, limit in (
        ("name", 120),
        ("tagline", 200),
        ("support_email", 200),
        ("support_phone", 40),
    ):
        if field in values:
            value = str(values[field]).strip()
            if len(value) > limit:
                errors[field] = _l("at most %(limit)d characters", limit=limit)
            elif header_breaks(value):
                # name and support address go into e-mail headers (From, Subject, Reply-To)
                errors[field] = _l("must not contain a line break or control character")
            elif "<" in value or ">" in value:
                errors[field] = _l("must not contain < or >")
            elif field == "support_email" and value and not _is_email(value):
                errors[field] = _l("must be an e-mail address like support@example.com")
            else:
                clean[field] = value
    if "legal_notice" in values:
        value = str(values["legal_notice"])
        if len(value) > 5000:
            errors["legal_notice"] = _l("at most %(limit)d characters", limit=5000)
        elif re.search(r"<\s*/?\s*[a-zA-Z]", value):
            errors["legal_notice"] = _l("plain text only: no HTML tags")
        else:
            clean["legal_notice"] = value.strip()
    if errors:
        raise BrandError(errors)
    return clean


def header_breaks(value: str) -> bool:
    """Tell whether a value would break out of an e-mail header (CR, LF or another control)."""
    return any(ord(c) < 32 or ord(c) == 127 for c in value)


def _is_email(value: str) -> bool:
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def _check_logo(logo: Logo, max_bytes: int) -> Any:
    if len(logo.data) == 0:
        return _l("is empty")
    if len(logo.data) > max_bytes:
        return _l("must be at most %(size)d KB", size=max_bytes // 1024)
    magic = LOGO_TYPES.get(logo.mime)
    if magic is None:
        return _l("must be a PNG, JPEG or WebP image")
    if not logo.data.startswith(magic) or (
        logo.mime == "image/webp" and logo.data[8:12] != b"WEBP"
    ):
        return _l("is not the image type it claims to be")
    return None


def apply_brand(partner: Partner, clean: dict[str, Any]) -> None:
    for field, value in clean.items():
        setattr(partner, field, value)


def css_variables(partner: Partner) -> Markup:
    """The partner's tokens as a :root rule; every value was validated on the way in."""
    colours = {f: getattr(partner, f) for f in COLOUR_FIELDS}
    for field, value in colours.items():
        if not HEX_COLOUR.match(value or ""):
            colours[field] = {
                "primary_color": "#1f4e79",
                "secondary_color": "#f4f6f8",
                "accent_color": "#c2410c",
            }[field]
    font = FONTS.get(partner.font, FONTS["system"])
    rule = (
        ":root{"
        f"--brand-primary:{colours['primary_color']};"
        f"--brand-secondary:{colours['secondary_color']};"
        f"--brand-accent:{colours['accent_color']};"
        f"--brand-on-primary:{readable_on(colours['primary_color'])};"
        f"--brand-font:{font};"
        "}"
    )
    return Markup(rule)  # noqa: S704 - built only from validated hex colours and allowlisted fonts


def readable_on(hex_colour: str) -> str:
    """Black or white, whichever contrasts more with the colour (WCAG relative luminance)."""
    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return "#000000" if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else "#ffffff"
