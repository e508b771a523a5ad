"""Privacy fixtures: a reseller network's shop, a buyer with an account, delivered orders with
backups, licences, e-mails and links, and another buyer beside them."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from privacy_support import BUYER_PASSWORD, CAMILLE, ROBERT

from backups.links import issue_link
from commerce.models import CapturedMail, Order, User, utcnow
from commerce.orders import ADDON_BACKUP
from fulfilment.models import OutgoingEmail

# The reseller tests' network, resellers, sales and deliveries, loaded from their conftest.
_spec = importlib.util.spec_from_file_location(
    "reseller_test_fixtures", Path(__file__).parent.parent / "reseller" / "conftest.py")
assert _spec is not None and _spec.loader is not None
_reseller = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _reseller
_spec.loader.exec_module(_reseller)
catalogue = _reseller.catalogue
make_network = _reseller.make_network
make_reseller = _reseller.make_reseller
world = _reseller.world
sell = _reseller.sell
deliver = _reseller.deliver
RESELLER_PASSWORD = _reseller.PASSWORD



@dataclass
class People:
    camille: User
    camille_order: Order
    robert_order: Order
    camille_key: str


@pytest.fixture
def people(db, world, sell, deliver, make_user) -> People:
    """Camille (an account) and Robert (a guest) bought through reseller A, delivered."""
    camille = make_user(email=CAMILLE, name="Camille Martin", password=BUYER_PASSWORD)
    now = utcnow()
    mine = sell(world.n, [("OFFICE-HOME-2024-WIN", 1, (ADDON_BACKUP,))], CAMILLE,
                "Camille Martin", code="RP-AAAA", paid_at=now - timedelta(days=30))
    mine.company, mine.billing_line1, mine.billing_city = "Martin SARL", "3 rue Haute", "Lyon"
    mine.ip_country = mine.card_country = "FR"
    theirs = sell(world.n, [("OFFICE-HOME-2024-WIN", 1, (ADDON_BACKUP,))], ROBERT,
                  "Robert Durand", code="RP-AAAA", paid_at=now - timedelta(days=20))
    db.session.commit()
    deliver(mine, mine.paid_at)
    deliver(theirs, theirs.paid_at)
    for order in (mine, theirs):
        order.fulfilment_status = "delivered"
        db.session.add(OutgoingEmail(key=f"delivery:{order.id}", order_id=order.id,
                                     kind="delivery", status="sent", sent_at=now))
        db.session.add(CapturedMail(to=order.email, subject=f"Order {order.number}",
                                    text_body=f"Hello {order.name}, your keys."))
    db.session.commit()
    assert issue_link(world.n, CAMILLE) is not None
    db.session.commit()
    from fulfilment.delivery import line_deliveries

    (_, units), = line_deliveries(mine).values()
    return People(camille, mine, theirs, units[0].product_key)


@pytest.fixture
def buyer_sign_in(client: FlaskClient) -> Callable[..., Any]:
    """Sign a buyer in on the network's shop (with another browser when given)."""
    def run(email: str = CAMILLE, password: str = BUYER_PASSWORD,
            browser: FlaskClient | None = None) -> Any:
        browser = browser or client
        page = browser.get("/p/reseau-n/account/signin").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        return browser.post("/p/reseau-n/account/signin",
                            data={"csrf_token": token, "email": email, "password": password})

    return run


@pytest.fixture(autouse=True)
def english(client: FlaskClient) -> None:
    with client.session_transaction() as session:
        session["lang"] = "en"
