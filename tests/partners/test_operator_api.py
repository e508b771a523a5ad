"""The operator API: partners on board from the operator's own tools, with an operator key."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from support.partners import LEGAL_IDENTITY

from accounts.api_keys import issue_operator_key
from commerce.models import Partner, PartnerStatus, User
from extensions import db as _db
from extensions import utcnow
from partners.models import PartnerChange, ScheduledPrice


@pytest.fixture
def operator_key(db, make_user) -> str:  # type: ignore[no-untyped-def]
    operator = make_user(email="ops@comptoir.example", role="operator")
    key = issue_operator_key(operator, "integration")
    _db.session.commit()
    return key


@pytest.fixture
def api(client, operator_key):  # type: ignore[no-untyped-def]
    def call(method: str, path: str, body: object = None, key: str | None = operator_key,
             **kwargs: object):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return client.open(f"/api/v1/operator{path}", method=method, json=body,
                           headers=headers, **kwargs)

    return call


def _count(model) -> int:  # type: ignore[no-untyped-def]
    return _db.session.scalar(select(func.count()).select_from(model)) or 0


NEW = {"slug": "sud-telecom", "name": "Sud Télécom", "kind": "telecom",
       "wholesaler_code": "nexway", "allow_failover": True, "support_email": "aide@sud.example",
       "domains": ["Boutique.Sud-Telecom.example"], "embed_origins": ["https://www.sud.example"]}


def test_a_partner_is_created_completed_priced_opened_and_suspended_over_the_api(
        db, api, client, make_product):
    office = make_product(code="OFFICE-HOME-2024-WIN", skus={"nexway": "NX-OFF"})
    created = api("POST", "/partners", NEW)
    assert created.status_code == 201, created.get_json()
    assert created.headers["Location"].endswith("/api/v1/operator/partners/sud-telecom")
    body = created.get_json()
    assert body["status"] == "draft" and body["allow_failover"] is True
    assert body["domains"] == [{"host": "boutique.sud-telecom.example", "primary": True}]
    assert "legal_name" in body["missing_for_opening"] and "offers" in body["missing_for_opening"]

    refused = api("POST", "/partners/sud-telecom/status", {"status": "open"})
    assert refused.status_code == 422
    assert "siren" in refused.get_json()["error"]["details"]["fields"]

    assert api("PATCH", "/partners/sud-telecom", LEGAL_IDENTITY).status_code == 200
    priced = api("PUT", f"/partners/sud-telecom/offers/{office.code}", {"price": "129.90"})
    assert priced.status_code == 200, priced.get_json()
    assert priced.get_json()["offers"] == [
        {"product": office.code, "price_cents": 12990, "available": True, "bounds": None}]
    later = (utcnow() + timedelta(days=1)).replace(microsecond=0)
    scheduled = api("PUT", f"/partners/sud-telecom/offers/{office.code}",
                    {"price_cents": 11990, "starts_at": later.isoformat()})
    assert scheduled.get_json()["scheduled_prices"] == [
        {"product": office.code, "price_cents": 11990, "starts_at": later.isoformat()}]

    opened = api("POST", "/partners/sud-telecom/status", {"status": "open"})
    assert opened.status_code == 200 and opened.get_json()["action"] == "opened"
    page = client.get("/", headers={"Host": "boutique.sud-telecom.example"})
    assert page.status_code == 200 and "Sud Télécom" in page.get_data(as_text=True)

    suspended = api("POST", "/partners/sud-telecom/status",
                    {"status": "suspended", "reason": "contract ended"})
    assert suspended.get_json()["status"] == "suspended"
    assert client.get("/", headers={"Host": "boutique.sud-telecom.example"}).status_code == 404

    history = api("GET", "/partners/sud-telecom/history").get_json()["changes"]
    assert [c["action"] for c in history][:2] == ["suspended", "opened"]
    assert {c["actor"] for c in history} == {"operator-api:ops@comptoir.example"}
    assert _count(ScheduledPrice) == 1


@pytest.mark.parametrize(("body", "fields"), [
    ({**NEW, "slug": "Bad Slug"}, {"slug"}),
    ({**NEW, "kind": "bank"}, {"kind"}),
    ({**NEW, "wholesaler_code": "amazon", "primary_color": "red"},
     {"wholesaler_code", "primary_color"}),
    ({**NEW, "allow_failover": "maybe"}, {"allow_failover"}),
    ({**NEW, "name": {"fr": "Nom"}}, {"name"}),
    ({**NEW, "domains": "one.example"}, {"domains"}),
    ({**NEW, "domains": ["not a domain"]}, {"domains"}),
    ({**NEW, "embed_origins": ["http://www.sud.example"]}, {"embed_origins"}),
    ({**NEW, "is_admin": True}, {"is_admin"}),
    ({**NEW, "vat_number": "FR99732829320", "siren": "732829320"}, {"vat_number"}),
])
def test_a_bad_body_names_its_fields_and_stores_nothing(db, api, body, fields):
    response = api("POST", "/partners", body)
    assert response.status_code == 422, response.get_json()
    assert set(response.get_json()["error"]["details"]["fields"]) == fields
    assert (_count(Partner), _count(PartnerChange)) == (0, 0)


def test_bodies_that_are_not_json_objects_are_refused(db, api):
    assert api("POST", "/partners", data="{not json", content_type="application/json"
               ).status_code == 400
    assert api("POST", "/partners", data="slug=x", content_type="application/x-www-form-urlencoded"
               ).status_code == 415
    assert api("POST", "/partners", ["a list"]).status_code == 400
    assert api("POST", "/partners", data=b"\xff\xfe", content_type="application/json"
               ).status_code == 400
    assert _count(Partner) == 0


def test_the_api_needs_a_live_operator_key(db, api, client, make_user, make_partner):
    make_partner(slug="private")
    assert api("GET", "/partners", key=None).status_code == 401
    assert api("GET", "/partners", key="cok_test_" + "x" * 32).status_code == 401
    buyer_key = "cpk_test_" + "y" * 32  # a partner API key is not an operator key
    assert api("GET", "/partners", key=buyer_key).status_code == 401
    listed = api("GET", "/partners")
    assert listed.status_code == 200
    assert [p["slug"] for p in listed.get_json()["partners"]] == ["private"]
    user = _db.session.scalar(select(User).where(User.email == "ops@comptoir.example"))
    user.active = False
    _db.session.commit()
    assert api("GET", "/partners").status_code == 401  # a disabled operator's key stops


def test_keys_are_issued_listed_and_revoked_from_the_command_line(db, runner, make_user, client):
    make_user(email="lead@comptoir.example", role="operator")
    make_user(email="buyer@example.com")
    assert runner.invoke(args=["operators", "api-key", "buyer@example.com"]).exit_code != 0
    issued = runner.invoke(args=["operators", "api-key", "lead@comptoir.example",
                                 "--label", "onboarding script"])
    assert issued.exit_code == 0, issued.output
    key = issued.output.strip()
    assert key.startswith("cok_test_")
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/v1/operator/partners", headers=headers).status_code == 200
    listed = runner.invoke(args=["operators", "api-keys", "lead@comptoir.example"]).output
    assert "onboarding script" in listed and key not in listed
    key_id = listed.split()[0]
    assert runner.invoke(args=["operators", "revoke-api-key", key_id]).exit_code == 0
    assert client.get("/api/v1/operator/partners", headers=headers).status_code == 401


def test_an_open_shop_cannot_lose_its_legal_identity_over_the_api(db, api, make_partner):
    make_partner(slug="kept")
    response = api("PATCH", "/partners/kept", {"siren": "", "mediator_url": ""})
    assert response.status_code == 422
    assert set(response.get_json()["error"]["details"]["fields"]) == {"siren", "mediator_url"}
    assert api("GET", "/partners/kept").get_json()["siren"] == LEGAL_IDENTITY["siren"]
    assert api("GET", "/partners/nobody").status_code == 404
    assert api("POST", "/partners/kept/status", {"status": "closed"}).status_code == 422
    assert _db.session.scalar(select(Partner.status).where(Partner.slug == "kept")) \
        == PartnerStatus.OPEN



def test_refusals_are_in_english_whatever_language_the_client_asks(db, client, operator_key):
    response = client.post("/api/v1/operator/partners", json={**NEW, "siren": "111111111"},
                           headers={"Authorization": f"Bearer {operator_key}",
                                    "Accept-Language": "fr-FR,fr;q=0.9"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["details"]["fields"] == {"siren": "must be the 9 digits of a valid SIREN"}
    assert error["message"] == "nothing was stored: siren: must be the 9 digits of a valid SIREN"
    assert _count(Partner) == 0
