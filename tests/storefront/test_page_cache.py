"""Anonymous shop pages from the page cache: served without Flask's work, nothing personal in
them, invalidated by any change of what they show, apart per shop, language and VAT country."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select, update
from support.shops import SAME_ORIGIN

from commerce.models import PartnerProduct
from extensions import db as _db

OFFICE = "OFFICE-HOME-2024-WIN"
PAGE = f"/p/shop-a/products/{OFFICE}"


@contextmanager
def counted_statements() -> Iterator[list[str]]:
    """The SQL statements run while the block runs, on the app's engine."""
    seen: list[str] = []

    def note(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        seen.append(statement)

    engine = _db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def cache(app):  # type: ignore[no-untyped-def]
    return app.extensions["pagecache"]


def warm(client, path: str = PAGE, **kwargs):  # type: ignore[no-untyped-def]
    """Ask twice: a process's first page of a shop teaches it the shop, the second is stored."""
    for _ in range(2):
        response = client.get(path, **kwargs)
        assert response.status_code == 200
    return response


def test_a_repeated_anonymous_page_is_served_from_the_cache_without_sql(app, client, shops):
    stored = warm(client)
    hits = cache(app).hits
    with counted_statements() as statements:
        again = client.get(PAGE)
    assert again.status_code == 200 and statements == []
    assert cache(app).hits == hits + 1
    assert again.data == stored.data and "Office Famille 2024" in again.get_data(as_text=True)


def test_a_cached_page_holds_nothing_personal_and_sets_no_cookie(app, client, shops):
    warm(client)
    response = client.get(PAGE)
    html = response.get_data(as_text=True)
    assert "csrf_token" not in html
    assert "Set-Cookie" not in response.headers
    assert re.search(r'class="cart-count">0<', html)
    assert "Sign out" not in html and "Déconnexion" not in html
    for path in ("/p/shop-a/", "/p/shop-a/products", "/p/shop-a/products?family=office"):
        for _ in range(3):
            page = client.get(path)
            assert page.status_code == 200 and "Set-Cookie" not in page.headers
            assert "csrf_token" not in page.get_data(as_text=True)
    assert client.get_cookie("comptoir_session") is None


def test_a_price_change_shows_at_the_next_page(app, client, shops, db):
    assert "139,00" in warm(client).get_data(as_text=True)
    offer = db.session.scalar(select(PartnerProduct).where(
        PartnerProduct.partner_id == shops.a.id, PartnerProduct.product_id == shops.office.id))
    offer.price_cents = 11900
    db.session.commit()
    assert "119,00" in client.get(PAGE).get_data(as_text=True)


def test_a_bulk_price_update_shows_at_the_next_page(app, client, shops, db):
    warm(client)
    db.session.execute(update(PartnerProduct).where(PartnerProduct.partner_id == shops.a.id)
                       .values(price_cents=10900))
    db.session.commit()
    assert "109,00" in client.get(PAGE).get_data(as_text=True)


def test_a_product_change_shows_on_every_shop(app, client, shops, db):
    warm(client)
    warm(client, f"/p/shop-b/products/{OFFICE}")
    shops.office.name = "Office Famille 2024 Plus"
    db.session.commit()
    for slug in ("shop-a", "shop-b"):
        page = client.get(f"/p/{slug}/products/{OFFICE}").get_data(as_text=True)
        assert "Office Famille 2024 Plus" in page


def test_a_brand_change_shows_at_the_next_page(app, client, shops, db):
    warm(client, "/p/shop-a/")
    shops.a.name = "Shop A Renamed"
    shops.a.primary_color = "#123456"
    db.session.commit()
    page = client.get("/p/shop-a/").get_data(as_text=True)
    assert "Shop A Renamed" in page and "#123456" in page


def test_a_rolled_back_change_keeps_the_cache(app, client, shops, db):
    warm(client)
    hits = cache(app).hits
    shops.a.name = "Never Saved"
    db.session.flush()
    db.session.rollback()
    client.get(PAGE)
    assert cache(app).hits == hits + 1


def test_a_page_answers_304_to_its_etag(app, client, shops):
    etag = warm(client).headers["ETag"]
    assert etag.startswith('"') and len(etag) > 10
    response = client.get(PAGE, headers={"If-None-Match": etag})
    assert response.status_code == 304 and response.data == b""
    assert response.headers["ETag"] == etag
    assert client.get(PAGE, headers={"If-None-Match": '"other"'}).status_code == 200


def test_cacheable_pages_say_so_to_a_cdn(app, client, shops):
    app.config["IP_COUNTRY_HEADER"] = "X-Country"
    response = warm(client)
    control = response.headers["Cache-Control"]
    assert control.startswith("public, max-age=0, s-maxage=")
    assert "stale-while-revalidate" in control
    vary = {v.strip() for v in response.headers["Vary"].split(",")}
    assert {"Accept-Language", "Cookie", "X-Country"} <= vary


def test_a_visitor_with_a_cart_gets_their_own_uncached_page(app, client, shops, add_to_cart):
    warm(client)
    assert add_to_cart("shop-a", OFFICE, 2).status_code == 302
    hits = cache(app).hits
    response = client.get(PAGE)
    html = response.get_data(as_text=True)
    assert cache(app).hits == hits
    assert response.headers["Cache-Control"] == "private, no-store"
    assert re.search(r'class="cart-count">2<', html) and 'name="csrf_token"' in html
    summary = client.get("/p/shop-a/cart/summary")
    assert summary.json["count"] == 2 and summary.json["csrf_token"]
    assert summary.headers["Cache-Control"] == "private, no-store"


def test_a_signed_in_buyer_gets_their_own_uncached_page(app, client, shops, make_user,
                                                       form_token):
    warm(client)
    make_user(email="camille@example.com", password="a long enough password")
    token = form_token("/p/shop-a/account/signin")
    signed = client.post("/p/shop-a/account/signin", data={
        "csrf_token": token, "email": "camille@example.com",
        "password": "a long enough password"})
    assert signed.status_code == 302
    hits = cache(app).hits
    response = client.get(PAGE)
    assert cache(app).hits == hits
    assert "no-store" in response.headers["Cache-Control"]
    assert "private" in response.headers["Cache-Control"]
    assert client.get("/p/shop-a/cart/summary").json["signed_in"] is True


def test_a_visitor_who_chose_a_language_still_gets_cached_pages(app, client, shops):
    assert client.get("/p/shop-a/?lang=en").status_code == 200
    assert client.get_cookie("comptoir_session") is not None
    warm(client)
    hits = cache(app).hits
    response = client.get(PAGE)
    assert cache(app).hits == hits + 1 and "Set-Cookie" not in response.headers
    assert "Add to cart" in response.get_data(as_text=True)


def test_languages_and_vat_countries_keep_separate_pages(app, client, shops):
    app.config["IP_COUNTRY_HEADER"] = "X-Country"
    french = warm(client, headers={"Accept-Language": "fr"}).get_data(as_text=True)
    english = warm(client, headers={"Accept-Language": "en"}).get_data(as_text=True)
    hungarian = warm(client, headers={"X-Country": "HU"}).get_data(as_text=True)
    assert "Ajouter au panier" in french and "Add to cart" in english
    assert re.search(r"139,00\s€", french) and re.search(r"147,11\s€", hungarian)
    assert re.search(r"139,00\s€", client.get(PAGE).get_data(as_text=True))
    assert "Add to cart" in client.get(PAGE, headers={"Accept-Language": "en"}).get_data(
        as_text=True)


def test_two_shops_never_see_each_others_pages(app, client, shops):
    a = warm(client).get_data(as_text=True)
    b = warm(client, f"/p/shop-b/products/{OFFICE}").get_data(as_text=True)
    assert "139,00" in a and "Shop A" in a and "125,00" in b and "Shop B" in b
    by_host_a = warm(client, f"/products/{OFFICE}", headers={"Host": "shop-a.example"})
    by_host_b = warm(client, f"/products/{OFFICE}", headers={"Host": "shop-b.example"})
    assert "139,00" in by_host_a.get_data(as_text=True)
    assert "125,00" in by_host_b.get_data(as_text=True)


def test_embedded_pages_are_never_cached(app, client, shops):
    for _ in range(3):
        response = client.get(f"/embed/shop-a/products/{OFFICE}", base_url="https://localhost")
        assert response.status_code == 200
        assert "public" not in response.headers.get("Cache-Control", "")
    assert cache(app).hits == 0


def test_the_cart_summary_of_a_visitor_without_a_session_needs_no_sql(app, client, shops):
    with counted_statements() as statements:
        summary = client.get("/p/shop-a/cart/summary")
    assert statements == [] and summary.json == {"count": 0, "signed_in": False}
    assert "Set-Cookie" not in summary.headers


def test_adding_to_the_cart_from_another_site_is_refused(app, client, shops):
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site"}, {"Origin": "null"},
                    {"Sec-Fetch-Site": "same-origin", "Origin": "https://evil.example"}):
        refused = client.post(f"/p/shop-a/cart/add/{OFFICE}", data={"quantity": 1},
                              headers=headers)
        assert refused.status_code == 403, headers
        assert "another site" in refused.get_data(as_text=True) or \
            "autre site" in refused.get_data(as_text=True)
    assert client.get("/p/shop-a/cart/summary").json["count"] == 0


