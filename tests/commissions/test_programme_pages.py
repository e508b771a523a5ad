"""The programme in the back office and in `comptoir programmes`: the same services, audited."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from commission_helpers import at
from programme_helpers import deliver, ledger_snapshot
from sqlalchemy import func, select

from commissions.models import (
    ProductMultiplier,
    ProgrammeChange,
    ProgrammeVersion,
    Promotion,
    VersionStatus,
)
from commissions.programmes import programme_for

NEXT_YEAR = datetime.now(UTC).year + 1  # the services run on the real clock here
LATER, LATER_END = f"{NEXT_YEAR}-03-01T00:00", f"{NEXT_YEAR}-04-01T00:00"


@pytest.fixture(autouse=True)
def _english_messages(app):  # type: ignore[no-untyped-def]
    """The services' refusals in English (the default language is French), to name the source."""
    from flask_babel import force_locale

    with force_locale("en"):
        yield


@pytest.fixture
def operator(client, sign_in_operator):  # type: ignore[no-untyped-def]
    return sign_in_operator(client, email="ops@comptoir.example")


def _draft(db, network) -> ProgrammeVersion | None:  # type: ignore[no-untyped-def]
    db.session.expire_all()
    return db.session.scalar(select(ProgrammeVersion).where(
        ProgrammeVersion.programme_id == programme_for(network.id).id,
        ProgrammeVersion.status == VersionStatus.DRAFT))


def test_the_programme_pages_need_an_operator(client, network):
    for url in ("/admin/programmes", f"/admin/programmes/{network.slug}"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login" in response.location


def test_an_operator_drafts_edits_previews_and_publishes_a_version(client, db, operator, network,
                                                                   form_token):
    base = f"/admin/programmes/{network.slug}"
    listing = client.get("/admin/programmes").get_data(as_text=True)
    assert network.name in listing
    token = form_token(base)
    response = client.post(f"{base}/versions", data={"csrf_token": token})
    assert response.status_code == 302
    draft = _draft(db, network)
    assert draft is not None
    edit = f"{base}/versions/{draft.id}"
    form = client.get(edit).get_data(as_text=True)
    assert 'name="rate:perpetual.office" type="text" inputmode="decimal" value="0.08"' in form

    refused = client.post(edit, data={"csrf_token": token, "rate:perpetual.office": "12",
                                      "rate:subscription.first_year": "0.12"})
    assert refused.status_code == 400
    assert "a rate is a fraction between 0 and 1" in refused.get_data(as_text=True)
    assert _draft(db, network).rates == draft.rates

    values = {f"rate:{k}": v for k, v in {
        "perpetual.*": "0.05", "perpetual.office": "0.10", "addons.backup": "0.30",
        "subscription.first_year": "0.12", "subscription.first_year_bonus": "0.06",
        "subscription.renewal": "0.06", "subscription.upsell": "0.12",
        "subscription.upsell_bonus": "0.06"}.items()}
    saved = client.post(edit, data={"csrf_token": token, **values, "note": "Office à 10 %"})
    assert saved.status_code == 302 and saved.location.endswith(f"{edit}/preview")
    assert _draft(db, network).rates["perpetual"] == {"*": "0.05", "office": "0.10"}
    preview = client.get(f"{edit}/preview").get_data(as_text=True)
    assert "Effect on last month&#39;s sales" in preview or "Effect on last month's" in preview

    past = client.post(f"{edit}/publish", data={"csrf_token": token,
                                                "valid_from": "2026-01-02T00:00"})
    assert past.status_code == 400 and "is in the past" in past.get_data(as_text=True)
    assert _draft(db, network) is not None
    published = client.post(f"{edit}/publish", data={"csrf_token": token, "valid_from": LATER})
    assert published.status_code == 302
    db.session.expire_all()
    version = db.session.get(ProgrammeVersion, draft.id)
    assert version.status == VersionStatus.PUBLISHED
    assert version.valid_from == datetime(NEXT_YEAR, 3, 1, tzinfo=ZoneInfo("Europe/Paris"))
    page = client.get(base).get_data(as_text=True)
    assert "version published" in page and "operator:ops@comptoir.example" in page
    again = client.post(f"{edit}/publish", data={"csrf_token": token, "valid_from": LATER})
    assert again.status_code == 302  # "already published": flashed, nothing changed
    assert db.session.scalar(select(func.count()).select_from(ProgrammeChange).where(
        ProgrammeChange.action == "version published")) == 2


def test_a_promotion_is_previewed_before_it_is_saved(client, db, operator, network, form_token):
    base = f"/admin/programmes/{network.slug}"
    token = form_token(f"{base}/promotions/new")
    data = {"csrf_token": token, "name": "Marges arrière doublées", "multiplier": "2",
            "starts_at": LATER, "ends_at": LATER_END, "family": "office"}

    shown = client.post(f"{base}/promotions/new", data={**data, "action": "preview"})
    assert shown.status_code == 200
    assert "Effect on last month" in shown.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Promotion)) == 0

    bad = client.post(f"{base}/promotions/new", data={**data, "multiplier": "0",
                                                      "action": "save"})
    assert bad.status_code == 400 and db.session.scalar(
        select(func.count()).select_from(Promotion)) == 0

    saved = client.post(f"{base}/promotions/new", data={**data, "action": "save"})
    assert saved.status_code == 302
    promotion = db.session.scalar(select(Promotion))
    assert (promotion.name, promotion.family) == ("Marges arrière doublées", "office")

    edit = client.post(f"{base}/promotions/{promotion.id}",
                       data={**data, "multiplier": "3", "action": "save"})
    assert edit.status_code == 302
    ended = client.post(f"{base}/promotions/{promotion.id}/end", data={"csrf_token": token})
    assert ended.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Promotion)) == 0  # withdrawn
    actions = set(db.session.scalars(select(ProgrammeChange.action)))
    assert {"promotion created", "promotion edited", "promotion withdrawn"} <= actions


