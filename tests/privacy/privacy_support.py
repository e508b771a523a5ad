"""Names shared by the privacy tests."""

from __future__ import annotations

BUYER_PASSWORD = "correct horse battery"  # noqa: S105 (a test login)
CAMILLE = "camille.martin@example.com"
ROBERT = "robert@corp.example"
RESELLER_PASSWORD = "reseller password 2026"  # noqa: S105 (the reseller tests' login)
