"""Invoices and credit notes: numbered without gaps per merchant and year, kept ten years.

`services` issues them (once, at payment and at each refund) and lists them; `build` says what
they contain; `snapshot` freezes that content; `pdf` and `facturx` render it; `storage` keeps
the PDFs. docs/invoices.md tells the whole story.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the invoices' table and the consumers that issue and render them."""
    from invoicing import consumers, models  # noqa: F401 - they register themselves
