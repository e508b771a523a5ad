"""Licensing fixtures: a pure key pair, an active signing key, and a request factory."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from itertools import count
from typing import Any

import pytest
from licensing_support import KeyPair, new_keypair


@pytest.fixture
def keypair() -> KeyPair:
    return new_keypair()


@pytest.fixture
def signing_key(app):  # type: ignore[no-untyped-def]
    from licensing.keys import ensure_signing_key

    return ensure_signing_key(actor="test")


@pytest.fixture
def make_request() -> Callable[..., Any]:
    from licensing.services import LicenceRequest

    numbers = count(1)

    def make(**overrides: Any) -> LicenceRequest:
        n = next(numbers)
        fields: dict[str, Any] = {
            "order_line_ref": f"line-{n}",
            "unit": 0,
            "product_code": "OFFICE-HOME-2024",
            "edition": "Home 2024",
            "seats": 1,
            "order_ref": f"ORDER-{n}",
            "partner": "partner-1",
            "buyer_ref": "buyer-42",
            "product_key_sha256": hashlib.sha256(f"key-{n}".encode()).hexdigest(),
            "expires_at": None,
        }
        fields.update(overrides)
        return LicenceRequest(**fields)

    return make
