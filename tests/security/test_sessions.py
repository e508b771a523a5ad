"""Sessions live on the server: ended for good, timed out per door, renewed at each privilege."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from support.environment import redis_problem, require

from accounts.models import AuthSession
from accounts.sessions import TIMEOUTS, Door
from commerce.models import User
from extensions import utcnow

PASSWORD = "a long enough password"  # noqa: S105 - a test account's
COOKIE = "comptoir_session"


def _csrf(client, url: str) -> str:
    html = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _sign_in_buyer(client, email: str = "camille@example.com") -> None:
    response = client.post("/p/shop-a/account/signin", data={
        "csrf_token": _csrf(client, "/p/shop-a/account/signin"), "email": email,
        "password": PASSWORD})
    assert response.status_code == 302, response.status_code


def _cookie(client) -> str | None:
    cookie = client.get_cookie(COOKIE)
    return cookie.value if cookie is not None else None


def _signed_in(client) -> bool:
    return client.get("/p/shop-a/account/").status_code == 200


@pytest.fixture
def buyer(make_user):
    return make_user(email="camille@example.com", password=PASSWORD)


def test_the_cookie_holds_only_a_random_id_and_the_data_stays_on_the_server(
    app, client, shops, buyer, tmp_path
):
    _sign_in_buyer(client)
    sid = _cookie(client)
    assert sid and re.fullmatch(r"[A-Za-z0-9_-]{40,}", sid)
    assert "camille" not in sid and "." not in sid  # not a signed payload
    stored = list((tmp_path / "sessions").iterdir())
    assert stored, "the server keeps the session's data"


def test_signing_out_ends_the_session_on_the_server_a_copied_cookie_stops_working(
    app, client, shops, buyer
):
    _sign_in_buyer(client)
    copied = _cookie(client)
    thief = app.test_client()
    thief.set_cookie(COOKIE, copied)
    assert _signed_in(thief)
    client.post("/p/shop-a/account/signout",
                data={"csrf_token": _csrf(client, "/p/shop-a/account/")})
    assert not _signed_in(client)
    assert not _signed_in(thief)


def test_signing_in_gives_a_new_session_id_and_the_old_one_opens_nothing(
    app, client, shops, buyer, add_to_cart
):
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    before = _cookie(client)
    _sign_in_buyer(client)
    after = _cookie(client)
    assert before and after and before != after
    assert "Office" in client.get("/p/shop-a/cart?lang=en").get_data(as_text=True)  # cart kept
    planted = app.test_client()
    planted.set_cookie(COOKIE, before)  # a fixed session id an attacker planted beforehand
    assert not _signed_in(planted)


def test_confirming_the_address_renews_the_session_id(
    client, shops, form_token, db, make_user, mailbox
):
    from accounts.services import VERIFY, issue_token

    user = make_user(email="camille@example.com", password=PASSWORD, email_verified_at=None)
    _sign_in_buyer(client)
    issued = issue_token(user, VERIFY)
    client.get(f"/p/shop-a/account/verify/{issued.token}")
    before = _cookie(client)
    client.post("/p/shop-a/account/verify", data={"csrf_token": form_token(
        "/p/shop-a/account/verify")})
    assert _cookie(client) != before
    assert _signed_in(client)
    db.session.refresh(user)
    assert user.email_verified_at is not None


@pytest.mark.parametrize(("door", "within", "beyond"), [
    (Door.BUYER, timedelta(hours=1), timedelta(hours=3)),
    (Door.OPERATOR, timedelta(minutes=10), timedelta(minutes=16)),
])
def test_idle_sessions_end_after_their_doors_limit(
    app, client, shops, buyer, sign_in_operator, db, door, within, beyond
):
    if door == Door.OPERATOR:
        sign_in_operator(client)
        page = "/admin/"
        open_ = lambda: client.get(page).status_code == 200  # noqa: E731
    else:
        _sign_in_buyer(client)
        open_ = lambda: _signed_in(client)  # noqa: E731
    assert TIMEOUTS[door].idle < beyond
    _idle_for(client, db, within)
    assert open_()
    _idle_for(client, db, beyond)
    assert not open_()
    record = db.session.scalar(select(AuthSession).order_by(AuthSession.created_at.desc()))
    db.session.refresh(record)
    assert record.end_reason == "idle timeout"


def test_operators_have_the_shortest_sessions():
    assert TIMEOUTS[Door.OPERATOR].idle < TIMEOUTS[Door.RESELLER].idle < TIMEOUTS[Door.BUYER].idle
    assert TIMEOUTS[Door.OPERATOR].absolute < TIMEOUTS[Door.RESELLER].absolute \
        < TIMEOUTS[Door.BUYER].absolute


def test_a_session_ends_at_its_absolute_limit_even_when_busy(client, sign_in_operator, db):
    sign_in_operator(client)
    db.session.execute(update(AuthSession).values(
        created_at=utcnow() - TIMEOUTS[Door.OPERATOR].absolute - timedelta(minutes=1)))
    db.session.commit()
    assert client.get("/admin/").status_code == 302
    assert db.session.scalar(select(AuthSession.end_reason)) == "absolute timeout"


def test_disabling_an_account_ends_its_sessions_at_once(
    app, client, shops, buyer, sign_in_operator, db
):
    _sign_in_buyer(client)
    operator = app.test_client()
    sign_in_operator(operator)
    response = operator.post(f"/admin/people/{buyer.id}/disable",
                             data={"csrf_token": _csrf(operator, f"/admin/people/{buyer.id}")})
    assert response.status_code == 302
    assert not _signed_in(client)
    db.session.refresh(buyer)
    assert buyer.active is False
    assert client.post("/p/shop-a/account/signin", data={
        "csrf_token": _csrf(client, "/p/shop-a/account/signin"), "email": buyer.email,
        "password": PASSWORD}).status_code == 401


def test_an_operator_lists_and_ends_a_persons_sessions(
    app, client, shops, buyer, sign_in_operator
):
    laptop, phone = app.test_client(), app.test_client()
    _sign_in_buyer(laptop)
    _sign_in_buyer(phone)
    sign_in_operator(client)
    listing = client.get("/admin/people?q=camille").get_data(as_text=True)
    assert "camille@example.com" in listing
    page = client.get(f"/admin/people/{buyer.id}").get_data(as_text=True)
    ended = re.findall(rf"/admin/people/{buyer.id}/sessions/([0-9a-f-]+)/end", page)
    assert len(ended) == 2
    client.post(f"/admin/people/{buyer.id}/sessions/{ended[0]}/end",
                data={"csrf_token": _csrf(client, f"/admin/people/{buyer.id}")})
    assert [_signed_in(laptop), _signed_in(phone)].count(True) == 1
    client.post(f"/admin/people/{buyer.id}/sessions/end-all",
                data={"csrf_token": _csrf(client, f"/admin/people/{buyer.id}")})
    assert not _signed_in(laptop) and not _signed_in(phone)


def test_the_people_pages_are_for_operators_only(client, shops, buyer):
    _sign_in_buyer(client)
    assert client.get("/admin/people").status_code == 302
    assert client.post(f"/admin/people/{buyer.id}/disable").status_code in (400, 403)


@pytest.mark.redis
def test_sessions_live_in_redis_in_production_style(test_settings, _schema, make_partner,
                                                    make_user, tmp_path):
    problem = redis_problem()
    if problem:
        require("Redis", problem)
    from redis import Redis

    from app import create_app
    from extensions import db

    app = create_app({**test_settings, "SESSION_STORE": "redis",
                      "SESSION_REDIS_URL": "redis://127.0.0.1:6379/13"})
    redis = Redis.from_url("redis://127.0.0.1:6379/13")
    key = None
    try:
        with app.app_context():
            make_partner(slug="shop-a")
            make_user(email="camille@example.com", password=PASSWORD)
            client = app.test_client()
            _sign_in_buyer(client)
            key = f"comptoir:session:{_cookie(client)}"
            assert redis.exists(key) and 0 < redis.ttl(key) <= 14 * 24 * 3600
            client.post("/p/shop-a/account/signout",
                        data={"csrf_token": _csrf(client, "/p/shop-a/account/")})
            assert not redis.exists(key)
            db.session.remove()
            db.engine.dispose()
    finally:
        if key:  # this test's record only: another suite may share the database
            redis.delete(key)
        redis.close()


def _idle_for(client, db, gap: timedelta) -> None:
    """Make the session look idle for `gap`: its record and the time kept in its data."""
    moment = utcnow() - gap
    db.session.execute(update(AuthSession).where(AuthSession.ended_at.is_(None))
                       .values(last_seen_at=moment))
    db.session.commit()
    with client.session_transaction() as session:
        session["_auth"] = {**session["_auth"], "seen": moment.timestamp()}


def test_a_session_of_a_changed_role_is_dropped(client, shops, buyer, db):
    _sign_in_buyer(client)
    db.session.execute(update(User).where(User.id == buyer.id).values(role="reseller"))
    db.session.commit()
    assert not _signed_in(client)


def test_changing_the_password_needs_the_current_one_and_ends_the_other_sessions(
    app, client, shops, buyer, db
):
    other = app.test_client()
    _sign_in_buyer(other)
    _sign_in_buyer(client)
    before = _cookie(client)
    form = {"csrf_token": _csrf(client, "/p/shop-a/account/password"), "current": "wrong one",
            "password": "a fresh long passphrase", "confirm": "a fresh long passphrase"}
    assert client.post("/p/shop-a/account/password", data=form).status_code == 400
    assert _signed_in(other)
    form["current"] = PASSWORD
    assert client.post("/p/shop-a/account/password", data=form).status_code == 302
    assert _signed_in(client) and _cookie(client) != before
    assert not _signed_in(other)
    db.session.refresh(buyer)
    from commerce.passwords import check_password

    assert check_password(buyer.password_hash, "a fresh long passphrase")


def test_a_buyer_sees_where_the_account_is_open_and_closes_a_session(app, client, shops, buyer):
    phone = app.test_client()
    _sign_in_buyer(phone)
    _sign_in_buyer(client)
    page = client.get("/p/shop-a/account/").get_data(as_text=True)
    [other] = re.findall(r"/p/shop-a/account/sessions/([0-9a-f-]+)/end", page)
    client.post(f"/p/shop-a/account/sessions/{other}/end",
                data={"csrf_token": _csrf(client, "/p/shop-a/account/")})
    assert not _signed_in(phone) and _signed_in(client)
    # Another person's session id ends nothing.
    stranger_page = client.post(f"/p/shop-a/account/sessions/{uuid.uuid4()}/end",
                                data={"csrf_token": _csrf(client, "/p/shop-a/account/")})
    assert stranger_page.status_code == 302 and _signed_in(client)
