"""The preview: last month's delivered lines under the rules then and under a change; no writes."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from commission_helpers import at, line_of
from programme_helpers import deliver, ledger_snapshot
from sqlalchemy import func, select
from support.processes import PATIENCE, join_all

from commerce.orders import ADDON_BACKUP
from commissions import clawback_for_refund
from commissions import programme_admin as admin
from commissions.errors import ProgrammeError
from commissions.models import ProgrammeChange, ProgrammeVersion, VersionStatus
from commissions.preview import Change, last_month, preview
from commissions.programmes import programme_for
from commissions.rules import ActiveMultiplier, ActivePromotion, Rates

OP = "operator:ops@comptoir.example"


def _changes(db) -> int:  # type: ignore[no-untyped-def]
    return db.session.scalar(select(func.count()).select_from(ProgrammeChange))


def test_last_month_is_the_previous_paris_calendar_month():
    start, end = last_month(at(6, 10))
    assert (start.isoformat(), end.isoformat()) == ("2026-04-30T22:00:00+00:00",
                                                    "2026-05-31T22:00:00+00:00")
    january = last_month(at(1, 5, year=2027))
    assert january[0].isoformat() == "2026-11-30T23:00:00+00:00"


@pytest.fixture
def may_sales(db, network, make_reseller, sell):  # type: ignore[no-untyped-def]
    """Two resellers' sales: three delivered in May (one with a backup), one in April, one in
    June, and a May sale refunded since."""
    make_reseller(network, code="RP-AAAA")
    make_reseller(network, code="RP-BBBB")
    orders = {
        "office": sell(network, [("OFFICE-HOME-2024-WIN", 1, (ADDON_BACKUP,))], code="RP-AAAA"),
        "visio": sell(network, [("VISIO-STD-2024", 1)], code="RP-BBBB"),
        "office_b": sell(network, [("OFFICE-HB-2024-WIN", 1)], code="RP-BBBB"),
        "april": sell(network, [("OFFICE-HOME-2024-WIN", 1)], code="RP-AAAA"),
        "june": sell(network, [("OFFICE-HOME-2024-WIN", 1)], code="RP-AAAA"),
        "refunded": sell(network, [("PROJECT-STD-2024", 1)], code="RP-AAAA"),
    }
    deliver(orders["office"], at(5, 3))
    deliver(orders["visio"], at(5, 12))
    deliver(orders["office_b"], at(5, 31, 21))  # 23:00 in Paris: still May
    deliver(orders["april"], at(4, 30, 21))  # 23:00 in Paris: April
    deliver(orders["june"], at(6, 2))
    deliver(orders["refunded"], at(5, 20))
    clawback_for_refund(line_of(orders["refunded"], "PROJECT-STD-2024").id, "refund",
                        now=at(5, 25))
    db.session.commit()
    return orders


def test_a_draft_preview_compares_each_may_line_and_writes_nothing(db, network, may_sales):
    draft = admin.draft_version(network, OP, at(6, 10), rates={"perpetual.office": "0.12"})
    db.session.commit()
    snapshot, changes = ledger_snapshot(), _changes(db)

    result = preview(programme_for(network.id), Change(rates=Rates.from_json(draft.rates)),
                     at(6, 10))

    assert ledger_snapshot() == snapshot and _changes(db) == changes
    assert not db.session.new and not db.session.dirty and not db.session.deleted
    assert db.session.get(ProgrammeVersion, draft.id).status == VersionStatus.DRAFT
    assert result.month == "2026-05"
    rows = [(x.order_number, x.product_code, x.current_cents, x.proposed_cents)
            for x in result.lines]
    assert rows == [
        (may_sales["office"].number, "OFFICE-HOME-2024-WIN", 993, 1490),  # 12417 × 8% / 12%
        (may_sales["office"].number, ADDON_BACKUP, 248, 248),  # 825 × 30%
        (may_sales["visio"].number, "VISIO-STD-2024", 4825, 4825),  # 48250 × 10%
        (may_sales["office_b"].number, "OFFICE-HB-2024-WIN", 1993, 2990),  # 24917 × 8% / 12%
    ]
    assert {(t.key, t.lines, t.current_cents, t.proposed_cents) for t in result.by_reseller} == {
        ("RP-AAAA", 2, 993 + 248, 1490 + 248), ("RP-BBBB", 2, 4825 + 1993, 4825 + 2990)}
    by_family = {t.key: (t.current_cents, t.proposed_cents, t.difference)
                 for t in result.by_family}
    assert by_family["office"] == (993 + 1993, 1490 + 2990, 497 + 997)
    assert by_family["visio"] == (4825, 4825, 0)
    assert result.total.difference == 497 + 997
    assert "12% (office perpetual rate)" in result.lines[0].proposed_explanation


def test_a_promotion_or_multiplier_preview_applies_it_over_the_whole_month(db, network,
                                                                           may_sales):
    programme = programme_for(network.id)
    snapshot, changes = ledger_snapshot(), _changes(db)

    promotion = preview(programme, Change(promotion=ActivePromotion(
        "Office double", Decimal(2), "office")), at(6, 10))
    multiplier = preview(programme, Change(multiplier=ActiveMultiplier(
        "Visio compte triple", Decimal(3), frozenset({"VISIO-STD-2024"}))), at(6, 10))

    assert ledger_snapshot() == snapshot and _changes(db) == changes
    assert {t.key: t.difference for t in promotion.by_family} == {
        # rounded once per line: 12417 × 8% × 2 = 1986.72 -> 1987, 24917 × 16% -> 3987
        "office": (1987 - 993) + (3987 - 1993), "service": 0, "visio": 0}
    assert {t.key: t.difference for t in multiplier.by_family} == {
        "office": 0, "service": 0, "visio": 2 * 4825}
    visio = next(x for x in multiplier.lines if x.product_code == "VISIO-STD-2024")
    assert "× 3 (product multiplier: Visio compte triple)" in visio.proposed_explanation


def test_two_clicks_on_new_draft_open_one_and_two_publications_publish_once(
        app, db, postgres_only, network):
    network_id = network.id
    db.session.remove()
    outcomes: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def race(action) -> None:  # type: ignore[no-untyped-def]
        with app.app_context():
            try:
                from commerce.models import Partner

                partner = db.session.get(Partner, network_id)
                barrier.wait(timeout=PATIENCE)
                action(partner)
                db.session.commit()
                outcomes.append("done")
            except ProgrammeError as exc:
                db.session.rollback()
                outcomes.append(f"refused: {exc}")
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                db.session.remove()

    def run(action) -> None:  # type: ignore[no-untyped-def]
        outcomes.clear()
        threads = [threading.Thread(target=race, args=(action,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        join_all(threads)
        assert not errors, errors

    run(lambda p: admin.draft_version(p, OP, at(5, 1)))
    assert sorted(o.split(":")[0] for o in outcomes) == ["done", "refused"]
    drafts = db.session.scalars(select(ProgrammeVersion).where(
        ProgrammeVersion.status == VersionStatus.DRAFT)).all()
    assert len(drafts) == 1
    db.session.remove()

    def publish(partner) -> None:  # type: ignore[no-untyped-def]
        draft = admin.draft_of(programme_for(partner.id))
        if draft is None:
            raise ProgrammeError({"version": "already published"})
        admin.publish_version(draft, at(6, 1), OP, at(5, 2))

    run(publish)
    assert sorted(o.split(":")[0] for o in outcomes) == ["done", "refused"]
    assert db.session.scalar(select(func.count()).select_from(ProgrammeChange).where(
        ProgrammeChange.action == "version published")) == 2  # the fixture's and one of ours
