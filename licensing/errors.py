"""Errors the licensing services raise."""

from __future__ import annotations


class LicensingError(Exception):
    """Base class for licensing errors."""


class ConfigurationError(LicensingError):
    """The key-encryption key is missing or malformed."""


class NoActiveSigningKey(LicensingError):
    """No signing key is active: run `comptoir licensing new-key` or `rotate-key`."""


class KeyNotFound(LicensingError):
    """No signing key has that kid."""


class KeyStateError(LicensingError):
    """The key cannot make that move (e.g. activating a revoked key)."""


class KeyRotationConflict(LicensingError):
    """Another process changed the active key at the same moment; try again."""


class InvalidLicenceRequest(LicensingError, ValueError):
    """The request cannot become a licence (bad seats, naive dates, bad hash...)."""


class LicenceConflict(LicensingError):
    """A licence already exists for that order line and unit, with different terms."""


class LicenceNotFound(LicensingError):
    """No licence has that id or number."""
