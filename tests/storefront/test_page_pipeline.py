"""What every shop page goes through (the partner, the language, the cart count, the session,
the headers) stays as it was while it is made cheaper: the same text, money, headers and
cookies, what a partner changes seen at the next request, and no more statements than needed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import render_template_string
from flask_babel import force_locale, refresh
from sqlalchemy import event
from support.shops import add_to_cart, shops  # noqa: F401 - fixtures

from commerce.money import format_money
from extensions import db as _db
from storefront import i18n
from storefront.labels import family_label, platform_label, status_label
from storefront.security.headers import content_security_policy

OFFICE = "/p/shop-a/products/OFFICE-HOME-2024-WIN"  # 139,00 € at shop-a


@contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements run inside the block."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(_db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(_db.engine, "before_cursor_execute", record)


def _html(client, path: str, **headers: str) -> str:  # type: ignore[no-untyped-def]
    response = client.get(path, headers=headers)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def _session_store(app) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    """The files of the session store (its own entry count among them) and what they hold."""
    folder = Path(app.config["SESSION_DIR"])
    return {f.name: f.read_bytes() for f in folder.iterdir()} if folder.is_dir() else {}


def test_money_reads_the_same_in_french_and_english_however_often_it_is_formatted(app):
    expected = {
        ("fr", 13900): "139,00\xa0€", ("en", 13900): "€139.00",
        ("fr", 123456): "1\u202f234,56\xa0€", ("en", 123456): "€1,234.56",
        ("fr", 5): "0,05\xa0€", ("en", 5): "€0.05",
        ("fr", -2500): "-25,00\xa0€", ("en", -2500): "-€25.00",
    }
    for _ in range(3):  # formatted again and again, languages interleaved
        for (locale, cents), text in expected.items():
            assert format_money(cents, "EUR", locale) == text
    assert format_money(13900) == "139,00\xa0€"  # French by default


def test_pages_show_prices_and_texts_in_the_language_of_each_request(client, shops):  # noqa: F811
    french = _html(client, OFFICE)
    assert "139,00\xa0€" in french and "Licence perpétuelle" in french
    assert "PC Windows" in french and "Ajouter au panier" in french
    english = _html(client, OFFICE + "?lang=en")
    assert "€139.00" in english and "Perpetual licence" in english
    assert "Windows PC" in english and "Add to cart" in english
    assert "Licence perpétuelle" not in english
    again = _html(client, OFFICE + "?lang=fr")
    assert "139,00\xa0€" in again and "Licence perpétuelle" in again


def test_a_forced_language_inside_a_request_is_used_then_left(app, shops):  # noqa: F811
    with app.app_context(), app.test_request_context("/p/shop-a/",
                                                      headers={"Accept-Language": "fr"}):
        assert i18n.gettext("Perpetual licence") == "Licence perpétuelle"
        assert i18n.locale_code() == "fr"
        with force_locale("en"):  # an e-mail in the buyer's language, sent from a request
            assert i18n.gettext("Perpetual licence") == "Perpetual licence"
            assert platform_label("windows") == "Windows PC"
            assert render_template_string("{{ _('Add to cart') }}") == "Add to cart"
            assert i18n.locale_code() == "en"
        assert platform_label("windows") == "PC Windows"
        assert render_template_string("{{ _('Add to cart') }}") == "Ajouter au panier"
        assert i18n.ngettext("%(num)d device", "%(num)d devices", 2) == "2 appareils"
        refresh()  # Flask-Babel's own way to forget the request's language
        assert i18n.gettext("Perpetual licence") == "Licence perpétuelle"


def test_labels_translate_the_code_they_are_given_and_keep_unknown_codes(app):
    # Each request in an app context of its own, as in production (a fresh g).
    with app.app_context(), app.test_request_context("/", headers={"Accept-Language": "fr"}):
        assert family_label("server") == "Serveurs"
        assert status_label("paid") == "Payée"
        assert status_label("no-such-status") == "no-such-status"
    with app.app_context(), app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert (family_label("server"), status_label("paid")) == ("Servers", "Paid")


def test_an_empty_cart_reads_nothing_and_a_filled_one_counts_what_is_still_on_sale(
        client, shops, add_to_cart, db):  # noqa: F811
    with statements() as empty:
        html = _html(client, "/p/shop-a/legal")
    assert '<span class="cart-count">0</span>' in html
    add_to_cart("shop-a", "WIN11-PRO", quantity=2)
    with statements() as filled:
        html = _html(client, "/p/shop-a/legal")
    assert '<span class="cart-count">2</span>' in html
    assert len(filled) > len(empty)  # the count comes from the priced cart, as before
    shops.windows.is_active = False
    db.session.commit()
    assert '<span class="cart-count">0</span>' in _html(client, "/p/shop-a/legal")


def test_a_shop_page_reads_only_the_partner_before_its_view(client, shops):  # noqa: F811
    with statements() as seen:
        response = client.get("/p/shop-a/no-such-page")
    assert response.status_code == 404
    assert len(seen) == 1 and "FROM partners" in seen[0]
    with statements() as seen:
        assert client.get("/no-such-page", headers={"Host": "shop-a.example"}).status_code == 404
    assert len(seen) == 1 and "FROM partners" in seen[0]


def test_the_product_page_runs_a_bounded_number_of_statements(client, shops):  # noqa: F811
    _html(client, OFFICE)
    with statements() as seen:
        _html(client, OFFICE)
    # The partner, the offer and the add-ons with their products; never the cart's (empty).
    assert len(seen) <= 6, seen


def test_an_anonymous_visit_sets_no_cookie_and_writes_no_session(app, shops):  # noqa: F811
    client = app.test_client()
    store = _session_store(app)
    for path, status in (("/p/shop-a/", 200), ("/p/shop-a/products", 200),
                         ("/p/shop-a/products?family=windows", 200), ("/p/shop-a/legal", 200),
                         ("/p/shop-a/no-such-page", 404)):
        response = client.get(path)
        assert response.status_code == status, path
        assert "Set-Cookie" not in response.headers, path
    assert _session_store(app) == store  # nothing written
    chosen = client.get("/p/shop-a/?lang=en")
    assert "Set-Cookie" in chosen.headers and len(_session_store(app)) == len(store) + 1
    store = _session_store(app)
    again = client.get("/p/shop-a/products?lang=en")  # the same choice again writes nothing
    assert "Set-Cookie" not in again.headers and _session_store(app) == store
    assert '<html lang="en">' in again.get_data(as_text=True)
    assert '<html lang="en">' in _html(client, "/p/shop-a/legal")  # still remembered


def test_a_partners_change_shows_at_its_next_request(client, shops, db):  # noqa: F811
    assert "Shop A" in _html(client, "/p/shop-a/")
    shops.a.name = "Shop A renamed"
    shops.a.primary_color = "#123456"
    db.session.commit()
    html = _html(client, "/", Host="shop-a.example")
    assert "Shop A renamed" in html and "--brand-primary:#123456" in html
    shops.a.domains = []
    db.session.commit()
    assert client.get("/", headers={"Host": "shop-a.example"}).status_code == 404
    shops.a.status = "suspended"
    db.session.commit()
    assert client.get("/p/shop-a/").status_code == 404


def test_the_security_policy_reads_as_before_framed_or_not(client, shops, db):  # noqa: F811
    policy = client.get("/p/shop-a/").headers["Content-Security-Policy"]
    assert policy == (
        "default-src 'self'; img-src 'self' https: data:; style-src 'self' 'unsafe-inline'; "
        "object-src 'none'; base-uri 'none'; "
        "form-action 'self' https://checkout.stripe.com; frame-ancestors 'none'")
    shops.a.embed_origins = "https://www.partner-a.example"
    db.session.commit()
    framed = client.get("/embed/shop-a/").headers["Content-Security-Policy"]
    assert framed == content_security_policy("https://www.partner-a.example") == (
        "default-src 'self'; img-src 'self' https: data:; style-src 'self' 'unsafe-inline'; "
        "object-src 'none'; base-uri 'none'; "
        "form-action 'self' https://checkout.stripe.com https://www.partner-a.example; "
        "frame-ancestors https://www.partner-a.example")
