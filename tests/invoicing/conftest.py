"""Invoicing fixtures: a shop selling in its own name (tests/support/invoicing.py)."""

from __future__ import annotations

from support.invoicing import invoicing_shop  # noqa: F401 - fixture
