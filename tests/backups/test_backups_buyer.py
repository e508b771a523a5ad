"""A signed-in buyer finds their licences again on one shop, and only theirs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from backups_support import mails
from sqlalchemy import select

from backups.vault import AccessOutcome, BackupAccess, VaultAlert


def test_account_lists_own_backups_of_this_shop_only(
    client, english, shops, backed_order, make_user, sign_in
):
    user = make_user(email="camille@example.com")
    mine = backed_order(shops.a, user=user)
    other_buyer = backed_order(shops.a, "someone.else@example.com")
    other_shop = backed_order(shops.b)

    sign_in("shop-a", "camille@example.com")
    html = client.get("/p/shop-a/account/").get_data(as_text=True)

    assert "My licence backups" in html
    assert mine.order.number in html and "Kept safe" in html
    assert f"{mine.backup.expires_at:%Y}" in html
    assert other_buyer.order.number not in html
    assert other_shop.order.number not in html
    assert "Nobody has opened your backups yet." in html


def test_account_includes_backups_of_orders_claimed_under_another_address(
    client, english, shops, backed_order, make_user, sign_in
):
    user = make_user(email="camille@example.com")
    claimed = backed_order(shops.a, "camille.work@example.com", user=user)

    sign_in("shop-a", "camille@example.com")
    assert claimed.order.number in client.get("/p/shop-a/account/").get_data(as_text=True)
    response = client.get(f"/p/shop-a/backups/{claimed.backup.id}")
    assert response.status_code == 200 and claimed.product_key in response.get_data(as_text=True)


def test_show_my_licence_opens_the_backup_and_is_listed_in_accesses(
    client, english, shops, backed_order, make_user, sign_in, db
):
    user = make_user(email="camille@example.com")
    mine = backed_order(shops.a, user=user)
    sign_in("shop-a", "camille@example.com")

    response = client.get(f"/p/shop-a/backups/{mine.backup.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert mine.product_key in html
    assert "https://download.example/office-2024.exe" in html
    assert f"LIC-{mine.order.number}-1" in html and "eyJhbGciOiJFZERTQSJ9.test.sig" in html

    access = db.session.scalar(select(BackupAccess).where(BackupAccess.backup_id == mine.backup.id))
    assert (access.actor_kind, access.actor_id, access.action, access.outcome, access.source) == (
        "buyer", "camille@example.com", "view", "ok", "127.0.0.1")
    account = client.get("/p/shop-a/account/").get_data(as_text=True)
    assert "Who opened my backups" in account
    assert "Viewed" in account and "127.0.0.1" in account


def test_another_buyers_or_another_shops_backup_is_404_and_audited(
    client, english, shops, backed_order, make_user, sign_in, db, form_token
):
    user = make_user(email="camille@example.com")
    backed_order(shops.a, user=user)
    other_buyer = backed_order(shops.a, "someone.else@example.com")
    own_on_b = backed_order(shops.b, user=user)
    sign_in("shop-a", "camille@example.com")

    assert client.get(f"/p/shop-a/backups/{other_buyer.backup.id}").status_code == 404
    assert client.get(f"/p/shop-a/backups/{own_on_b.backup.id}").status_code == 404
    assert other_buyer.product_key not in client.get("/p/shop-a/account/").get_data(as_text=True)
    response = client.post(f"/p/shop-a/backups/{other_buyer.backup.id}/resend",
                           data={"csrf_token": form_token("/p/shop-a/backups/find")})
    assert response.status_code == 404
    assert mails(db) == []

    denied = db.session.scalars(select(BackupAccess).where(
        BackupAccess.outcome == AccessOutcome.DENIED)).all()
    assert {a.backup_id for a in denied} == {other_buyer.backup.id, own_on_b.backup.id}
    assert all(a.actor_id == "camille@example.com" for a in denied)


def test_signed_out_visitor_is_sent_to_find_my_licence(client, shops, backed_order):
    mine = backed_order(shops.a)
    response = client.get(f"/p/shop-a/backups/{mine.backup.id}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/p/shop-a/backups/find")


def test_send_it_to_me_by_email_uses_the_brand_and_the_order_language(
    client, english, shops, backed_order, make_user, sign_in, db, form_token, compiled_translations
):
    user = make_user(email="camille@example.com")
    mine = backed_order(shops.a, user=user, locale="fr")
    sign_in("shop-a", "camille@example.com")

    token = form_token("/p/shop-a/account/")
    response = client.post(f"/p/shop-a/backups/{mine.backup.id}/resend",
                           data={"csrf_token": token})
    assert response.status_code == 302

    [mail] = mails(db)
    assert mail.to == "camille@example.com"
    assert mail.subject.startswith("Shop A · ")
    assert mine.product_key in mail.text_body and mine.product_key in mail.html_body
    assert "Voici votre licence" in mail.text_body  # the order was placed in French
    resend = db.session.scalar(select(BackupAccess).where(BackupAccess.action == "resend"))
    assert resend.actor_kind == "buyer" and resend.outcome == "ok"


def test_expired_backup_says_expired_on_its_date(
    client, english, shops, backed_order, make_user, sign_in
):
    user = make_user(email="camille@example.com")
    delivered = datetime.now(UTC) - timedelta(days=2 * 366 + 3)
    old = backed_order(shops.a, user=user, delivered_at=delivered)
    sign_in("shop-a", "camille@example.com")

    expired_on = old.backup.expires_at.date()
    account = client.get("/p/shop-a/account/").get_data(as_text=True)
    assert f"expired on {expired_on:%B} {expired_on.day}, {expired_on.year}" in account
    response = client.get(f"/p/shop-a/backups/{old.backup.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"This backup expired on {expired_on:%B} {expired_on.day}, {expired_on.year}" in html
    assert old.product_key not in html


def test_tampered_object_gives_a_clear_error_page_and_an_alert(
    app, client, english, shops, backed_order, make_user, sign_in, db, form_token
):
    user = make_user(email="camille@example.com")
    mine = backed_order(shops.a, user=user)
    assert mine.backup.status == "stored"
    stored = Path(app.config["VAULT_DIR"]) / mine.backup.object_key
    blob = bytearray(stored.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    stored.write_bytes(bytes(blob))
    sign_in("shop-a", "camille@example.com")

    response = client.get(f"/p/shop-a/backups/{mine.backup.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "We cannot show this licence" in html and "integrity check" in html
    assert mine.product_key not in html
    alert = db.session.scalar(select(VaultAlert))
    assert alert.backup_id == mine.backup.id

    resend = client.post(f"/p/shop-a/backups/{mine.backup.id}/resend",
                         data={"csrf_token": form_token("/p/shop-a/account/")})
    assert resend.status_code == 500
    assert mails(db) == []

