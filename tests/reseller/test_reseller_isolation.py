"""Reseller A never sees reseller B's clients, orders, commissions or backups: every route."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from backups.vault import BackupAccess
from commerce.models import CapturedMail, utcnow
from commerce.orders import ADDON_BACKUP
from commissions.models import ResellerClient


@pytest.fixture
def sales(world, sell, deliver):  # type: ignore[no-untyped-def]
    """One delivered, backed-up sale per reseller: A and B in network N, C in network M."""
    now = utcnow()
    orders = {}
    for key, partner, code, email in (("a", world.n, "RP-AAAA", "alice@example.com"),
                                      ("b", world.n, "RP-BBBB", "bruno@example.com"),
                                      ("c", world.m, "RP-CCCC", "chloe@example.com")):
        orders[key] = sell(partner, [("VISIO-STD-2024", 1, (ADDON_BACKUP,))], email,
                           email.split("@")[0].title(), code=code,
                           paid_at=now - timedelta(days=5))
        deliver(orders[key], now - timedelta(days=5))
    return orders


def _client(db, email):  # type: ignore[no-untyped-def]
    return db.session.scalar(select(ResellerClient.id).where(ResellerClient.email == email))


def test_list_pages_show_only_the_signed_in_resellers_own_data(client, world, sales, sign_in):
    sign_in("reseau-n", "a@dupont.example")
    for path in ("/", "/clients", "/clients?q=example", "/commissions", "/commissions.csv"):
        body = client.get(f"/p/reseau-n/reseller{path}").get_data(as_text=True)
        assert sales["a"].number in body or "alice@example.com" in body, path
        for other in ("b", "c"):
            assert sales[other].number not in body, (path, other)
        assert "bruno@example.com" not in body and "chloe@example.com" not in body, path


def test_another_resellers_client_page_is_not_found_and_logged(client, world, sales, sign_in, db,
                                                                caplog):
    sign_in("reseau-n", "a@dupont.example")
    assert client.get(f"/p/reseau-n/reseller/clients/{_client(db, 'alice@example.com')}"
                      ).status_code == 200
    with caplog.at_level(logging.WARNING, logger="comptoir.reseller"):
        for email in ("bruno@example.com", "chloe@example.com"):
            response = client.get(f"/p/reseau-n/reseller/clients/{_client(db, email)}")
            assert response.status_code == 404
            assert "bruno@example.com" not in response.get_data(as_text=True)
    assert sum("reseller RP-AAAA refused client" in r.getMessage() for r in caplog.records) == 2


def test_another_resellers_backup_is_not_found_and_the_attempt_logged(client, world, sales,
                                                                      sign_in, db, caplog):
    sign_in("reseau-n", "a@dupont.example")
    with caplog.at_level(logging.WARNING, logger="comptoir.reseller"):
        for other in ("b", "c"):
            line = sales[other].product_lines[0]
            assert client.get(f"/p/reseau-n/reseller/licences/{line.id}").status_code == 404
    refused = [r.getMessage() for r in caplog.records if "refused the licence" in r.getMessage()]
    assert len(refused) == 2 and all(m.startswith("reseller RP-AAAA") for m in refused)
    assert db.session.scalars(select(BackupAccess)).all() == []  # nothing was opened


def test_another_resellers_backup_cannot_be_re_sent(client, world, sales, sign_in, form_token,
                                                    db):
    sign_in("reseau-n", "a@dupont.example")
    token = form_token("/p/reseau-n/reseller/")
    for other in ("b", "c"):
        line = sales[other].product_lines[0]
        response = client.post(f"/p/reseau-n/reseller/licences/{line.id}/resend",
                               data={"csrf_token": token})
        assert response.status_code == 404
    assert db.session.scalars(select(CapturedMail)).all() == []


def test_a_client_moved_to_another_reseller_leaves_the_first_ones_portal(
        client, world, sales, sign_in, form_token, db):
    from commissions import set_client_reseller

    set_client_reseller(world.n.id, "alice@example.com", "RP-BBBB", actor="operator")
    sign_in("reseau-n", "a@dupont.example")
    assert client.get(f"/p/reseau-n/reseller/clients/{_client(db, 'alice@example.com')}"
                      ).status_code == 404
    line = sales["a"].product_lines[0]
    assert client.get(f"/p/reseau-n/reseller/licences/{line.id}").status_code == 404
    # B now looks after Alice, but the sale stays A's: B cannot open a licence A sold.
    client.post("/p/reseau-n/reseller/signout",
                data={"csrf_token": form_token("/p/reseau-n/reseller/")})
    sign_in("reseau-n", "b@marais.example")
    assert client.get(f"/p/reseau-n/reseller/licences/{line.id}").status_code == 404


def test_every_portal_route_refuses_a_reseller_of_another_network(client, world, sales, sign_in,
                                                                   db):
    sign_in("reseau-m", "c@martin.example")
    line = sales["a"].product_lines[0]
    for path in ("/", "/clients", f"/clients/{_client(db, 'alice@example.com')}",
                 f"/licences/{line.id}", "/commissions", "/commissions.csv", "/security"):
        response = client.get(f"/p/reseau-n/reseller{path}")
        assert response.status_code == 302, path
        assert "/p/reseau-n/reseller/signin" in response.headers["Location"], path
    assert db.session.scalars(select(BackupAccess)).all() == []
