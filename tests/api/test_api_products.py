"""GET /api/v1/products: each partner sees its own catalogue at its own prices; keys required."""

from __future__ import annotations

from partner_api.keys import hash_key, revoke_api_key
from partner_api.models import PartnerApiKey


def test_partner_sees_its_catalogue_at_its_prices(api, catalogue):
    response = api("GET", "/products", catalogue.key_a)
    assert response.status_code == 200
    products = {p["code"]: p for p in response.get_json()["products"]}
    assert set(products) == {"OFFICE-HOME-2024-WIN", "WIN11-PRO", "ADDON-BACKUP-2Y",
                             "ADDON-INSTALL"}
    office = products["OFFICE-HOME-2024-WIN"]
    assert office == {
        "code": "OFFICE-HOME-2024-WIN", "name": "Office Famille 2024", "kind": "software",
        "family": "office", "edition": "Home 2024", "platform": "windows",
        "licence_type": "perpetual", "term_months": None, "seats": 1, "seat_unit": "device",
        "price_cents": 13900, "vat_rate": "20.00", "currency": "EUR",
    }
    assert products["ADDON-BACKUP-2Y"]["kind"] == "addon"
    assert [p["kind"] for p in response.get_json()["products"]][:2] == ["software", "software"]


def test_partners_never_see_each_others_catalogue(api, catalogue):
    a = {p["code"]: p for p in api("GET", "/products", catalogue.key_a).get_json()["products"]}
    b = {p["code"]: p for p in api("GET", "/products", catalogue.key_b).get_json()["products"]}
    assert "VISIO-STD-2024" not in a and "VISIO-STD-2024" in b
    assert "WIN11-PRO" in a and "WIN11-PRO" not in b
    assert a["OFFICE-HOME-2024-WIN"]["price_cents"] == 13900
    assert b["OFFICE-HOME-2024-WIN"]["price_cents"] == 12500
    assert b["ADDON-BACKUP-2Y"]["price_cents"] == 500


def test_withdrawn_offers_are_not_listed(api, catalogue, db):
    offer = next(o for o in catalogue.a.offers if o.product.code == "WIN11-PRO")
    offer.available = False
    db.session.commit()
    codes = {p["code"] for p in api("GET", "/products", catalogue.key_a).get_json()["products"]}
    assert "WIN11-PRO" not in codes


def test_no_key_is_401_json_with_a_challenge(api, catalogue):
    response = api("GET", "/products")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert response.get_json()["error"]["message"]
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="comptoir"'


def test_wrong_key_is_401(api, catalogue):
    response = api("GET", "/products", "cpk_test_" + "x" * 32)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    basic = api("GET", "/products", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert basic.status_code == 401


def test_revoked_key_is_401(api, catalogue, db):
    record = db.session.query(PartnerApiKey).filter_by(key_hash=hash_key(catalogue.key_a)).one()
    revoke_api_key(catalogue.a, record.id)
    response = api("GET", "/products", catalogue.key_a)
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"


def test_api_is_not_served_on_a_partner_shop(client, catalogue):
    headers = {"Authorization": f"Bearer {catalogue.key_a}"}
    for url, kwargs in (("/p/telco-a/api/v1/products", {}),
                        ("/api/v1/products", {"base_url": "http://a.example"})):
        response = client.get(url, headers=headers, **kwargs)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"
