"""The operator's programme: drafts, publication from a date, immutability, promotions,
product multipliers, and the audit of every change."""

from __future__ import annotations

from decimal import Decimal

import pytest
from commission_helpers import at, line_of
from programme_helpers import deliver, ledger_snapshot
from sqlalchemy import func, select

from commissions import programme_admin as admin
from commissions.errors import ProgrammeError
from commissions.incentives import (
    Window,
    create_multiplier,
    create_promotion,
    edit_promotion,
    end_multiplier,
    end_promotion,
)
from commissions.models import ProgrammeChange, ProgrammeVersion, Promotion, VersionStatus
from commissions.programmes import programme_for, version_at
from commissions.rules import ActiveMultiplier, ActivePromotion, LineFacts, commission_for

OP = "operator:ops@comptoir.example"

@pytest.fixture(autouse=True)
def _english_messages(app):  # type: ignore[no-untyped-def]
    """The services' refusals in English (the default language is French), to name the source."""
    from flask_babel import force_locale

    with force_locale("en"):
        yield



@pytest.fixture
def servers(make_product):  # type: ignore[no-untyped-def]
    """SQL Server and Windows Server licences, family `server`, sold by the network."""
    return {code: make_product(code=code, family="server", name=name, list_price_cents=price)
            for code, name, price in (
                ("SQL-2022-STD-CORE2", "SQL Server 2022 Standard, licence 2 cœurs", 468000),
                ("WINSRV-2025-STD", "Windows Server 2025 Standard, 16 cœurs", 138000))}


@pytest.fixture
def server_network(make_partner, catalogue, servers):  # type: ignore[no-untyped-def]
    from commission_helpers import PROGRAMME_START, RATES

    from commissions import set_programme

    partner = make_partner(products=[*catalogue.values(), *servers.values()], kind="channel")
    set_programme(partner, RATES, PROGRAMME_START)
    return partner


def _audit(db, action: str) -> list[ProgrammeChange]:  # type: ignore[no-untyped-def]
    return list(db.session.scalars(select(ProgrammeChange).where(ProgrammeChange.action == action)
                                   .order_by(ProgrammeChange.at)))


def test_a_product_multiplier_and_a_promotion_multiply_and_both_are_explained():
    rates = admin.parse_rates({"perpetual.server": "0.06", **_subscription()}, ["server"])
    line = LineFacts("server", "perpetual", 390000, product_code="SQL-2022-STD-CORE2")
    doubled = ActivePromotion("Marges arrière doublées", Decimal(2))
    sql = ActiveMultiplier("SQL Server compte double en mars", Decimal(2),
                           frozenset({"SQL-2022-STD-CORE2"}))
    windows = LineFacts("server", "perpetual", 115000, product_code="WINSRV-2025-STD")

    both = commission_for(line, rates, [doubled], multipliers=[sql])
    only_promotion = commission_for(windows, rates, [doubled], multipliers=[sql])

    assert both is not None and only_promotion is not None
    assert both.amount_cents == 93600 and both.rate == Decimal("0.24")  # 3900 × 6% × 2 × 2
    assert both.explanation == (
        "3900.00 EUR net (VAT excluded) × 6% (server perpetual rate) × 2 (promotion: Marges "
        "arrière doublées) × 2 (product multiplier: SQL Server compte double en mars)"
        " = 936.00 EUR -> 936.00 EUR (rounded half-even)")
    assert only_promotion.amount_cents == 13800 and "product multiplier" not in \
        only_promotion.explanation


def _subscription() -> dict[str, str]:
    return {"subscription.first_year": "0.12", "subscription.first_year_bonus": "0.06",
            "subscription.renewal": "0.06", "subscription.upsell": "0.12",
            "subscription.upsell_bonus": "0.06"}


