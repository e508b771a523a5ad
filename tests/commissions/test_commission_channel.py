"""Direct and indirect resellers: the distributor's share of each margin, to the cent, once."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from commission_helpers import at, line_of, race
from sqlalchemy import func, select

from commerce.orders import ADDON_INSTALL
from commissions import (
    accrue_for_delivery,
    accrue_for_line,
    balances,
    clawback_for_refund,
    explain_order,
)
from commissions.channel import (
    distributor_network,
    parse_share,
    set_distributor_share,
    set_language,
    set_programme_role,
)
from commissions.errors import ChannelError
from commissions.models import (
    Beneficiary,
    EntryKind,
    LedgerEntry,
    Programme,
    ProgrammeRole,
    ResellerChange,
)
from commissions.rules import RatesError, split_margin
from partners.models import PartnerChange


def _entries(db, **where):  # type: ignore[no-untyped-def]
    query = select(LedgerEntry).order_by(LedgerEntry.beneficiary.desc(), LedgerEntry.kind)
    for name, value in where.items():
        query = query.where(getattr(LedgerEntry, name) == value)
    return db.session.scalars(query).all()


@pytest.fixture
def channel(db, network, make_reseller):  # type: ignore[no-untyped-def]
    """A distributor D with one indirect reseller I, one direct reseller R; D takes 30%."""
    distributor = make_reseller(network, code="RP-DIST", name="Grossiste Régional")
    indirect = make_reseller(network, code="RP-INDI", name="Boutique du Coin")
    direct = make_reseller(network, code="RP-DIRE", name="Conseil Direct")
    set_programme_role(distributor, "distributor", None, "test")
    set_programme_role(indirect, "indirect", "RP-DIST", "test", "signed with the distributor")
    set_distributor_share(network, Decimal("0.30"), "test")
    return distributor, indirect, direct


def test_split_rounds_the_distributors_share_half_even_once_and_gives_the_rest():
    def cents(margin: int, share: str) -> tuple[int, int]:
        split = split_margin(margin, Decimal(share), "EUR")
        return split.seller_cents, split.distributor_cents

    assert cents(25, "0.5") == (13, 12)  # 12.5 -> 12
    assert cents(35, "0.5") == (17, 18)  # 17.5 -> 18
    assert cents(993, "0.3") == (695, 298)  # 297.9 -> 298
    assert cents(0, "0.3") == (0, 0)
    for share in ("0", "0.1", "0.25", "0.3333", "0.5", "0.9999"):
        fraction = Decimal(share)
        for margin in range(0, 2000):
            split = split_margin(margin, fraction, "EUR")
            exact = (Decimal(margin) * fraction).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
            assert split.distributor_cents == int(exact)
            assert split.seller_cents + split.distributor_cents == margin
    with pytest.raises(RatesError):
        split_margin(100, Decimal(1), "EUR")
    with pytest.raises(RatesError):
        split_margin(100, Decimal("-0.1"), "EUR")


def test_an_indirect_sale_writes_one_entry_per_beneficiary_to_the_cent(db, network, channel,
                                                                      sell):
    distributor, indirect, _ = channel
    order = sell(network, [("OFFICE-HOME-2024-WIN", 1, (ADDON_INSTALL,))], code="RP-INDI")
    line_id = line_of(order, "OFFICE-HOME-2024-WIN").id

    first = accrue_for_delivery(line_id, now=at(3, 10))
    again = accrue_for_delivery(line_id, now=at(3, 11))

    assert [e.id for e in first] == [e.id for e in again]
    office = _entries(db, order_line_id=line_id)
    # 12417 × 8% = 993.36 -> 993; distributor 993 × 30% = 297.9 -> 298; seller 993 - 298 = 695
    assert [(e.reseller_id, e.beneficiary, e.amount_cents, e.share) for e in office] == [
        (indirect.id, Beneficiary.SELLER, 695, Decimal("0.7")),
        (distributor.id, Beneficiary.DISTRIBUTOR, 298, Decimal("0.3")),
    ]
    assert "distributor's share: 9.93 EUR × 30% = 2.979 EUR -> 2.98 EUR" in office[1].explanation
    assert "on the sale of RP-INDI" in office[1].explanation
    assert "9.93 EUR - 2.98 EUR (distributor's 30%) = 6.95 EUR" in office[0].explanation
    install = _entries(db, order_line_id=line_of(order, ADDON_INSTALL).id)
    # 2417 × 40% = 966.8 -> 967; 967 × 30% = 290.1 -> 290; 677 to the seller
    assert [e.amount_cents for e in install] == [677, 290]
    assert _entries(db, kind=EntryKind.ACCRUAL).__len__() == 4
    assert balances(distributor, at(3, 20)).payable == 298 + 290
    assert balances(indirect, at(3, 20)).payable == 695 + 677
    explained = "\n".join(explain_order(order.number))
    assert "+2.98 EUR" in explained and "+6.95 EUR" in explained


def test_a_direct_reseller_and_a_zero_share_keep_the_whole_margin(db, network, channel, sell):
    _, indirect, _ = channel
    direct_sale = sell(network, [("OFFICE-HOME-2024-WIN", 1)], code="RP-DIRE")
    [entry] = [accrue_for_line(direct_sale.lines[0].id, now=at(3, 10))]
    assert entry is not None and entry.amount_cents == 993 and entry.share is None
    set_distributor_share(network, Decimal(0), "test")
    indirect_sale = sell(network, [("OFFICE-HOME-2024-WIN", 1)], code="RP-INDI")
    accrue_for_line(indirect_sale.lines[0].id, now=at(3, 10))
    [whole] = _entries(db, order_id=indirect_sale.id)
    assert (whole.reseller_id, whole.amount_cents, whole.share) == (indirect.id, 993, None)


def test_a_refund_claws_back_each_share_once(db, network, channel, sell):
    distributor, indirect, _ = channel
    order = sell(network, [("VISIO-STD-2024", 1)], code="RP-INDI")
    line_id = order.lines[0].id
    accrue_for_delivery(line_id, now=at(3, 10))
    # 48250 × 10% = 4825; 4825 × 30% = 1447.5 -> 1448 (half-even); 3377 to the seller
    assert [e.amount_cents for e in _entries(db, kind=EntryKind.ACCRUAL)] == [3377, 1448]

    first = clawback_for_refund(line_id, "refunded", now=at(3, 11))
    again = clawback_for_refund(line_id, "refunded twice", now=at(3, 12))

    assert [e.id for e in first] == [e.id for e in again]
    assert [(e.reseller_id, e.amount_cents, e.beneficiary) for e in first] == [
        (indirect.id, -3377, Beneficiary.SELLER), (distributor.id, -1448, Beneficiary.DISTRIBUTOR)]
    for who in (indirect, distributor):
        assert balances(who, at(3, 11)).total == 0 and balances(who, at(4, 1)).total == 0


def test_concurrent_deliveries_write_each_share_once(app, db, postgres_only, network, channel,
                                                     sell):
    order = sell(network, [("PROJECT-STD-2024", 1)], code="RP-INDI")
    line_id = order.lines[0].id
    errors = race(app, lambda: accrue_for_line(line_id, now=at(3, 10)))
    assert not errors, errors
    rows = db.session.execute(select(LedgerEntry.beneficiary, func.count()).where(
        LedgerEntry.order_line_id == line_id).group_by(LedgerEntry.beneficiary)).all()
    assert sorted(rows) == [("distributor", 1), ("seller", 1)]


def test_roles_are_checked_and_audited_and_a_refusal_changes_nothing(db, network, make_network,
                                                                     make_reseller, channel):
    distributor, indirect, direct = channel
    other = make_reseller(make_network(slug="autre-reseau"), code="RP-AUTR")
    set_programme_role(other, "distributor", None, "test")
    refusals = [
        (direct, "reseller", None, "unknown programme role"),
        (direct, "indirect", None, "needs its distributor"),
        (direct, "indirect", "RP-AUTR", "no reseller 'RP-AUTR' in this network"),
        (direct, "indirect", "RP-INDI", "is not a distributor"),
        (distributor, "indirect", "RP-DIST", "its own distributor"),
        (direct, "direct", "RP-DIST", "only an indirect reseller has a distributor"),
        (distributor, "direct", None, "still has indirect resellers"),
    ]
    audit_before = db.session.scalar(select(func.count()).select_from(ResellerChange))
    for reseller, role, code, message in refusals:
        with pytest.raises(ChannelError, match=message):
            set_programme_role(reseller, role, code, "test")
        db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(ResellerChange)) == audit_before
    assert (direct.programme_role, direct.distributor_id) == (ProgrammeRole.DIRECT, None)
    assert distributor.programme_role == ProgrammeRole.DISTRIBUTOR

    assert set_programme_role(indirect, "indirect", "rp-dist", "test") is None  # unchanged
    change = set_programme_role(indirect, "direct", None, "operator:op@example.com", "own contract")
    assert change is not None and change.changes == {
        "programme_role": ["indirect", "direct"], "distributor": ["RP-DIST", None]}
    assert (change.actor, change.reason) == ("operator:op@example.com", "own contract")
    assert set_programme_role(distributor, "direct", None, "test") is not None  # none left


def test_language_and_share_are_checked_and_audited(db, network, channel):
    _, indirect, _ = channel
    with pytest.raises(ChannelError):
        set_language(indirect, "de", "test")
    assert indirect.locale is None  # until chosen: the visitor's language, the shop's default
    assert set_language(indirect, "fr", "test").changes == {"locale": [None, "fr"]}
    assert set_language(indirect, "fr", "test") is None
    change = set_language(indirect, "EN", "reseller:RP-INDI")
    assert indirect.locale == "en" and change is not None and change.changes == {
        "locale": ["fr", "en"]}
    assert parse_share("30%") == Decimal("0.3") == parse_share("0,30")
    for bad in ("1", "100%", "-0.1", "abc", "0.12345"):
        with pytest.raises(ChannelError):
            parse_share(bad)
    programme = db.session.scalar(select(Programme).where(Programme.partner_id == network.id))
    assert set_distributor_share(network, Decimal("0.25"), "cli") == Decimal("0.3")
    assert programme.distributor_share == Decimal("0.25")
    audit = db.session.scalars(select(PartnerChange).where(
        PartnerChange.action == "distributor_share")).all()
    assert [c.changes["distributor_share"] for c in audit] == [["0.0000", "0.30"],
                                                                ["0.3000", "0.25"]]


def test_the_distributor_sees_its_indirect_resellers_sales_and_shares(db, network, channel,
                                                                       make_reseller, sell):
    distributor, indirect, _ = channel
    second = make_reseller(network, code="RP-SECO", name="Second Revendeur")
    set_programme_role(second, "indirect", "RP-DIST", "test")
    kept = sell(network, [("OFFICE-HOME-2024-WIN", 1)], code="RP-INDI")
    refunded = sell(network, [("VISIO-STD-2024", 1)], code="RP-INDI")
    accrue_for_line(kept.lines[0].id, now=at(3, 10))
    accrue_for_line(refunded.lines[0].id, now=at(3, 10))
    clawback_for_refund(refunded.lines[0].id, "refunded", now=at(3, 12))
    direct_sale = sell(network, [("PROJECT-STD-2024", 1)], code="RP-DIRE")
    accrue_for_line(direct_sale.lines[0].id, now=at(3, 10))

    view = distributor_network(distributor)

    by_code = {row.code: row for row in view.rows}
    assert set(by_code) == {"RP-INDI", "RP-SECO"}
    row = by_code["RP-INDI"]
    assert (row.sales, row.net_sales_cents, row.seller_cents, row.distributor_cents) == (
        1, 12417, 695, 298)
    assert (by_code["RP-SECO"].sales, by_code["RP-SECO"].distributor_cents) == (0, 0)
    assert (view.total("sales"), view.total("seller_cents"),
            view.total("distributor_cents")) == (1, 695, 298)
    assert sorted((s.order_number, s.refunded) for s in view.sales) == sorted(
        [(kept.number, False), (refunded.number, True)])
    assert view.share_text == "30%"


def test_cli_sets_roles_language_and_split_and_prints_the_network(runner, db, network, channel,
                                                                  make_reseller, sell):
    newcomer = make_reseller(network, code="RP-NOUV")
    result = runner.invoke(args=["resellers", "set-role", "RP-NOUV", "indirect", "--distributor",
                                 "RP-DIST", "--reason", "joined the distributor"])
    assert result.exit_code == 0, result.output
    assert "RP-NOUV is indirect through RP-DIST" in result.output
    db.session.refresh(newcomer)
    assert newcomer.distributor_id == channel[0].id
    [audit] = db.session.scalars(select(ResellerChange).where(
        ResellerChange.reseller_id == newcomer.id)).all()
    assert (audit.actor, audit.reason) == ("cli", "joined the distributor")

    refused = runner.invoke(args=["resellers", "set-role", "RP-DIRE", "indirect"])
    assert refused.exit_code != 0 and "needs its distributor" in refused.output
    assert runner.invoke(args=["resellers", "set-language", "RP-NOUV", "en"]).exit_code == 0
    db.session.refresh(newcomer)
    assert newcomer.locale == "en"
    result = runner.invoke(args=["commissions", "set-split", network.slug, "40%"])
    assert result.exit_code == 0 and "30% -> 40%" in result.output, result.output
    assert runner.invoke(args=["commissions", "set-split", network.slug, "1.5"]).exit_code != 0

    order = sell(network, [("OFFICE-HOME-2024-WIN", 1)], code="RP-NOUV")
    accrue_for_line(order.lines[0].id, now=at(3, 10))  # 993 × 40% = 397.2 -> 397; 596
    result = runner.invoke(args=["resellers", "network", "RP-DIST"])
    assert result.exit_code == 0, result.output
    assert "RP-NOUV        1       124.17         5.96         3.97" in result.output
    assert "total          1       124.17         5.96         3.97" in result.output
    assert runner.invoke(args=["resellers", "network", "RP-DIRE"]).exit_code != 0
