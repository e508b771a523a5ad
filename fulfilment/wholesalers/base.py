"""The Wholesaler seam: what fulfilment asks of a download wholesaler, and what it gets back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import Protocol, Self


class SupplierOrderStatus(StrEnum):
    ACCEPTED = "accepted"  # bought; keys come later (callback or polling)
    DELIVERED = "delivered"  # keys and download links are in items
    CANCELLED = "cancelled"
    FAILED = "failed"  # the wholesaler gave up; error says why


@dataclass(frozen=True, slots=True)
class StockInfo:
    sku: str
    available: bool
    quantity: int


@dataclass(frozen=True, slots=True)
class DeliveredItem:
    """One unit: its product key and where to download the software until when."""

    product_key: str
    download_url: str
    download_expires_at: datetime  # timezone-aware UTC


@dataclass(frozen=True, slots=True)
class Customer:
    """The end customer, as a wholesaler that invoices or registers the licence needs them."""

    email: str
    language: str  # ISO 639-1, "fr" or "en"
    country: str  # ISO 3166-1 alpha-2 of the invoicing address
    first_name: str = ""
    last_name: str = ""


@dataclass(frozen=True, slots=True)
class SupplierOrderRequest:
    reference: str  # our idempotency reference: the same reference never buys twice
    sku: str
    quantity: int
    callback_url: str | None = None  # where an asynchronous wholesaler posts the delivery
    customer: Customer | None = None
    unit_price_cents: int | None = None  # what the buyer pays per unit, tax included
    currency: str = "EUR"
    order_date: datetime | None = None  # when the buyer paid, timezone-aware UTC


@dataclass(frozen=True, slots=True)
class SupplierOrder:
    reference: str
    supplier_order_id: str
    status: SupplierOrderStatus
    sku: str
    quantity: int
    items: tuple[DeliveredItem, ...] = ()
    error: str | None = None
    # The wholesaler's id of the subscription this order opened (Nexway: the line's
    # subscriptionId), for a subscription product; None for a perpetual licence.
    subscription_id: str | None = None

    @property
    def product_keys(self) -> tuple[str, ...]:
        """Return the delivered keys in unit order."""
        return tuple(item.product_key for item in self.items)


class SupplierSubscriptionStatus(StrEnum):
    ACTIVE = "active"  # renews at the end of its term
    CANCELLED = "cancelled"  # will not renew: the licence runs to the end of the paid term
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class SupplierSubscription:
    """A subscription as the wholesaler holds it (subscriptions/ renews and changes it)."""

    subscription_id: str
    status: SupplierSubscriptionStatus
    seats: int
    paid_until: datetime | None  # the end of the term the wholesaler has provisioned


class WholesalerError(Exception):
    """Anything that went wrong talking to a wholesaler."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class TemporaryWholesalerError(WholesalerError):
    """A 5xx, a timeout or a broken connection: worth trying again later."""

    retryable = True

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 maybe_applied: bool = False):
        super().__init__(message, status=status, code=code)
        self.maybe_applied = maybe_applied  # the request may have reached the wholesaler


class PermanentWholesalerError(WholesalerError):
    """A 4xx answer: the same request will fail again, so it is never retried."""


class OutOfStock(PermanentWholesalerError):
    """The wholesaler cannot supply the quantity asked for this SKU."""


class UnknownSku(PermanentWholesalerError):
    """The wholesaler does not sell this SKU."""


class MalformedAnswer(WholesalerError):
    """The answer failed strict validation; nothing in it is trusted, least of all keys."""

    retryable = True  # the reference makes a later retry safe; the adapter itself never retries


class BadCallbackSignature(WholesalerError):
    """A callback with a missing, wrong, stale or future signature."""


class UnsupportedOperation(WholesalerError):
    """This wholesaler's protocol has no such operation."""


class WholesalerConfigurationError(WholesalerError):
    """The settings cannot build this adapter (an unknown code, a missing credential)."""


class Wholesaler(Protocol):
    code: str
    supports_callbacks: bool
    supports_extension: bool

    def check_stock(self, sku: str) -> StockInfo:
        """Ask whether the SKU can be supplied now and how many units."""
        ...

    def place_order(self, request: SupplierOrderRequest) -> SupplierOrder:
        """Buy under our reference; a retried reference returns the first order, never a second."""
        ...

    def fetch_order(self, reference: str) -> SupplierOrder | None:
        """Return the order bought under this reference, or None when there is none."""
        ...

    def cancel(self, reference: str) -> None:
        """Cancel the order bought under this reference; nothing happens when there is none."""
        ...

    def handle_callback(self, body: bytes, headers: Mapping[str, str]) -> SupplierOrder:
        """Authenticate and decode a delivery callback; raise BadCallbackSignature if untrusted."""
        ...

    def request_replacement(self, reference: str, product_key: str) -> SupplierOrder:
        """Replace one unit's key reported as already activated; return the updated order."""
        ...

    def extend_download(self, reference: str) -> SupplierOrder:
        """Extend the order's download links, where the protocol allows it."""
        ...

    def renew_subscription(self, subscription_id: str, *, reference: str, seats: int,
                           until: datetime) -> SupplierSubscription:
        """Provision one more term, to `until`, for `seats` users; the same `reference` (ours, one
        per term) never renews twice."""
        ...

    def change_subscription(self, subscription_id: str, *, reference: str,
                            seats: int) -> SupplierSubscription:
        """Set the subscription's number of users for the rest of the term; once per reference."""
        ...

    def cancel_subscription(self, subscription_id: str) -> SupplierSubscription:
        """Stop the renewal: the licence runs to the end of the paid term. Repeating is harmless."""
        ...

    def close(self) -> None:
        """Release the HTTP connections."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...
