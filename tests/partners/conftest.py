"""Partner tests that browse the two shops of the storefront's tests."""

from __future__ import annotations

from support.shops import shops  # noqa: F401 - the fixture
