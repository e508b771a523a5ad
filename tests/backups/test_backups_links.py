"""Finding a licence without an account: a single-use link that expires within the hour."""

from __future__ import annotations

import re
from datetime import timedelta

from backups_support import link_path, mails
from sqlalchemy import select

from backups import links
from backups.models import BackupAccessLink
from backups.vault import BackupAccess
from backups.vault.models import utcnow


def _ask(client, form_token, email: str, slug: str = "shop-a"):
    token = form_token(f"/p/{slug}/backups/find")
    return client.post(f"/p/{slug}/backups/find", data={"csrf_token": token, "email": email})


def _open(client, form_token, path: str):
    """Follow the e-mailed link (its token moves into the session), then press the button."""
    landing = client.get(path).headers["Location"]
    return client.post(landing, data={"csrf_token": form_token(landing)})


def test_link_opens_the_buyers_backups_once(client, english, shops, backed_order, db, form_token):
    mine = backed_order(shops.a)
    elsewhere = backed_order(shops.b)
    response = _ask(client, form_token, "Camille@Example.com ")
    assert response.status_code == 200

    [mail] = mails(db, "camille@example.com")
    assert mail.subject.startswith("Shop A · ")
    path = link_path(mail)
    # The token leaves the address bar at once: a redirect to a page without it.
    followed = client.get(path)
    assert followed.status_code == 302 and followed.headers["Location"] == "/p/shop-a/backups/link"
    token = path.rsplit("/", 1)[1]
    # Following the link (as a mail scanner would) does not use it up: the button does.
    landing = client.get("/p/shop-a/backups/link")
    assert landing.status_code == 200 and token not in landing.get_data(as_text=True)
    assert client.get("/p/shop-a/backups/link").status_code == 200
    opened = _open(client, form_token, path)
    assert opened.status_code == 302 and opened.headers["Location"].endswith("/p/shop-a/backups/")

    page = client.get("/p/shop-a/backups/").get_data(as_text=True)
    assert mine.order.number in page and elsewhere.order.number not in page
    shown = client.get(f"/p/shop-a/backups/{mine.backup.id}")
    assert shown.status_code == 200 and mine.product_key in shown.get_data(as_text=True)
    access = db.session.scalar(select(BackupAccess).where(BackupAccess.backup_id == mine.backup.id))
    assert (access.actor_kind, access.actor_id) == ("buyer", "camille@example.com")

    again = client.get(path, follow_redirects=True)
    assert again.status_code == 410
    assert "This link has already been used" in again.get_data(as_text=True)
    assert "/p/shop-a/backups/find" in again.get_data(as_text=True)
    client.get(path)
    assert client.post("/p/shop-a/backups/link",
                       data={"csrf_token": form_token("/p/shop-a/backups/find")}
                       ).status_code == 410


def test_link_session_is_for_that_shop_only(client, english, shops, backed_order, db, form_token):
    backed_order(shops.a)
    on_b = backed_order(shops.b)
    _ask(client, form_token, "camille@example.com")
    _open(client, form_token, link_path(mails(db)[0]))

    assert client.get("/p/shop-b/backups/").status_code == 302
    assert client.get(f"/p/shop-b/backups/{on_b.backup.id}").status_code == 302
    assert client.get(f"/p/shop-a/backups/{on_b.backup.id}").status_code == 404


def test_link_expires_after_an_hour(client, english, shops, backed_order, db):
    backed_order(shops.a)
    issued_at = utcnow() - timedelta(minutes=61)
    token = links.issue_link(shops.a, "camille@example.com", now=issued_at).token
    assert links.link_state(shops.a, token, now=issued_at + timedelta(minutes=59)) == "valid"

    response = client.get(f"/p/shop-a/backups/link/{token}", follow_redirects=True)
    assert response.status_code == 410
    assert "This link has expired" in response.get_data(as_text=True)
    link = db.session.scalar(select(BackupAccessLink))
    assert link.expires_at - link.created_at == timedelta(hours=1)
    assert link.token_hash != token and token not in link.token_hash


def test_link_redeems_once_even_when_used_twice_in_the_same_instant(shops, backed_order):
    backed_order(shops.a)
    now = utcnow()
    token = links.issue_link(shops.a, "camille@example.com", now=now).token
    assert links.redeem_link(shops.a, token, now=now) == "camille@example.com"
    try:
        links.redeem_link(shops.a, token, now=now)
    except links.LinkRefused as exc:
        assert exc.state == "used"
    else:
        raise AssertionError("a used link worked again")


def test_link_of_one_shop_does_not_open_on_another(client, english, shops, backed_order, db):
    backed_order(shops.a)
    token = links.issue_link(shops.a, "camille@example.com").token
    assert client.get(f"/p/shop-b/backups/link/{token}",
                      follow_redirects=True).status_code == 404


def test_unknown_email_gets_the_same_answer_and_no_mail(
    client, english, shops, backed_order, db, form_token
):
    backed_order(shops.a)
    backed_order(shops.b, "only.on.b@example.com")

    known = _ask(client, form_token, "camille@example.com")
    unknown = _ask(client, form_token, "nobody@example.com")
    other_shop = _ask(client, form_token, "only.on.b@example.com")

    def normalised(response, email):
        return response.get_data(as_text=True).replace(email, "EMAIL")

    assert known.status_code == unknown.status_code == other_shop.status_code == 200
    assert normalised(known, "camille@example.com") == normalised(unknown, "nobody@example.com")
    assert normalised(unknown, "nobody@example.com") == normalised(
        other_shop, "only.on.b@example.com")
    assert [m.to for m in mails(db)] == ["camille@example.com"]


def test_repeated_requests_stop_sending_after_three_live_links(
    client, english, shops, backed_order, db, form_token
):
    backed_order(shops.a)
    answers = {_ask(client, form_token, "camille@example.com").status_code for _ in range(5)}
    assert answers == {200}
    assert len(mails(db)) == links.MAX_LIVE_LINKS


def test_find_form_is_rate_limited(test_settings, _schema, make_partner):
    from app import create_app
    from extensions import db

    limited = create_app({**test_settings, "RATELIMIT_ENABLED": True})
    with limited.app_context():
        make_partner(slug="limited-shop")
        client = limited.test_client()
        html = client.get("/p/limited-shop/backups/find").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
        codes = [client.post("/p/limited-shop/backups/find",
                             data={"csrf_token": token, "email": f"x{i}@example.com"}).status_code
                 for i in range(6)]
        assert codes == [200] * 5 + [429]
        db.session.remove()
        db.engine.dispose()


def test_links_are_pruned_a_day_after_expiry(shops, backed_order, db):
    backed_order(shops.a)
    long_ago = utcnow() - timedelta(days=2)
    links.issue_link(shops.a, "camille@example.com", now=long_ago)
    links.issue_link(shops.a, "camille@example.com")
    assert links.prune_links() == 1
    assert len(db.session.scalars(select(BackupAccessLink)).all()) == 1
