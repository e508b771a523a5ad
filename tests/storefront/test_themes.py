"""Themes: a partner's shop takes its theme's templates where the theme has them, block by
block, and the base templates everywhere else; choosing a theme needs no restart."""

from __future__ import annotations

import pytest
from support.shops import shops  # noqa: F401 - fixture

from extensions import db as _db
from partners import services
from partners.validation import PartnerError


def test_the_demo_theme_changes_the_layout_of_its_partners_only(client, shops):  # noqa: F811
    plain = client.get("/p/shop-a/").get_data(as_text=True)
    assert "vitrine-header" not in plain
    shops.a.theme = "vitrine"
    _db.session.commit()
    themed = client.get("/p/shop-a/").get_data(as_text=True)
    assert 'class="site-header vitrine-header"' in themed and "vitrine-footer" in themed
    assert "/themes/vitrine/static/vitrine.css" in themed
    assert "Office Famille 2024" in themed  # the page's own content, from the base templates
    # a page the theme does not override keeps its content inside the theme's layout
    cart = client.get("/p/shop-a/cart").get_data(as_text=True)
    assert "vitrine-header" in cart
    assert "vitrine-header" not in client.get("/p/shop-b/").get_data(as_text=True)
    with client.get("/themes/vitrine/static/vitrine.css") as css:
        assert css.status_code == 200 and b".vitrine-nav" in css.data
    assert client.get("/themes/../config.py/static/x").status_code == 404
    assert client.get("/themes/vitrine/static/../theme.json").status_code == 404


def test_only_installed_themes_may_be_chosen(app, shops):  # noqa: F811
    with app.test_request_context():
        with pytest.raises(PartnerError) as refused:
            services.update_partner(shops.a, {"theme": "neon"}, actor="test")
        assert "vitrine" in refused.value.english()["theme"]
        _db.session.rollback()
        services.update_partner(shops.a, {"theme": "vitrine"}, actor="test")
        services.update_partner(shops.a, {"theme": ""}, actor="test")
        _db.session.commit()
    assert shops.a.theme is None


def test_a_theme_overrides_block_by_block_from_its_own_folder(client, app, shops, tmp_path):  # noqa: F811
    folder = tmp_path / "themes" / "minimal" / "templates" / "storefront"
    folder.mkdir(parents=True)
    (folder / "base.html").write_text(
        '{% extends "base/storefront/base.html" %}'
        '{% block footer %}<footer class="minimal-footer">{{ partner.name }}</footer>'
        '{% endblock %}', encoding="utf-8")
    (folder / "home.html").write_text(
        '{% extends "storefront/base.html" %}{% block content %}<p class="minimal-home">'
        '{{ offers|length }} offers</p>{% endblock %}', encoding="utf-8")
    app.config["THEMES_DIR"] = str(tmp_path / "themes")
    shops.a.theme = "minimal"
    _db.session.commit()
    home = client.get("/p/shop-a/").get_data(as_text=True)
    assert '<p class="minimal-home">' in home  # the theme's page
    assert 'class="minimal-footer"' in home and "site-header" in home  # its block, the base's
    catalogue = client.get("/p/shop-a/products").get_data(as_text=True)
    assert "minimal-footer" in catalogue and "Office Famille 2024" in catalogue
