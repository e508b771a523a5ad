"""Two languages all the way: the browser's on a first visit, the buyer's choice after, and the
catalogue's and partners' own texts in the page's language, falling back to French."""

from __future__ import annotations

from support.shops import shops  # noqa: F401 - fixture

from extensions import db as _db


def _page(client, path: str, language: str | None = None) -> str:  # type: ignore[no-untyped-def]
    headers = {"Accept-Language": language} if language else {}
    return client.get(path, headers=headers).get_data(as_text=True)


def test_the_browsers_language_speaks_first_and_the_buyers_choice_is_kept(client, shops):  # noqa: F811
    assert '<html lang="fr">' in _page(client, "/p/shop-a/")
    assert '<html lang="en">' in _page(client, "/p/shop-a/", "en-GB,en;q=0.9")
    assert '<html lang="fr">' in _page(client, "/p/shop-a/", "fr-FR,fr;q=0.9,en;q=0.5")
    assert '<html lang="fr">' in _page(client, "/p/shop-a/", "de-DE")  # not offered: French
    assert "Accept-Language" in client.get("/p/shop-a/").headers["Vary"]
    assert '<html lang="fr">' in _page(client, "/p/shop-a/?lang=fr", "en-GB")
    assert '<html lang="fr">' in _page(client, "/p/shop-a/products", "en-GB")  # remembered
    assert '<html lang="en">' in _page(client, "/p/shop-a/?lang=en", "fr-FR")
    assert '<html lang="en">' in _page(client, "/p/shop-a/cart", "fr-FR")


def test_product_and_partner_texts_follow_the_page_falling_back_to_french(
        client, runner, shops):  # noqa: F811
    translated = runner.invoke(args=["products", "translate", "OFFICE-HOME-2024-WIN", "en",
                                     "--name", "Office Home 2024",
                                     "--description", "Word, Excel and PowerPoint for one PC."])
    assert translated.exit_code == 0, translated.output
    refused = runner.invoke(args=["products", "translate", "OFFICE-HOME-2024-WIN", "de",
                                  "--name", "Office Haus"])
    assert refused.exit_code == 1 and "locale:" in refused.output
    tagline = runner.invoke(args=["partners", "update", "shop-a", "--set",
                                  "tagline=Les logiciels de Shop A",
                                  "--set", "tagline_en=Shop A's software"])
    assert tagline.exit_code == 0, tagline.output

    english = _page(client, "/p/shop-a/products/OFFICE-HOME-2024-WIN", "en")
    assert "Office Home 2024" in english and "Word, Excel and PowerPoint" in english
    assert "Shop A&#39;s software" in english or "Shop A's software" in english
    french = _page(client, "/p/shop-a/products/OFFICE-HOME-2024-WIN", "fr")
    assert "Office Famille 2024" in french and "Les logiciels de Shop A" in french
    # no English for Windows 11 Pro: its French name, in the English page
    assert "Windows 11 Pro" in _page(client, "/p/shop-a/products", "en")

    blank = runner.invoke(args=["partners", "update", "shop-a", "--set", "tagline_en="])
    assert blank.exit_code == 0
    _db.session.expire_all()
    assert "en" not in (shops.a.translations or {})
    too_long = runner.invoke(args=["partners", "update", "shop-a", "--set",
                                   "tagline_en=" + "x" * 201])
    assert too_long.exit_code == 1 and "tagline_en: at most 200" in too_long.output