def test_a_multiplier_is_created_from_the_back_office(client, db, operator, network,
                                                     form_token):
    base = f"/admin/programmes/{network.slug}"
    token = form_token(f"{base}/multipliers/new")
    data = {"csrf_token": token, "name": "Visio compte double", "factor": "2",
            "starts_at": LATER, "ends_at": LATER_END,
            "product_codes": "VISIO-STD-2024", "family": "", "action": "save"}
    assert client.post(f"{base}/multipliers/new", data={**data, "product_codes": ""}
                       ).status_code == 400
    assert client.post(f"{base}/multipliers/new", data=data).status_code == 302
    multiplier = db.session.scalar(select(ProductMultiplier))
    assert multiplier.product_codes == ["VISIO-STD-2024"]
    page = client.get(base).get_data(as_text=True)
    assert "Visio compte double" in page and "<code>VISIO-STD-2024</code>" in page
    assert "multiplier created" in page and "Withdraw" in page


def test_the_cli_runs_a_programme_and_refuses_bad_rates_clearly(runner, db, make_partner,
                                                                catalogue):
    partner = make_partner(products=list(catalogue.values()), kind="channel")
    slug = partner.slug
    assert runner.invoke(args=["programmes", "create", slug]).exit_code == 0
    first = runner.invoke(args=["programmes", "draft", slug, "--rate", "perpetual.office=0.08",
                                "--rate", "subscription.first_year=0.12",
                                "--rate", "subscription.first_year_bonus=0.06",
                                "--rate", "subscription.renewal=0.06",
                                "--rate", "subscription.upsell=0.12",
                                "--rate", "subscription.upsell_bonus=0.06"])
    assert first.exit_code == 0, first.output
    bad = runner.invoke(args=["programmes", "draft", slug, "--rate", "perpetual.office=1.5",
                              "--rate", "perpetual.serveur=0.1", "--rate", "bonus=0.1"])
    assert bad.exit_code != 0
    assert "perpetual.office: a rate is a fraction between 0 and 1" in bad.output
    assert "perpetual.serveur: no product family 'serveur'" in bad.output
    assert "bonus: unknown rate key" in bad.output
    draft = _draft(db, partner)
    assert draft.rates["perpetual"] == {"office": "0.08"}

    past = runner.invoke(args=["programmes", "publish", slug, "--valid-from", "2026-01-01"])
    assert past.exit_code != 0 and "is in the past" in past.output
    done = runner.invoke(args=["programmes", "publish", slug, "--valid-from", LATER])
    assert done.exit_code == 0, done.output
    promo = runner.invoke(args=["programmes", "promotion-add", slug, "--name", "Marges doublées",
                                "--multiplier", "2", "--starts", LATER,
                                "--ends", LATER_END])
    assert promo.exit_code == 0, promo.output
    multiplier = runner.invoke(args=["programmes", "multiplier-add", slug, "--name", "Visio x2",
                                     "--factor", "2", "--starts", LATER, "--ends",
                                     LATER_END, "--product", "VISIO-STD-2024"])
    assert multiplier.exit_code == 0, multiplier.output
    shown = runner.invoke(args=["programmes", "show", slug])
    assert "promotion" in shown.output and "'Visio x2' ×2 VISIO-STD-2024" in shown.output
    assert "audit" in shown.output and "cli: version published" in shown.output
    listed = runner.invoke(args=["programmes", "list"])
    assert slug in listed.output
    end = runner.invoke(args=["programmes", "promotion-end", slug, "Marges doublées"])
    assert end.exit_code == 0 and "withdrawn" in end.output


