"""Values refused field by field, worded in the reader's language.

A service that checks what a person typed raises a FieldErrors subclass mapping each field to
its message. The messages are lazy gettext strings (`lazy_gettext`), so the same refusal reads
in French on a French page and in English on an English one, whoever raised it. Commands and
the APIs, whose vocabulary is English, read them through `english()`; `str()` of the error is
English too, for logs.

A message may quote what the person typed, so a page escapes it like any other text: the lazy
strings are wrapped in Refusal, whose HTML form is escaped (flask_babel's LazyString passes
itself to Jinja as markup, unescaped).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import force_locale, get_locale
from flask_babel.speaklater import LazyString
from markupsafe import Markup, escape


class Refusal(LazyString):
    """A lazy message that Jinja escapes."""

    def __html__(self) -> Markup:
        return escape(str(self))


def _refusal(message: Any) -> Any:
    if isinstance(message, LazyString) and not isinstance(message, Refusal):
        return Refusal(message._func, *message._args, **message._kwargs)
    return message


class FieldErrors(ValueError):
    """Values refused; errors maps each field to its message. Nothing was stored."""

    def __init__(self, errors: Mapping[str, Any]) -> None:
        super().__init__()
        self.errors: dict[str, Any] = {field: _refusal(m) for field, m in errors.items()}

    def english(self) -> dict[str, str]:
        """Each field's message in English, whatever the current page's language."""
        with force_locale("en"):
            return {field: str(message) for field, message in self.errors.items()}

    def __str__(self) -> str:
        return "; ".join(f"{field}: {message}" for field, message in self.english().items())


def lazy_money(cents: int) -> LazyString:
    """An amount for a refusal, written the way the reader's language writes money."""
    from commerce.money import format_money

    return LazyString(lambda: format_money(cents, locale=str(get_locale() or "fr")))