def test_adding_to_the_cart_from_the_shop_itself_is_accepted(app, client, shops):
    for headers in (SAME_ORIGIN, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}):
        added = client.post(f"/p/shop-a/cart/add/{OFFICE}", data={"quantity": 1},
                            headers=headers)
        assert added.status_code == 302, headers
    assert client.get("/p/shop-a/cart/summary").json["count"] == 3


def test_a_form_without_origin_headers_needs_its_csrf_token(app, client, shops, add_to_cart):
    assert add_to_cart("shop-a", OFFICE).status_code == 302  # a cart: pages carry a token now
    html = client.get(PAGE).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    added = client.post(f"/p/shop-a/cart/add/{OFFICE}",
                        data={"quantity": 1, "csrf_token": token})
    assert added.status_code == 302
    assert client.get("/p/shop-a/cart/summary").json["count"] == 2


def test_with_the_cache_off_an_anonymous_page_still_starts_no_session(test_settings, shops,
                                                                       tmp_path):
    from app import create_app

    off = create_app({**test_settings, "PAGE_CACHE": "off",
                      "SESSION_DIR": str(tmp_path / "sessions")})
    assert "pagecache" not in off.extensions
    with off.app_context():
        client = off.test_client()
        response = client.get(PAGE)
        assert response.status_code == 200 and "Set-Cookie" not in response.headers
        assert "csrf_token" not in response.get_data(as_text=True)
        added = client.post(f"/p/shop-a/cart/add/{OFFICE}", data={"quantity": 1},
                            headers=SAME_ORIGIN)
        assert added.status_code == 302
        assert 'name="csrf_token"' in client.get(PAGE).get_data(as_text=True)