@pytest.mark.parametrize(("rates", "key", "message"), [
    ({"perpetual.office": "8"}, "perpetual.office", "between 0 and 1"),
    ({"perpetual.office": "-0.1"}, "perpetual.office", "between 0 and 1"),
    ({"perpetual.office": "huit"}, "perpetual.office", "not a decimal"),
    ({"perpetual.office": "0.0000001"}, "perpetual.office", "at most 6 decimal places"),
    ({"perpetual.ofice": "0.08"}, "perpetual.ofice", "no product family 'ofice'"),
    ({"addons.gift": "0.1"}, "addons.gift", "unknown rate key"),
    ({"bonus": "0.1"}, "bonus", "unknown rate key"),
    ({"subscription.loyalty": "0.02"}, "subscription.loyalty", "unknown rate key"),
    ({"override.office": "0.1"}, "override.office", "unknown rate key"),
])
def test_bad_rates_are_refused_by_key_and_the_draft_is_unchanged(db, network, rates, key,
                                                                  message):
    draft = admin.draft_version(network, OP, at(5, 1))
    db.session.commit()
    before = dict(draft.rates)

    with pytest.raises(ProgrammeError) as refused:
        admin.update_draft(draft, rates, OP, at(5, 2))
    db.session.rollback()

    assert key in refused.value.errors and message in refused.value.errors[key]
    assert db.session.get(ProgrammeVersion, draft.id).rates == before
    assert [c for c in _audit(db, "version edited") if c.subject_id == draft.id] == []


def test_a_draft_is_edited_then_published_from_a_future_date_and_never_changes_again(
        db, network):
    draft = admin.draft_version(network, OP, at(5, 1), rates={"perpetual.office": "0.09"})
    admin.update_draft(draft, {"perpetual.visio": "", "override": ""}, OP, at(5, 2),
                       note="Office mieux payé")
    db.session.commit()
    assert draft.status == VersionStatus.DRAFT and draft.valid_from is None
    assert draft.rates["perpetual"]["office"] == "0.09" and "visio" not in draft.rates["perpetual"]

    with pytest.raises(ProgrammeError) as past:
        admin.publish_version(draft, at(5, 1), OP, at(5, 3))
    db.session.rollback()
    assert "in the past" in past.value.errors["valid_from"]

    admin.publish_version(draft, at(6, 1, 0), OP, at(5, 3))
    db.session.commit()

    assert (draft.status, draft.valid_from, draft.published_by) == ("published", at(6, 1, 0), OP)
    programme = programme_for(network.id)
    assert version_at(programme, at(5, 31)).label == "v2026-01-01"
    assert version_at(programme, at(6, 1, 0)).id == draft.id
    with pytest.raises(ProgrammeError):
        admin.update_draft(draft, {"perpetual.office": "0.5"}, OP, at(5, 4))
    with pytest.raises(ProgrammeError):
        admin.discard_draft(draft, OP, at(5, 4))
    draft.rates = {**draft.rates, "override": "0.5"}
    with pytest.raises(ValueError, match="is published"):
        db.session.flush()
    db.session.rollback()
    published = [c.action for c in _audit(db, "version published")]
    assert published == ["version published", "version published"]  # the fixture's, then ours
    change = _audit(db, "version published")[-1]
    assert change.actor == OP and change.before["status"] == "draft"
    assert change.after["valid_from"] == at(6, 1, 0).isoformat()


def test_publishing_never_changes_the_ledger_and_only_later_deliveries_use_the_new_rates(
        db, network, make_reseller, sell):
    make_reseller(network, code="RP-7K3M")
    early = sell(network, [("OFFICE-HOME-2024-WIN", 1)], code="RP-7K3M")
    [before_entry] = deliver(early, at(5, 10))
    snapshot = ledger_snapshot()

    draft = admin.draft_version(network, OP, at(5, 20), rates={"perpetual.office": "0.12"})
    admin.publish_version(draft, at(6, 1, 0), OP, at(5, 20))
    create_promotion(network, "Marges arrière doublées", "2", Window(at(6, 1, 0), at(7, 1, 0)),
                     OP, at(5, 20))
    db.session.commit()
    assert ledger_snapshot() == snapshot

    # Delivered before valid_from (a late report of a May delivery): the May rates.
    late = sell(network, [("OFFICE-HOME-2024-WIN", 1)], code="RP-7K3M")
    [late_entry] = deliver(late, at(5, 31, 23))
    later = sell(network, [("OFFICE-HOME-2024-WIN", 1)], code="RP-7K3M")
    [new_entry] = deliver(later, at(6, 2))

    assert before_entry.amount_cents == late_entry.amount_cents == 993  # 12417 × 8%
    assert late_entry.programme_version.label == "v2026-01-01"
    assert new_entry.amount_cents == 2980  # 12417 × 12% × 2 = 2980.08
    assert new_entry.programme_version_id == draft.id
    assert [row for row in ledger_snapshot() if row[0] == before_entry.id] == snapshot


