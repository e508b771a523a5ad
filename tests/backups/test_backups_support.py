"""Operator support in the back office: open, re-send and renew a backup; recent backups, alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from backups_support import mails
from sqlalchemy import select

from backups.vault import BackupAccess, VaultAlert, get_backup
from backups.vault.services import add_years
from commerce.models import StatusChange


def test_order_page_shows_each_lines_backup_with_actions(client, operator, shops, backed_order):
    backed = backed_order(shops.a)
    html = client.get(f"/admin/orders/{backed.order.id}").get_data(as_text=True)
    assert "Licence backups" in html and str(backed.backup.id) in html
    assert "Open the stored licence" in html and "Re-send to the buyer" in html
    assert "Extend by 2 years (renewal paid)" in html
    assert backed.product_key not in html


def test_operator_open_and_resend_are_audited(client, operator, shops, backed_order, db,
                                              form_token):
    backed = backed_order(shops.a)
    token = form_token(f"/admin/orders/{backed.order.id}")

    opened = client.post(f"/admin/backups/{backed.backup.id}/open", data={"csrf_token": token})
    assert opened.status_code == 200 and backed.product_key in opened.get_data(as_text=True)
    resent = client.post(f"/admin/backups/{backed.backup.id}/resend", data={"csrf_token": token})
    assert resent.status_code == 302
    assert resent.headers["Location"].endswith(f"/admin/orders/{backed.order.id}")

    [mail] = mails(db)
    assert mail.to == "camille@example.com" and backed.product_key in mail.text_body
    assert "Here is your licence for Office Famille 2024" in mail.text_body  # order in English
    accesses = db.session.scalars(select(BackupAccess).order_by(BackupAccess.at)).all()
    assert [(a.actor_kind, a.actor_id, a.action, a.outcome) for a in accesses] == [
        ("operator", "support@comptoir.example", "view", "ok"),
        ("operator", "support@comptoir.example", "resend", "ok"),
    ]
    assert all(a.source == "127.0.0.1" for a in accesses)


def test_operator_actions_need_an_operator(client, shops, backed_order, make_user, form_token):
    backed = backed_order(shops.a)
    token = form_token("/admin/login")
    response = client.post(f"/admin/backups/{backed.backup.id}/open", data={"csrf_token": token})
    assert response.status_code == 403  # an action without an operator session is refused
    answer = client.get("/admin/backups")
    assert answer.status_code == 302 and "/admin/login" in answer.headers["Location"]
    assert client.get("/p/shop-a/admin/backups").status_code == 404


def test_tampered_backup_shows_an_error_and_the_alert_in_the_back_office(
    app, client, operator, shops, backed_order, db, form_token
):
    backed = backed_order(shops.a)
    stored = Path(app.config["VAULT_DIR"]) / backed.backup.object_key
    stored.write_bytes(stored.read_bytes()[:-1] + b"\x00")
    token = form_token("/admin/backups")

    response = client.post(f"/admin/backups/{backed.backup.id}/open", data={"csrf_token": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "failed its integrity check" in html and backed.product_key not in html

    page = client.get("/admin/backups").get_data(as_text=True)
    alert = db.session.scalar(select(VaultAlert))
    assert str(alert.backup_id) in page and "SHA-256 mismatch" in page
    ack = client.post(f"/admin/backups/alerts/{alert.id}/acknowledge", data={"csrf_token": token})
    assert ack.status_code == 302
    db.session.refresh(alert)
    assert alert.acknowledged_at is not None
    assert "No open alert." in client.get("/admin/backups").get_data(as_text=True)


def test_expired_backup_says_expired_on_in_the_back_office(
    client, operator, shops, backed_order, form_token
):
    old = backed_order(shops.a, delivered_at=datetime.now(UTC) - timedelta(days=800))
    token = form_token("/admin/backups")
    response = client.post(f"/admin/backups/{old.backup.id}/open", data={"csrf_token": token})
    assert response.status_code == 200
    assert f"Backup expired on {old.backup.expires_at.date().isoformat()}" in response.get_data(
        as_text=True)


def test_renewal_extends_two_years_once_and_is_recorded(
    client, operator, shops, backed_order, db, form_token
):
    backed = backed_order(shops.a)
    before = backed.backup.expires_at
    token = form_token(f"/admin/orders/{backed.order.id}")
    form = {"csrf_token": token, "expires_at": before.isoformat()}

    first = client.post(f"/admin/backups/{backed.backup.id}/extend", data=form)
    second = client.post(f"/admin/backups/{backed.backup.id}/extend", data=form)
    assert first.status_code == second.status_code == 302

    db.session.expire_all()
    assert get_backup(backed.backup.id).expires_at == add_years(before, 2)
    [change] = db.session.scalars(select(StatusChange).where(StatusChange.field == "backup")).all()
    assert change.order_id == backed.order.id
    assert change.actor == "operator:support@comptoir.example"
    assert (change.from_status, change.to_status) == (
        f"{before:%Y-%m-%d}", f"{add_years(before, 2):%Y-%m-%d}")
    assert "renewed meanwhile" in client.get(f"/admin/orders/{backed.order.id}").get_data(
        as_text=True)


def test_backups_page_filters_by_status(client, operator, shops, backed_order):
    live = backed_order(shops.a)
    old = backed_order(shops.a, "old@example.com",
                       delivered_at=datetime.now(UTC) - timedelta(days=800))

    everything = client.get("/admin/backups").get_data(as_text=True)
    assert live.order.number in everything and old.order.number in everything
    expired = client.get("/admin/backups?status=expired").get_data(as_text=True)
    assert old.order.number in expired and live.order.number not in expired
    stored = client.get("/admin/backups?status=stored").get_data(as_text=True)
    assert live.order.number in stored and old.order.number not in stored
    assert "No backup with status purged." in client.get("/admin/backups?status=purged").get_data(
        as_text=True)
