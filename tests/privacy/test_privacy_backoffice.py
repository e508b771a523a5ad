"""The back office exports and erases a buyer's data from their person page."""

from __future__ import annotations

import re

from privacy_support import CAMILLE
from sqlalchemy import func, select

from commerce.models import Order, User


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_an_operator_exports_and_erases_a_buyer_from_the_back_office(client, db, people,
                                                                     sign_in_operator):
    sign_in_operator(client)
    url = f"/admin/people/{people.camille.id}"
    page = client.get(url).get_data(as_text=True)
    assert "Personal data" in page and "Erase this person's data" in page
    exported = client.get(f"{url}/data.json")
    assert exported.status_code == 200 and exported.get_json()["email"] == CAMILLE
    wrong = client.post(f"{url}/erase", data={"csrf_token": _csrf(page),
                                             "confirm_email": "someone@else.example"})
    assert wrong.status_code == 302
    assert "Type the account" in client.get(url).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).where(Order.email == CAMILLE)) == 1
    page = client.get(url).get_data(as_text=True)
    done = client.post(f"{url}/erase", data={"csrf_token": _csrf(page),
                                            "confirm_email": CAMILLE.upper()})
    assert done.status_code == 302
    after = client.get(url).get_data(as_text=True)
    assert "The personal data is erased" in after and "Erased" in after
    assert "Enable the account" not in after
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).where(Order.email == CAMILLE)) == 0
    assert db.session.get(User, people.camille.id).erased_at is not None
