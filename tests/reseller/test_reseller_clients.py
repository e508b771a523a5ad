"""Clients: search, a client's page, pulling up and re-sending a stored licence."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from backups.vault import BackupAccess
from commerce.models import CapturedMail, utcnow
from commerce.orders import ADDON_BACKUP
from commissions.models import ResellerClient


def _client_id(db, email: str):  # type: ignore[no-untyped-def]
    return db.session.scalar(select(ResellerClient.id).where(ResellerClient.email == email))


@pytest.fixture
def clients(world, sell, deliver):  # type: ignore[no-untyped-def]
    """A's clients Camille Martin and Robert Durand; B's client Zoé Durand."""
    now = utcnow()
    orders = {
        "camille": sell(world.n, [("OFFICE-HOME-2024-WIN", 2, (ADDON_BACKUP,))],
                        "camille.martin@example.com", "Camille Martin", code="RP-AAAA",
                        paid_at=now - timedelta(days=30)),
        "robert": sell(world.n, [("VISIO-STD-2024", 1)], "robert@corp.example", "Robert Durand",
                       code="RP-AAAA", paid_at=now - timedelta(days=20)),
        "zoe": sell(world.n, [("OFFICE-HOME-2024-WIN", 1, (ADDON_BACKUP,))], "zoe@example.com",
                    "Zoé Durand", code="RP-BBBB", paid_at=now - timedelta(days=10)),
    }
    for order in orders.values():
        deliver(order, order.paid_at)
    return orders


def _names(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="[^"]+">([^<]+)</a></th>', html)


def test_client_list_and_search_by_email_or_name(client, world, clients, sign_in):
    sign_in("reseau-n", "a@dupont.example")
    every = client.get("/p/reseau-n/reseller/clients").get_data(as_text=True)
    assert _names(every) == ["Robert Durand", "Camille Martin"]
    assert "2 clients" in every and "zoe@example.com" not in every
    html = client.get("/p/reseau-n/reseller/clients?q=durand").get_data(as_text=True)
    assert _names(html) == ["Robert Durand"]  # not B's Zoé Durand
    assert _names(client.get("/p/reseau-n/reseller/clients?q=CAMILLE.M").get_data(
        as_text=True)) == ["Camille Martin"]
    assert _names(client.get("/p/reseau-n/reseller/clients?q=corp.example").get_data(
        as_text=True)) == ["Robert Durand"]
    nobody = client.get("/p/reseau-n/reseller/clients?q=zoe").get_data(as_text=True)
    assert _names(nobody) == [] and "No client matches" in nobody
    assert _names(client.get("/p/reseau-n/reseller/clients?q=%25").get_data(as_text=True)) == []


def test_client_page_lists_orders_and_licences_with_keys_masked(client, world, clients, sign_in,
                                                                db):
    sign_in("reseau-n", "a@dupont.example")
    order = clients["camille"]
    response = client.get(f"/p/reseau-n/reseller/clients/{_client_id(db, order.email)}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Camille Martin" in html and order.number in html
    assert clients["robert"].number not in html
    masked = re.findall(r'<span class="product-key">([^<]+)</span>', html)
    assert len(masked) == 2 and all(key.startswith("XXXXX-XXXXX-XXXXX-XXXXX-") for key in masked)
    assert "VK00" not in html  # no whole product key on the page
    assert len(re.findall(r"· licence CPT-[0-9A-Z]{4}-[0-9A-Z]{4}-", html)) == 2
    assert "Pull up the stored licence" in html


def test_pulling_up_a_stored_licence_goes_through_the_vault_and_is_audited(
        client, world, clients, sign_in, db):
    sign_in("reseau-n", "a@dupont.example")
    line = clients["camille"].product_lines[0]
    response = client.get(f"/p/reseau-n/reseller/licences/{line.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    keys = re.findall(r'<span class="product-key">([^<]+)</span>', html)
    assert len(keys) == 2 and all(re.fullmatch(r"VK\d{3}X-7QPRT-M4HC2-WJ9KD-\d{5}", k)
                                  for k in keys)
    assert "https://download.example/" in html and "Signed licence" in html
    access = db.session.scalars(select(BackupAccess)).one()
    assert (access.actor_kind, access.actor_id, access.action, access.outcome, access.source) == (
        "reseller", "RP-AAAA", "view", "ok", "127.0.0.1")


def test_re_sending_a_stored_licence_e_mails_the_client(client, world, clients, sign_in,
                                                        form_token, db):
    sign_in("reseau-n", "a@dupont.example")
    order = clients["camille"]
    line = order.product_lines[0]
    token = form_token(f"/p/reseau-n/reseller/licences/{line.id}")
    response = client.post(f"/p/reseau-n/reseller/licences/{line.id}/resend",
                           data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(
        f"/reseller/clients/{_client_id(db, order.email)}")
    mail = db.session.scalars(select(CapturedMail)).one()
    assert mail.to == "camille.martin@example.com"
    assert "Office Famille 2024" in mail.subject
    assert len(re.findall(r"VK\d{3}X-7QPRT-M4HC2-WJ9KD-\d{5}", mail.text_body)) == 2
    assert "Dupont Informatique" in mail.text_body
    actions = sorted(db.session.scalars(select(BackupAccess.action)).all())
    assert actions == ["resend", "view"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The licence was sent again to camille.martin@example.com." in page


def test_an_expired_backup_says_when_it_expired(client, world, sell, deliver, sign_in, db,
                                                form_token):
    now = utcnow()
    order = sell(world.n, [("OFFICE-HOME-2024-WIN", 1, (ADDON_BACKUP,))], "old@example.com",
                 "Ancien Client", code="RP-AAAA", paid_at=now - timedelta(days=800))
    deliver(order, now - timedelta(days=800))
    sign_in("reseau-n", "a@dupont.example")
    line = order.product_lines[0]
    response = client.get(f"/p/reseau-n/reseller/licences/{line.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "This backup expired on" in html and "VK00" not in html
    assert db.session.scalar(select(BackupAccess.outcome)) == "expired"
    token = form_token(f"/p/reseau-n/reseller/clients/{_client_id(db, order.email)}")
    client.post(f"/p/reseau-n/reseller/licences/{line.id}/resend", data={"csrf_token": token})
    assert db.session.scalars(select(CapturedMail)).all() == []


def test_a_tampered_backup_is_a_clear_error_never_a_licence(client, world, clients, sign_in, db,
                                                            app):
    from pathlib import Path

    from backups.vault import backup_for_line

    line = clients["camille"].product_lines[0]
    backup = backup_for_line(str(line.id))
    stored = next(Path(app.config["VAULT_DIR"]).rglob(str(backup.id) + "*"))
    data = bytearray(stored.read_bytes())
    data[-1] ^= 0x01
    stored.write_bytes(bytes(data))
    sign_in("reseau-n", "a@dupont.example")
    response = client.get(f"/p/reseau-n/reseller/licences/{line.id}")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "fails its integrity check" in html and "VK00" not in html


def test_a_line_without_backup_is_not_found(client, world, clients, sign_in):
    sign_in("reseau-n", "a@dupont.example")
    line = clients["robert"].product_lines[0]
    assert client.get(f"/p/reseau-n/reseller/licences/{line.id}").status_code == 404