def test_one_draft_at_a_time_and_a_discarded_draft_never_applies(db, network):
    draft = admin.draft_version(network, OP, at(5, 1), rates={"perpetual.office": "0.5"})
    with pytest.raises(ProgrammeError, match="already open"):
        admin.draft_version(network, OP, at(5, 1))
    admin.discard_draft(draft, OP, at(5, 2))
    db.session.commit()
    assert draft.status == VersionStatus.DISCARDED
    assert version_at(programme_for(network.id), at(12, 1)).label == "v2026-01-01"
    again = admin.draft_version(network, OP, at(5, 3))
    assert again.rates["perpetual"]["office"] == "0.08"  # from the version in force, not the bin
    assert [c.action for c in db.session.scalars(select(ProgrammeChange).order_by(
        ProgrammeChange.at))][-3:] == ["version drafted", "version discarded", "version drafted"]


def test_a_version_cannot_start_before_the_latest_published_one(db, network):
    first = admin.draft_version(network, OP, at(5, 1))
    admin.publish_version(first, at(9, 1), OP, at(5, 1))
    second = admin.draft_version(network, OP, at(5, 2))
    with pytest.raises(ProgrammeError, match="must be after"):
        admin.publish_version(second, at(8, 1), OP, at(5, 2))


def test_a_promotion_is_edited_before_it_starts_then_only_ended_early(db, network):
    promotion = create_promotion(network, "Marges doublées", "2", Window(at(6, 1), at(7, 1)), OP,
                                 at(5, 1), family="office")
    edit_promotion(promotion, "Marges triplées", "3", Window(at(6, 1), at(6, 15)), OP, at(5, 2),
                   family=None)
    db.session.commit()
    with pytest.raises(ProgrammeError, match="has started"):
        edit_promotion(promotion, "x", "4", Window(at(6, 10), at(6, 20)), OP, at(6, 2))

    assert end_promotion(promotion, OP, at(6, 5)) == "ended"
    db.session.commit()

    assert promotion.ends_at == at(6, 5) and promotion.multiplier == Decimal(3)
    with pytest.raises(ProgrammeError, match="already over"):
        end_promotion(promotion, OP, at(6, 6))
    edited, ended = _audit(db, "promotion edited")[0], _audit(db, "promotion ended")[0]
    assert (edited.before["name"], edited.after["name"]) == ("Marges doublées", "Marges triplées")
    assert (edited.before["family"], edited.after["family"]) == ("office", None)
    assert ended.before["ends_at"] == at(6, 15).isoformat()
    assert ended.after["ends_at"] == at(6, 5).isoformat()


def test_a_promotion_not_started_is_withdrawn_and_its_audit_stays(db, network):
    promotion = create_promotion(network, "Soldes", "1.5", Window(at(6, 1), at(7, 1)), OP,
                                 at(5, 1))
    db.session.commit()
    assert end_promotion(promotion, OP, at(5, 2)) == "withdrawn"
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Promotion)) == 0
    [withdrawn] = _audit(db, "promotion withdrawn")
    assert withdrawn.before["name"] == "Soldes" and withdrawn.after is None


@pytest.mark.parametrize(("fields", "field"), [
    ({"name": " ", "multiplier": "2"}, "name"),
    ({"name": "x", "multiplier": "0"}, "multiplier"),
    ({"name": "x", "multiplier": "11"}, "multiplier"),
    ({"name": "x", "multiplier": "deux"}, "multiplier"),
    ({"name": "x", "multiplier": "2", "family": "serveurs"}, "family"),
    ({"name": "x", "multiplier": "2", "starts": (5, 1, 9)}, "starts_at"),
    ({"name": "x", "multiplier": "2", "ends": (6, 1)}, "ends_at"),
])
def test_a_bad_promotion_is_refused_and_nothing_is_stored(db, network, fields, field):
    starts, ends = at(*fields.get("starts", (6, 1))), at(*fields.get("ends", (7, 1)))
    with pytest.raises(ProgrammeError) as refused:
        create_promotion(network, fields["name"], fields["multiplier"], Window(starts, ends), OP,
                         at(5, 1, 10), family=fields.get("family"))
    db.session.rollback()
    assert field in refused.value.errors
    assert db.session.scalar(select(func.count()).select_from(Promotion)) == 0
    assert db.session.scalar(select(func.count()).select_from(ProgrammeChange).where(
        ProgrammeChange.action.like("promotion%"))) == 0


