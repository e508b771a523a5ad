"""Strict checks on what a wholesaler answers: a malformed answer is an error, never a key."""

from __future__ import annotations

from datetime import UTC, date, datetime
from urllib.parse import urlsplit

from fulfilment.wholesalers.base import (
    DeliveredItem,
    MalformedAnswer,
    StockInfo,
    SupplierOrder,
    SupplierOrderStatus,
    SupplierSubscription,
    SupplierSubscriptionStatus,
)
from fulfilment.wholesalers.keys import is_valid_product_key, mask_product_key

MAX_QUANTITY = 1000
MAX_ID_LENGTH = 120  # fulfilment stores supplier_order_id and supplier_subscription_id in 120


def require_str(value: object, name: str) -> str:
    """Return value if it is a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise MalformedAnswer(f"{name}: expected a non-empty string, got {type(value).__name__}")
    return value


def require_int(value: object, name: str, *, minimum: int = 0) -> int:
    """Return value if it is an integer (not a boolean) of at least minimum."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise MalformedAnswer(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return value


def parse_int(text: str, name: str, *, minimum: int = 0) -> int:
    """Parse decimal digits only (no sign, no spaces inside) into an integer."""
    if not text.isascii() or not text.isdigit():
        raise MalformedAnswer(f"{name}: expected an integer, got {text!r}")
    return require_int(int(text), name, minimum=minimum)


def parse_bool(value: object, name: str) -> bool:
    """Accept a JSON boolean or the XML words true/false."""
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise MalformedAnswer(f"{name}: expected a boolean, got {value!r}")


def parse_datetime(value: object, name: str) -> datetime:
    """Parse an ISO 8601 timestamp that carries its offset; return it in UTC."""
    text = require_str(value, name)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise MalformedAnswer(f"{name}: not an ISO 8601 timestamp: {text!r}") from exc
    if parsed.tzinfo is None:
        raise MalformedAnswer(f"{name}: timestamp without a time zone: {text!r}")
    return parsed.astimezone(UTC)


def parse_date_or_datetime(value: object, name: str) -> datetime:
    """Parse a calendar date (YYYY-MM-DD, read as 00:00 UTC that day) or a zoned ISO 8601 time.

    A bare date is read at the start of its day: for an expiry, the earliest moment it can mean.
    """
    text = require_str(value, name)
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise MalformedAnswer(f"{name}: not a calendar date: {text!r}") from exc
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    return parse_datetime(text, name)


def parse_url(value: object, name: str) -> str:
    """Accept an absolute http or https URL."""
    text = require_str(value, name)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in text):
        raise MalformedAnswer(f"{name}: not an http(s) URL")
    return text


def parse_status(value: object, name: str = "status") -> SupplierOrderStatus:
    """Map a status word, any case, to SupplierOrderStatus."""
    text = require_str(value, name)
    try:
        return SupplierOrderStatus(text.lower())
    except ValueError as exc:
        raise MalformedAnswer(f"{name}: unknown status {text!r}") from exc


def make_item(product_key: object, download_url: object, expires_at: object,
              index: int) -> DeliveredItem:
    """Build one delivered unit, checking the key's 5x5 format, the URL and the expiry."""
    if not is_valid_product_key(product_key):
        raise MalformedAnswer(f"items[{index}].product_key: not a 5x5 product key")
    assert isinstance(product_key, str)
    return DeliveredItem(
        product_key=product_key,
        download_url=parse_url(download_url, f"items[{index}].download_url"),
        download_expires_at=parse_datetime(expires_at, f"items[{index}].download_expires_at"),
    )


def require_id(value: object, name: str) -> str:
    """Return a wholesaler's identifier: a non-empty string we can store, without spaces."""
    text = require_str(value, name)
    if len(text) > MAX_ID_LENGTH or not text.isprintable() or any(c.isspace() for c in text):
        raise MalformedAnswer(f"{name}: not an identifier of at most {MAX_ID_LENGTH} characters")
    return text


