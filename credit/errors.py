"""What the credit line refuses; each says why in words a reseller or an operator can act on."""

from __future__ import annotations


class CreditError(ValueError):
    """A request about a credit line that cannot be done as asked; nothing was changed."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field


class CreditRefused(CreditError):
    """An order on account refused: over the available credit, or a balance overdue."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code  # no_credit_line, overdue, over_limit
