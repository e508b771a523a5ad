"""Partner API keys: shown once, stored hashed, revocable, stable demo keys, the CLI."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from partner_api.keys import (
    KEY_RE,
    ApiKeyRefused,
    demo_api_key,
    hash_key,
    issue_api_key,
    list_api_keys,
    revoke_api_key,
)
from partner_api.models import PartnerApiKey
from storefront.api.auth import partner_from_bearer


def test_issued_key_is_stored_only_as_its_hash(db, make_partner):
    partner = make_partner()
    key = issue_api_key(partner, "billing platform")
    assert KEY_RE.match(key) and key.startswith("cpk_test_")
    record = db.session.scalar(select(PartnerApiKey))
    assert record.key_hash == hash_key(key) and key not in (record.key_hash, record.prefix)
    assert record.prefix == key[:17] and record.label == "billing platform"
    assert record.created_at.tzinfo is not None and record.revoked_at is None


def test_production_keys_are_live_keys(app, make_partner):
    app.config["ENV"] = "production"
    try:
        assert issue_api_key(make_partner()).startswith("cpk_live_")
    finally:
        app.config["ENV"] = "testing"


def test_bearer_header_names_the_partner(make_partner):
    partner, other = make_partner(), make_partner()
    key = issue_api_key(partner)
    issue_api_key(other)
    assert partner_from_bearer(f"Bearer {key}") == partner
    assert partner_from_bearer(f"bearer   {key}  ") == partner


@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Basic dXNlcjpwYXNz", "cpk_test_" + "a" * 32,
    "Bearer cpk_test_" + "a" * 32, "Bearer cpk_test_short", "Bearer x y",
])
def test_missing_or_wrong_bearer_names_nobody(make_partner, header):
    issue_api_key(make_partner())
    assert partner_from_bearer(header) is None


def test_revoked_key_and_inactive_partner_name_nobody(db, make_partner):
    partner = make_partner()
    revoked, kept = issue_api_key(partner), issue_api_key(partner)
    record = db.session.scalar(
        select(PartnerApiKey).where(PartnerApiKey.key_hash == hash_key(revoked))
    )
    assert revoke_api_key(partner, record.id) is True
    assert revoke_api_key(partner, record.id) is False
    assert partner_from_bearer(f"Bearer {revoked}") is None
    assert partner_from_bearer(f"Bearer {kept}") == partner
    partner.status = "suspended"
    db.session.commit()
    assert partner_from_bearer(f"Bearer {kept}") is None


def test_a_partner_cannot_revoke_another_partners_key(db, make_partner):
    owner, other = make_partner(), make_partner()
    key = issue_api_key(owner)
    record = list_api_keys(owner)[0]
    assert revoke_api_key(other, record.id) is False
    assert partner_from_bearer(f"Bearer {key}") == owner


def test_demo_key_is_stable_and_works(db, make_partner):
    partner, other = make_partner(), make_partner()
    key = demo_api_key(partner)
    assert KEY_RE.match(key) and key.startswith("cpk_test_")
    assert demo_api_key(partner) == key and demo_api_key(other) != key
    assert len(list_api_keys(partner)) == 1
    assert partner_from_bearer(f"Bearer {key}") == partner


def test_demo_key_follows_the_secret_key_and_comes_back_after_revocation(app, db, make_partner):
    partner = make_partner()
    key = demo_api_key(partner)
    revoke_api_key(partner, list_api_keys(partner)[0].id)
    assert demo_api_key(partner) == key
    assert partner_from_bearer(f"Bearer {key}") == partner
    app.config["SECRET_KEY"] = "another secret for another installation"
    assert demo_api_key(partner) != key


def test_demo_key_is_refused_in_production(app, count, make_partner):
    partner = make_partner()
    app.config["ENV"] = "production"
    try:
        with pytest.raises(ApiKeyRefused):
            demo_api_key(partner)
    finally:
        app.config["ENV"] = "testing"
    assert count(PartnerApiKey) == 0


def test_cli_issues_lists_and_revokes_keys(runner, make_partner):
    partner = make_partner(slug="telco-cli")
    result = runner.invoke(args=["partners", "api-key", "telco-cli", "--label", "phone bill"])
    assert result.exit_code == 0, result.output
    key = result.output.strip()
    assert KEY_RE.match(key) and partner_from_bearer(f"Bearer {key}") == partner

    listing = runner.invoke(args=["partners", "api-keys", "telco-cli"])
    assert key[:17] in listing.output and "phone bill" in listing.output
    assert key not in listing.output

    key_id = listing.output.split()[0]
    revoked = runner.invoke(args=["partners", "revoke-api-key", "telco-cli", key_id])
    assert revoked.exit_code == 0 and partner_from_bearer(f"Bearer {key}") is None


def test_cli_refuses_an_unknown_partner(runner, count):
    result = runner.invoke(args=["partners", "api-key", "nobody"])
    assert result.exit_code != 0 and "no partner 'nobody'" in result.output
    assert count(PartnerApiKey) == 0
