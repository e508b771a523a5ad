"""Errors of the commissions package."""

from __future__ import annotations

from collections.abc import Mapping


class CommissionError(Exception):
    """Base of every commissions error."""


class UnknownReseller(CommissionError, LookupError):
    """No reseller by that code (or not in the asking partner's network)."""


class UnknownOrder(CommissionError, LookupError):
    """No order or order line by that reference."""


class ResellerExists(CommissionError, ValueError):
    """A reseller code or login e-mail already taken."""


class WeakPassword(CommissionError, ValueError):
    """A reseller login's password too short or too common (staff: 12 characters at least)."""


class InvalidAdjustment(CommissionError, ValueError):
    """An adjustment without a reason, an actor or an amount."""


class ChannelError(CommissionError, ValueError):
    """A programme role, distributor, share or language that cannot be set as asked."""


class BenefitError(CommissionError, ValueError):
    """A newcomer offer that cannot be set as asked."""
class InvalidBankDetails(CommissionError, ValueError):
    """An IBAN, BIC or account holder that cannot receive a SEPA credit transfer."""

    def __init__(self, problems: Mapping[str, object]) -> None:
        super().__init__("; ".join(f"{field}: {why}" for field, why in problems.items()))
        self.problems = dict(problems)


class PayoutFileError(CommissionError, RuntimeError):
    """The platform's paying account is not set, or a credit-transfer file does not validate."""

class ProgrammeError(CommissionError, ValueError):
    """A programme change refused: one message per field, and nothing changed."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors
