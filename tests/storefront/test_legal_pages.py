"""The legal pages each shop publishes from its legal identity, and the versioned terms of sale
that checkout needs accepted."""

from __future__ import annotations

import html as html_lib
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from support.partners import LEGAL_IDENTITY

from commerce.models import Order, PartnerStatus
from legal import terms as legal_terms

CURRENT = "2026-12-v1"
OLD = "2025-06-v1"


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return html_lib.unescape(response.get_data(as_text=True))


def _orders(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Order))


@pytest.fixture(autouse=True)
def partner_merchant(shops, db):
    """Shop A sells in its own name (the platform is the default merchant of record)."""
    shops.a.merchant_of_record = "partner"
    db.session.commit()


@pytest.fixture
def platform_shop(make_partner, shops):
    """A shop whose sales the platform makes: its terms name the platform as the seller."""
    return make_partner(slug="plateforme", name="Boutique Hébergée",
                        domains=["hebergee.example"], merchant_of_record="platform",
                        support_phone="01 02 03 04 05",
                        products=[shops.office, shops.backup])


def test_the_legal_notice_names_publisher_host_director_contact_and_seller(client, shops):
    page = _page(client, "/p/shop-a/legal?lang=en")
    for mention in (f"{shops.a.legal_name}, SAS", "1 rue de la Paix, 75002 Paris",
                    "SIREN 732829320",
                    "RCS Paris", "FR44732829320", "Jeanne Martin",
                    LEGAL_IDENTITY["host_details"], shops.a.support_email,
                    "Médiateur de la consommation", "https://www.mediateur.example"):
        assert mention in page, mention
    assert f"Sales on this shop are made by its publisher, {shops.a.legal_name}" in page
    assert 'href="/p/shop-a/legal/terms"' in page and 'href="/p/shop-a/legal/privacy"' in page


def test_a_platform_merchant_is_named_as_seller_in_the_notice_terms_and_privacy(
        client, app, platform_shop):
    notice = _page(client, "/p/plateforme/legal?lang=en")
    assert "Sales on this shop are made by the platform" in notice
    assert "Comptoir Plateforme, SAS, 12 rue de la Bourse, 75002 Paris" in notice
    assert "RCS Paris 900 000 001" in notice and "FR68900000001" in notice
    assert platform_shop.legal_name in notice  # the publisher stays the partner

    terms = _page(client, "/p/plateforme/legal/terms?lang=fr")
    assert ("Le Vendeur est Comptoir Plateforme, SAS, dont le siège social est situé "
            "12 rue de la Bourse, 75002 Paris, immatriculée sous le numéro SIREN 900000001 au RCS "
            "de Paris, numéro de TVA intracommunautaire FR68900000001") in terms
    assert (f"La Boutique est éditée par {platform_shop.legal_name} sous l'enseigne "
            "Boutique Hébergée") in terms
    privacy = _page(client, "/p/plateforme/legal/privacy?lang=fr")
    assert "traitées par Comptoir Plateforme" in privacy

    app.config["PLATFORM_LEGAL_NAME"] = "Autre Plateforme"
    assert "Le Vendeur est Autre Plateforme" in _page(client, "/p/plateforme/legal/terms")


def test_the_terms_in_force_say_every_required_thing_in_french_and_english(client, shops):
    french = _page(client, "/p/shop-a/legal/terms")
    assert f"Version {CURRENT}" in french or f"version {CURRENT}" in french
    assert f"Le Vendeur est {shops.a.legal_name}, SAS" in french
    for mention in ("Article 4 – Prix et TVA", "TVA de cet État", "Autoliquidation",
                    "Article 5 – Commande", "Commander avec obligation de paiement",
                    "Article 6 – Paiement", "indemnité forfaitaire pour frais de recouvrement "
                    "de 40 euros", "Article 7 – Livraison par téléchargement", "clé de produit",
                    "Article 8 – Sauvegarde de la licence pendant deux ans",
                    "L221-28 13°", "L221-13", "Modèle de formulaire de rétractation",
                    "L224-25-12", "1641", "Article 11 – Responsabilité",
                    "Médiateur de la consommation", "https://www.mediateur.example",
                    "droit français", shops.a.support_email):
        assert mention in french, mention
    assert 'href="/p/shop-a/legal/privacy"' in french

    english = _page(client, "/p/shop-a/legal/terms?lang=en")
    for mention in ("Article 9 – Right of withdrawal", "L221-28 13°", "Reverse charge",
                    "legal guarantee of conformity of digital content", "French law",
                    f"The Seller is {shops.a.legal_name}, a French SAS"):
        assert mention in english, mention


def test_an_old_version_stays_readable_at_its_address_and_unknown_ones_are_404(client, shops):
    old = _page(client, f"/p/shop-a/legal/terms/{OLD}?lang=en")
    assert f"Version {OLD}" in old
    assert f"This version is no longer in force: the current one is {CURRENT}." in old
    assert "Les ventes de la boutique" not in old and "Sales on the Shop A shop" in old
    current = _page(client, f"/p/shop-a/legal/terms/{CURRENT}?lang=en")
    assert "no longer in force" not in current
    listing = _page(client, "/p/shop-a/legal/terms?lang=en")
    assert f'href="/p/shop-a/legal/terms/{OLD}"' in listing
    for missing in ("2099-01-v1", "nonsense", "2025-06-v1.fr"):
        assert client.get(f"/p/shop-a/legal/terms/{missing}").status_code == 404


def test_the_version_in_force_follows_the_effective_dates():
    assert legal_terms.in_force(datetime(2026, 11, 30, 22, 59, tzinfo=UTC)).version == OLD
    # Midnight in Paris on 1 December 2026 is 23:00 UTC the day before.
    assert legal_terms.in_force(datetime(2026, 11, 30, 23, 0, tzinfo=UTC)).version == CURRENT
    with pytest.raises(legal_terms.TermsError, match=CURRENT):
        legal_terms.accepted(OLD)
    with pytest.raises(legal_terms.TermsError, match="must accept"):
        legal_terms.accepted("")
    assert legal_terms.accepted(CURRENT) == CURRENT


def test_the_privacy_notice_gives_controller_purposes_retention_rights_and_the_cnil(
        client, shops):
    french = _page(client, "/p/shop-a/legal/privacy")
    for mention in (f"traitées par {shops.a.legal_name}", "Exécution du contrat",
                    "Obligation légale",
                    "Dix ans", "Deux ans à compter de la livraison", "Jusqu'à la suppression "
                    "du compte", "revendeur", "Stripe", "Nexway", "CNIL", "portabilité",
                    'href="/p/shop-a/account/"', shops.a.support_email):
        assert mention in french, mention
    english = _page(client, "/p/shop-a/legal/privacy?lang=en")
    assert "Performance of the contract" in english and "complain to" in english


@pytest.mark.parametrize("theme", [None, "vitrine"])
def test_every_shop_page_links_the_three_legal_pages(client, shops, db, theme):
    shops.a.theme = theme
    db.session.commit()
    for url in ("/p/shop-a/", "/p/shop-a/cart", "/p/shop-a/legal", "/p/shop-a/legal/terms",
                "/p/shop-a/legal/privacy"):
        page = _page(client, url)
        for target in ("/p/shop-a/legal", "/p/shop-a/legal/terms", "/p/shop-a/legal/privacy"):
            assert f'href="{target}"' in page, (theme, url, target)


def test_checkout_shows_the_version_in_force_and_refuses_without_the_box(
        client, shops, add_to_cart, checkout, db):
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    form = _page(client, "/p/shop-a/checkout?lang=en")
    assert f"I accept the terms of sale (version {CURRENT})." in form
    box = re.search(r'<input type="checkbox" id="terms"[^>]*>', form).group(0)
    assert "checked" not in box
    assert f'name="terms_version" type="hidden" value="{CURRENT}"' in form or \
        re.search(rf'name="terms_version"[^>]*value="{CURRENT}"', form)

    refused = checkout("shop-a", terms=None)
    assert refused.status_code == 400
    page = html_lib.unescape(refused.get_data(as_text=True))
    assert 'id="terms-error"' in page and "Accept the terms of sale" in page
    assert _orders(db) == 0


def test_checkout_refuses_a_version_no_longer_in_force_and_shows_the_current_one(
        client, shops, add_to_cart, checkout, db):
    client.get("/p/shop-a/?lang=en")
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    refused = checkout("shop-a", terms_version=OLD)
    assert refused.status_code == 400
    page = html_lib.unescape(refused.get_data(as_text=True))
    assert f"read version {CURRENT} and accept it" in page
    assert re.search(rf'name="terms_version"[^>]*value="{CURRENT}"', page)
    assert _orders(db) == 0


def test_checkout_stores_the_accepted_version_with_the_order(
        client, shops, add_to_cart, checkout, db):
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    response = checkout("shop-a")
    assert response.status_code in (302, 303), response.get_data(as_text=True)
    order = db.session.scalar(select(Order))
    assert order.terms_version == CURRENT
    assert order.consent_at is not None and order.consent_wording_version


def test_an_incomplete_shop_stays_closed_and_the_back_office_lists_what_is_missing(
        client, db, runner, make_partner, shops, sign_in_operator):
    draft = make_partner(slug="incomplet", name="Incomplet", status="draft",
                         domains=["incomplet.example"], mediator_name="", host_details="",
                         support_email="", products=[shops.office])
    refused = runner.invoke(args=["partners", "open", "incomplet"])
    assert refused.exit_code == 1
    for field in ("mediator_name", "host_details", "support_email"):
        assert f"{field}: is required before the shop opens" in refused.output, refused.output
    db.session.refresh(draft)
    assert draft.status == PartnerStatus.DRAFT
    assert client.get("/p/incomplet/").status_code == 404

    sign_in_operator(client)
    page = _page(client, "/admin/partners/incomplet?lang=en")
    needs = re.search(r"Before the shop opens it needs:(.*?)</p>", page, re.S).group(1)
    for label in ("Host (name, address, phone)", "Consumer mediator",
                  "Support e-mail (the legal pages' contact)"):
        assert label in needs, needs
    assert "Company name" not in needs

    # A shop that is open but lost a legal item (data from before it was required) is closed
    # to buyers, by its prefix and by its own domain.
    shops.b.mediator_url = ""
    db.session.commit()
    assert client.get("/p/shop-b/").status_code == 404
    assert client.get("/", headers={"Host": "shop-b.example"}).status_code == 404
    assert client.get("/p/shop-a/").status_code == 200