def test_the_cli_preview_prints_last_month_and_writes_nothing(runner, db, network,
                                                              make_reseller, sell):
    make_reseller(network, code="RP-CLI1")
    deliver(sell(network, [("OFFICE-HOME-2024-WIN", 1)], code="RP-CLI1"), at(5, 10))
    snapshot = ledger_snapshot()
    result = runner.invoke(args=["programmes", "preview", network.slug, "promotion",
                                 "--factor", "2", "--family", "office",
                                 "--now", "2026-06-10T12:00:00+02:00"])
    assert result.exit_code == 0, result.output
    assert "last month 2026-05: 1 delivered line(s)" in result.output
    assert "by reseller RP-CLI1: 9.93 EUR -> 19.87 EUR (9.94 EUR)" in result.output
    assert "total: 9.93 EUR -> 19.87 EUR (difference 9.94 EUR)" in result.output
    assert ledger_snapshot() == snapshot
    no_draft = runner.invoke(args=["programmes", "preview", network.slug])
    assert no_draft.exit_code != 0 and "no draft is open" in no_draft.output


def test_the_split_and_the_newcomer_offer_are_set_in_the_back_office(client, db, operator,
                                                                    network, form_token):
    from decimal import Decimal

    from partners.models import PartnerChange

    base = f"/admin/programmes/{network.slug}"
    page = client.get(base).get_data(as_text=True)
    assert 'name="distributor_share"' in page and 'name="benefit_name"' in page
    token = form_token(base)
    refused = client.post(f"{base}/split", data={"csrf_token": token,
                                                 "distributor_share": "120%"})
    assert refused.status_code == 302
    db.session.expire_all()
    assert programme_for(network.id).distributor_share == 0
    client.post(f"{base}/split", data={"csrf_token": token, "distributor_share": "30%"})
    db.session.expire_all()
    assert programme_for(network.id).distributor_share == Decimal("0.3")
    assert db.session.scalar(select(func.count(PartnerChange.id)).where(
        PartnerChange.partner_id == network.id, PartnerChange.action == "distributor_share")) == 1

    bad = client.post(f"{base}/benefit", data={"csrf_token": token, "benefit_name": "M365",
                                               "benefit_price": "douze",
                                               "benefit_starts_at": LATER})
    assert bad.status_code == 302
    db.session.expire_all()
    assert programme_for(network.id).benefit_price_cents is None
    client.post(f"{base}/benefit", data={
        "csrf_token": token, "benefit_name": "Microsoft 365 Business Standard, 5 users",
        "benefit_price": "630.00", "benefit_starts_at": LATER})
    db.session.expire_all()
    found = programme_for(network.id)
    assert (found.benefit_name, found.benefit_price_cents) == (
        "Microsoft 365 Business Standard, 5 users", 63000)
    assert found.benefit_starts_at is not None
