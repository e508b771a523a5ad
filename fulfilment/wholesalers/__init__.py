"""Download wholesalers: the Wholesaler seam, its two adapters and the registry that builds them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fulfilment.wholesalers.arvato import ArvatoAdapter
from fulfilment.wholesalers.base import (
    BadCallbackSignature,
    Customer,
    DeliveredItem,
    MalformedAnswer,
    OutOfStock,
    PermanentWholesalerError,
    StockInfo,
    SupplierOrder,
    SupplierOrderRequest,
    SupplierOrderStatus,
    TemporaryWholesalerError,
    UnknownSku,
    UnsupportedOperation,
    Wholesaler,
    WholesalerConfigurationError,
    WholesalerError,
)
from fulfilment.wholesalers.http import RetryPolicy
from fulfilment.wholesalers.keys import (
    is_valid_product_key,
    mask_product_key,
    normalize_product_key,
)
from fulfilment.wholesalers.nexway import NexwayAdapter

WHOLESALERS: dict[str, type[NexwayAdapter] | type[ArvatoAdapter]] = {
    "nexway": NexwayAdapter,
    "arvato": ArvatoAdapter,
}

__all__ = [
    "WHOLESALERS", "ArvatoAdapter", "BadCallbackSignature", "Customer", "DeliveredItem",
    "MalformedAnswer", "NexwayAdapter", "OutOfStock", "PermanentWholesalerError", "RetryPolicy",
    "StockInfo",
    "SupplierOrder", "SupplierOrderRequest", "SupplierOrderStatus", "TemporaryWholesalerError",
    "UnknownSku", "UnsupportedOperation", "Wholesaler", "WholesalerConfigurationError",
    "WholesalerError", "get_wholesaler", "is_valid_product_key", "mask_product_key",
    "normalize_product_key", "retry_policy",
]


def get_wholesaler(code: str, config: Mapping[str, Any]) -> Wholesaler:
    """Build the adapter for code from Flask-style settings (NEXWAY_URL, ARVATO_PASSWORD, ...)."""
    if code not in WHOLESALERS:
        raise WholesalerConfigurationError(f"no wholesaler called {code!r}")
    prefix = code.upper() + "_"
    read_timeout = float(config.get("WHOLESALER_TIMEOUT", 10.0))
    common: dict[str, Any] = {
        "url": _required(config, prefix + "URL"),
        "read_timeout": read_timeout,
        "connect_timeout": float(config.get("WHOLESALER_CONNECT_TIMEOUT", min(3.05, read_timeout))),
        "retry": retry_policy(config),
    }
    if code == "nexway":
        # Connect's `secret` header always; its JWT (POST /iam/tokens) when the client secret and
        # realm Nexway issued are set.
        return NexwayAdapter(api_key=_required(config, "NEXWAY_API_KEY"),
                             callback_secret=_required(config, "NEXWAY_CALLBACK_SECRET"),
                             client_secret=config.get("NEXWAY_CLIENT_SECRET") or None,
                             realm=config.get("NEXWAY_REALM") or None,
                             token_url=config.get("NEXWAY_TOKEN_URL") or None, **common)
    return ArvatoAdapter(username=_required(config, "ARVATO_USERNAME"),
                         password=_required(config, "ARVATO_PASSWORD"), **common)


def retry_policy(config: Mapping[str, Any]) -> RetryPolicy:
    """Read WHOLESALER_RETRY_ATTEMPTS (default 1), _BASE and _CAP (seconds)."""
    # One try per call by default: fulfilment schedules its retries instead of waiting in a task.
    return RetryPolicy(attempts=int(config.get("WHOLESALER_RETRY_ATTEMPTS", 1)),
                       base_delay=float(config.get("WHOLESALER_RETRY_BASE", 0.5)),
                       max_delay=float(config.get("WHOLESALER_RETRY_CAP", 8.0)))


def _required(config: Mapping[str, Any], name: str) -> str:
    value = config.get(name)
    if not value or not isinstance(value, str):
        raise WholesalerConfigurationError(f"missing setting {name}")
    return value