def test_a_product_multiplier_counts_sql_server_sales_double_in_its_window_only(
        db, server_network, make_reseller, sell):
    draft = admin.draft_version(server_network, OP, at(2, 1), rates={"perpetual.server": "0.06"})
    admin.publish_version(draft, at(2, 1), OP, at(2, 1))
    multiplier = create_multiplier(server_network, "SQL Server compte double en mars", "2",
                                   Window(at(3, 1, 0), at(4, 1, 0)), OP, at(2, 1),
                                   product_codes=["sql-2022-std-core2"])
    db.session.commit()
    make_reseller(server_network, code="RP-SQL1")
    march = sell(server_network, [("SQL-2022-STD-CORE2", 1), ("WINSRV-2025-STD", 1)],
                 code="RP-SQL1")
    april = sell(server_network, [("SQL-2022-STD-CORE2", 1)], code="RP-SQL1")

    sql, windows = deliver(march, at(3, 15))
    [after] = deliver(april, at(4, 2))

    assert multiplier.product_codes == ["SQL-2022-STD-CORE2"]
    assert sql.order_line_id == line_of(march, "SQL-2022-STD-CORE2").id
    assert sql.amount_cents == 46800  # 390000 × 6% × 2
    assert "× 2 (product multiplier: SQL Server compte double en mars)" in sql.explanation
    assert windows.amount_cents == 6900 and "multiplier" not in windows.explanation
    assert after.amount_cents == 23400


def test_a_multiplier_needs_products_of_the_catalogue_or_a_family(db, server_network):
    window = Window(at(6, 1), at(7, 1))
    with pytest.raises(ProgrammeError) as unknown:
        create_multiplier(server_network, "x", "2", window, OP, at(5, 1),
                          product_codes=["SQL-2019-STD"])
    assert "SQL-2019-STD" in unknown.value.errors["product_codes"]
    with pytest.raises(ProgrammeError) as neither:
        create_multiplier(server_network, "x", "2", window, OP, at(5, 1))
    assert "scope" in neither.value.errors
    with pytest.raises(ProgrammeError) as both:
        create_multiplier(server_network, "x", "2", window, OP, at(5, 1),
                          product_codes=["WINSRV-2025-STD"], family="server")
    assert "scope" in both.value.errors
    family = create_multiplier(server_network, "Serveurs", "1.5", window, OP, at(5, 1),
                               family="server")
    assert end_multiplier(family, OP, at(6, 10)) == "ended" and family.ends_at == at(6, 10)
    assert [c.action for c in db.session.scalars(select(ProgrammeChange).where(
        ProgrammeChange.subject_id == family.id).order_by(ProgrammeChange.at))] == [
        "multiplier created", "multiplier ended"]


def test_create_programme_for_a_network_once(db, make_partner):
    partner = make_partner(kind="channel")
    programme = admin.create_programme(partner, OP, at(5, 1), attribution_days=45)
    db.session.commit()
    assert (programme.attribution_days, programme.name) == (45, f"Programme revendeurs "
                                                                 f"{partner.name}")
    with pytest.raises(ProgrammeError, match="already runs"):
        admin.create_programme(partner, OP, at(5, 2))
    with pytest.raises(ProgrammeError) as bad:
        admin.create_programme(make_partner(), OP, at(5, 2), attribution_days=0)
    assert "attribution_days" in bad.value.errors


def test_the_demo_programme_is_set_up_through_the_services_once(db, make_partner, make_product):
    from commissions.demo import SQL_MULTIPLIER, SQL_SERVER_CODES, seed_demo

    for code in SQL_SERVER_CODES:
        make_product(code=code, family="server")
    partner = make_partner(kind="channel")

    seed_demo(partner.slug, year=2026)
    changes = db.session.scalar(select(func.count()).select_from(ProgrammeChange))
    seed_demo(partner.slug, year=2026)

    programme = programme_for(partner.id)
    [version] = [v for v in programme.versions]
    assert version.status == VersionStatus.PUBLISHED and version.created_by == "demo"
    assert version.rates["perpetual"]["server"] == "0.06"
    [multiplier] = programme.multipliers
    assert (multiplier.name, multiplier.factor) == (SQL_MULTIPLIER, Decimal(2))
    assert sorted(multiplier.product_codes) == sorted(SQL_SERVER_CODES)
    assert multiplier.starts_at == at(2, 28, 23) and multiplier.ends_at == at(3, 31, 22)
    assert db.session.scalar(select(func.count()).select_from(ProgrammeChange)) == changes
    actions = set(db.session.scalars(select(ProgrammeChange.action).where(
        ProgrammeChange.actor == "demo")))
    assert {"programme created", "version published", "promotion created",
            "multiplier created"} <= actions
