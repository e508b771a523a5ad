"""HTTP: the published key set, the verification API and the signed revocation list."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from app import create_app
from extensions import db
from licensing.keys import ensure_signing_key, rotate_signing_key
from licensing.models import RevocationReason
from licensing.revocations import parse_revocation_list
from licensing.services import issue_licence, revoke_licence
from licensing.token import TokenError
from licensing.verify import KeyRing, Status, verify

KEYS_URL = "/.well-known/comptoir/licence-keys.json"
VERIFY_URL = "/api/v1/licences/verify"


def test_key_set_is_published_with_cache_headers(  # type: ignore[no-untyped-def]
    client: FlaskClient, signing_key
) -> None:
    response = client.get(KEYS_URL)
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert "public" in response.headers["Cache-Control"]
    assert "max-age=" in response.headers["Cache-Control"]
    (jwk,) = response.get_json()["keys"]
    assert jwk == signing_key.jwk
    assert set(jwk) == {"kty", "crv", "x", "kid", "use", "alg"}
    assert (jwk["kty"], jwk["crv"], jwk["use"], jwk["alg"]) == ("OKP", "Ed25519", "sig", "EdDSA")
    etag = response.headers["ETag"]
    again = client.get(KEYS_URL, headers={"If-None-Match": etag})
    assert again.status_code == 304
    rotate_signing_key()
    changed = client.get(KEYS_URL, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and len(changed.get_json()["keys"]) == 2


def test_key_set_never_shows_private_material(  # type: ignore[no-untyped-def]
    client: FlaskClient, signing_key
) -> None:
    body = client.get(KEYS_URL).get_data(as_text=True)
    assert '"d"' not in body and "encrypted" not in body


def test_verify_api_answers_with_the_verdict(  # type: ignore[no-untyped-def]
    client: FlaskClient, signing_key, make_request
) -> None:
    issued = issue_licence(make_request())
    db.session.commit()
    response = client.post(VERIFY_URL, json={"licence": f"  {issued.token}\n"})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["reason"], body["kid"]) == ("valid", "ok", issued.kid)
    assert body["licence"]["number"] == issued.number
    revoke_licence(issued.id, RevocationReason.FRAUD, "test")
    db.session.commit()
    body = client.post(VERIFY_URL, json={"licence": issued.token}).get_json()
    assert (body["status"], body["reason"]) == ("revoked", "licence_revoked")
    body = client.post(VERIFY_URL, json={"licence": "key/abc.def"}).get_json()
    assert (body["status"], body["reason"], body["licence"]) == ("invalid", "bad_prefix", None)


def test_verify_api_needs_no_csrf_token_and_refuses_bad_json(  # type: ignore[no-untyped-def]
    client: FlaskClient, signing_key
) -> None:
    bad = client.post(VERIFY_URL, data="{not json", content_type="application/json")
    assert bad.status_code == 400
    assert bad.get_json()["error"]["code"] == "bad_json"
    assert set(bad.get_json()["error"]) == {"code", "message"}
    missing = client.post(VERIFY_URL, json={"token": "x"})
    assert missing.status_code == 400
    assert missing.get_json()["error"]["code"] == "missing_licence"
    assert client.post(VERIFY_URL, json=["x"]).status_code == 400
    long = client.post(VERIFY_URL, json={"licence": "CPT1." + "A" * 10_000})
    assert long.get_json()["error"]["code"] == "too_long"


def test_verify_api_is_rate_limited(test_settings: dict[str, Any], _schema: None) -> None:
    limited = create_app({**test_settings, "RATELIMIT_ENABLED": True,
                          "LICENSING_VERIFY_RATE_LIMIT": "3/minute"})
    client = limited.test_client()
    codes = [client.post(VERIFY_URL, json={"licence": "x"}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = client.post(VERIFY_URL, json={"licence": "x"})
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "rate_limited"
    create_app(test_settings)  # leave the shared limiter disabled for the next tests


def test_revoked_list_is_signed_and_checks_offline(  # type: ignore[no-untyped-def]
    client: FlaskClient, signing_key, make_request
) -> None:
    first, second = issue_licence(make_request()), issue_licence(make_request())
    revoke_licence(first.id, RevocationReason.REFUND, "test")
    db.session.commit()
    body = client.get("/api/v1/licences/revoked").get_json()
    ring = KeyRing.from_jwks(client.get(KEYS_URL).get_data())
    revoked = parse_revocation_list(body["document"], ring)
    assert [entry.number for entry in revoked] == [first.number]
    assert [entry["number"] for entry in body["revoked"]] == [first.number]
    assert verify(first.token, ring, revoked=revoked).status is Status.REVOKED
    assert verify(second.token, ring, revoked=revoked).status is Status.VALID
    future = client.get("/api/v1/licences/revoked?since=2999-01-01T00:00:00Z").get_json()
    assert future["revoked"] == [] and future["since"] == "2999-01-01T00:00:00Z"
    document = body["document"]
    tampered = document[:60] + ("A" if document[60] != "A" else "B") + document[61:]
    with pytest.raises(TokenError):
        parse_revocation_list(tampered, ring)


def test_revoked_list_refuses_a_bad_since(  # type: ignore[no-untyped-def]
    client: FlaskClient, signing_key
) -> None:
    response = client.get("/api/v1/licences/revoked?since=yesterday")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_since"


def test_demo_can_ensure_a_key_then_serve(  # type: ignore[no-untyped-def]
    client: FlaskClient, app
) -> None:
    ensure_signing_key()
    assert json.loads(client.get(KEYS_URL).get_data())["keys"]