def make_order(*, reference: object, supplier_order_id: object, status: object, sku: object,
               quantity: object, items: tuple[DeliveredItem, ...], error: object,
               subscription_id: object = None,
               expected_reference: str | None = None, expected_sku: str | None = None,
               expected_quantity: int | None = None) -> SupplierOrder:
    """Build a SupplierOrder and check it against itself and against what we asked for."""
    order = SupplierOrder(
        reference=require_str(reference, "reference"),
        supplier_order_id=require_str(supplier_order_id, "order id"),
        status=status if isinstance(status, SupplierOrderStatus) else parse_status(status),
        sku=require_str(sku, "sku"),
        quantity=require_int(quantity, "quantity", minimum=1),
        items=items,
        error=None if error is None else require_str(error, "error"),
        subscription_id=None if subscription_id is None else require_id(subscription_id,
                                                                        "subscription id"),
    )
    if order.quantity > MAX_QUANTITY:
        raise MalformedAnswer(f"quantity: {order.quantity} is beyond any order we place")
    if expected_reference is not None and order.reference != expected_reference:
        raise MalformedAnswer("reference: the answer is about another order")
    if expected_sku is not None and order.sku != expected_sku:
        raise MalformedAnswer(f"sku: asked for {expected_sku!r}, answer says {order.sku!r}")
    if expected_quantity is not None and order.quantity != expected_quantity:
        raise MalformedAnswer(
            f"quantity: asked for {expected_quantity}, answer says {order.quantity}")
    keys = order.product_keys
    if len(set(keys)) != len(keys):
        raise MalformedAnswer("items: the same product key appears twice")
    if order.status is SupplierOrderStatus.DELIVERED and len(items) != order.quantity:
        raise MalformedAnswer(f"items: {len(items)} delivered for a quantity of {order.quantity}")
    if order.status in (SupplierOrderStatus.ACCEPTED, SupplierOrderStatus.FAILED) and items:
        raise MalformedAnswer(f"items: keys in an order still {order.status}")
    return order


def make_stock(*, sku: object, available: object, quantity: object,
               expected_sku: str) -> StockInfo:
    """Build a StockInfo for the SKU we asked about."""
    info = StockInfo(sku=require_str(sku, "sku"), available=parse_bool(available, "available"),
                     quantity=require_int(quantity, "quantity"))
    if info.sku != expected_sku:
        raise MalformedAnswer(f"sku: asked about {expected_sku!r}, answer says {info.sku!r}")
    if info.available and info.quantity == 0:
        raise MalformedAnswer("stock: available with a quantity of 0")
    return info


def check_replacement(order: SupplierOrder, old_key: str) -> SupplierOrder:
    """Check that a replacement answer no longer carries the reported key."""
    if order.status is not SupplierOrderStatus.DELIVERED:
        raise MalformedAnswer(f"replacement: order is {order.status}, not delivered")
    if old_key in order.product_keys:
        raise MalformedAnswer(f"replacement: {mask_product_key(old_key)} is still in the order")
    return order


def make_subscription(*, subscription_id: object, status: SupplierSubscriptionStatus, seats: object,
                      paid_until: datetime | None,
                      expected_id: str) -> SupplierSubscription:
    """Build a SupplierSubscription for the subscription we asked about."""
    subscription = SupplierSubscription(
        subscription_id=require_id(subscription_id, "subscription id"), status=status,
        seats=require_int(seats, "seats", minimum=1), paid_until=paid_until)
    if subscription.subscription_id != expected_id:
        raise MalformedAnswer("subscription id: the answer is about another subscription")
    if subscription.seats > MAX_QUANTITY:
        raise MalformedAnswer(f"seats: {subscription.seats} is beyond any order we place")
    if status is SupplierSubscriptionStatus.ACTIVE and paid_until is None:
        raise MalformedAnswer("subscription: active without the end of its term")
    return subscription


def check_renewal(subscription: SupplierSubscription, seats: int,
                  until: datetime) -> SupplierSubscription:
    """Check that a renewal answer provisioned what we asked: active, to until, for seats."""
    if subscription.status is not SupplierSubscriptionStatus.ACTIVE:
        raise MalformedAnswer(f"renewal: the subscription is {subscription.status}, not active")
    if subscription.paid_until is None or subscription.paid_until < until.replace(microsecond=0):
        raise MalformedAnswer("renewal: the term provisioned ends before the one asked for")
    return check_seats(subscription, seats)


def check_seats(subscription: SupplierSubscription, seats: int) -> SupplierSubscription:
    """Check that the answer carries the number of users we asked for."""
    if subscription.seats != seats:
        raise MalformedAnswer(f"seats: asked for {seats}, answer says {subscription.seats}")
    return subscription


def check_subscription_request(subscription_id: str, reference: str | None, seats: int | None,
                               until: datetime | None = None) -> None:
    """Refuse, before any request, arguments no wholesaler could be asked."""
    if not isinstance(subscription_id, str) or not subscription_id.strip():
        raise ValueError("subscription_id must be a non-empty string")
    if reference is not None and (not isinstance(reference, str) or not reference.strip()):
        raise ValueError("reference must be a non-empty string")
    if seats is not None and (isinstance(seats, bool) or not isinstance(seats, int)
                              or not 1 <= seats <= MAX_QUANTITY):
        raise ValueError(f"seats must be an integer from 1 to {MAX_QUANTITY}")
    if until is not None and (not isinstance(until, datetime) or until.tzinfo is None):
        raise ValueError("until must be a timezone-aware datetime")