def test_pages_and_counters_in_redis_are_shared_by_two_processes_apps(test_settings, shops, db,
                                                                      tmp_path):
    """Two apps on one Redis (db 6), as two gunicorn workers: a page one stored is served by the
    other, and a change committed through either invalidates both."""
    import redis

    from app import create_app

    url = "redis://127.0.0.1:6379/6"
    redis.Redis.from_url(url).ping()
    apps = [create_app({**test_settings, "PAGE_CACHE": "redis", "PAGE_CACHE_REDIS_URL": url,
                        "SESSION_DIR": str(tmp_path / f"sessions-{n}")}) for n in (1, 2)]
    first, second = (a.test_client() for a in apps)
    with apps[0].app_context():
        warm(first)
    with apps[1].app_context():
        second.get(PAGE)  # this process learns the shop; the page itself comes from Redis next
        with counted_statements() as statements:
            served = second.get(PAGE)
        assert statements == [] and apps[1].extensions["pagecache"].hits == 1
        assert "139,00" in served.get_data(as_text=True)
    with apps[0].app_context():  # a change committed by the other process (a back office)
        from storefront.pagecache.store import RedisStore

        assert isinstance(apps[0].extensions["pagecache"].store, RedisStore)
        offer = db.session.scalar(select(PartnerProduct).where(
            PartnerProduct.partner_id == shops.a.id,
            PartnerProduct.product_id == shops.office.id))
        offer.price_cents = 11500
        db.session.commit()
    with apps[1].app_context():
        assert "115,00" in second.get(PAGE).get_data(as_text=True)
