"""API fixtures: two partners with overlapping catalogues, their keys, and a JSON client."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from support.outbox import PaidOrders, hold_events
from werkzeug.test import TestResponse

from commerce.orders import ADDON_BACKUP, ADDON_INSTALL


@dataclass
class Catalogue:
    a: Any
    b: Any
    key_a: str
    key_b: str
    office: Any
    windows: Any
    visio: Any
    backup: Any
    install: Any


@pytest.fixture
def catalogue(make_partner, make_product) -> Catalogue:
    from partner_api.keys import issue_api_key

    office = make_product(code="OFFICE-HOME-2024-WIN", name="Office Famille 2024",
                          list_price_cents=14900)
    windows = make_product(code="WIN11-PRO", family="windows", name="Windows 11 Pro",
                           list_price_cents=25900)
    visio = make_product(code="VISIO-STD-2024", family="visio", name="Visio Standard 2024",
                         list_price_cents=57900)
    backup = make_product(code=ADDON_BACKUP, kind="addon", family="addon", name="Sauvegarde 2 ans",
                          list_price_cents=990, skus={})
    install = make_product(code=ADDON_INSTALL, kind="addon", family="addon", name="Installation",
                           list_price_cents=2900, skus={})
    a = make_partner(slug="telco-a", name="Telco A", kind="telecom", domains=["a.example"],
                     products=[office, windows, backup, install], prices={office.code: 13900})
    b = make_partner(slug="channel-b", name="Channel B", kind="channel", domains=["b.example"],
                     wholesaler_code="arvato", products=[office, visio, backup],
                     prices={office.code: 12500, backup.code: 500})
    return Catalogue(a, b, issue_api_key(a, "tests"), issue_api_key(b, "tests"),
                     office, windows, visio, backup, install)


@pytest.fixture
def handed_off(app: Flask) -> PaidOrders:
    """The orders handed to fulfilment (their OrderPaid events), which does not run."""
    return hold_events(app)


@pytest.fixture
def api(client: FlaskClient) -> Callable[..., TestResponse]:
    """Call the API with a bearer key; `body` is sent as JSON, `data` as it is."""

    def call(method: str, path: str, key: str | None = None, body: Any = None,
             headers: dict[str, str] | None = None, **kwargs: Any) -> TestResponse:
        sent = dict(headers or {})
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        if body is not None:
            kwargs["data"] = json.dumps(body)
            kwargs.setdefault("content_type", "application/json")
        return client.open(f"/api/v1{path}", method=method, headers=sent, **kwargs)

    return call


@pytest.fixture
def count(db) -> Callable[[type], int]:  # type: ignore[no-untyped-def]
    """Count the rows of a model."""

    def rows(model: type) -> int:
        db.session.expire_all()
        return int(db.session.scalar(select(func.count()).select_from(model)))

    return rows
