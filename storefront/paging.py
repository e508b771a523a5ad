"""`?page=` on listing pages: a bad value is a 400, a page past the end a 404."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import abort, request
from flask_babel import gettext as _

from commerce.paging import Page, PageNotFound

T = TypeVar("T")

# More digits than any listing has pages: past the end, known without counting.
_MAX_DIGITS = 9


def page_number() -> int:
    """The page asked for (1 without `?page=`); 400 for anything but a whole number from 1."""
    raw = request.args.get("page")
    if raw is None or raw == "":
        return 1
    digits = raw.lstrip("0")
    if not (raw.isascii() and raw.isdigit()) or not digits:
        abort(400, _("The page number must be a whole number from 1."))
    if len(digits) > _MAX_DIGITS:
        abort(404)
    return int(digits)


def page_or_404(fetch: Callable[[int], Page[T]]) -> Page[T]:
    """The page `?page=` names, fetched by `fetch(number)`; 404 past the last page."""
    try:
        return fetch(page_number())
    except PageNotFound:
        abort(404)
