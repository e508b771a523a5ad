"""The pure rules: rates, rounding once half-even, subscriptions, promotions, add-ons."""

from __future__ import annotations

from decimal import Decimal

import pytest
from commission_helpers import RATES

from commissions.rules import (
    ActivePromotion,
    LineFacts,
    Rates,
    RatesError,
    SubscriptionEvent,
    commission_for,
    to_cents,
)


def test_rounding_is_half_even_on_the_exact_product() -> None:
    assert [to_cents(Decimal(x)) for x in ("12.5", "13.5", "12.49", "-12.5", "993.36")] == [
        12, 14, 12, -12, 993]


def test_half_cent_commissions_round_to_the_even_cent() -> None:
    rates = Rates.from_json({**RATES.to_json(), "perpetual": {"*": "0.1"}})
    assert commission_for(LineFacts("office", "perpetual", 125), rates).amount_cents == 12
    assert commission_for(LineFacts("office", "perpetual", 135), rates).amount_cents == 14


def test_perpetual_office_under_doubled_margins() -> None:
    doubled = ActivePromotion("Marges arrière doublées", Decimal("2"))
    commission = commission_for(LineFacts("office", "perpetual", 12417), RATES, [doubled])
    assert commission is not None
    assert (commission.amount_cents, commission.rule, commission.rate) == (
        1987, "perpetual.office", Decimal("0.16"))
    assert commission.explanation == (
        "124.17 EUR net (VAT excluded) × 8% (office perpetual rate)"
        " × 2 (promotion: Marges arrière doublées) = 19.8672 EUR -> 19.87 EUR (rounded half-even)")


def test_subscription_first_year_renewal_and_upsell_rates() -> None:
    line = LineFacts("microsoft365", "subscription", 75000, term_months=12)
    first = commission_for(line, RATES, event=SubscriptionEvent.FIRST_YEAR)
    renewal = commission_for(line, RATES, event=SubscriptionEvent.RENEWAL)
    upsell = commission_for(line, RATES, event=SubscriptionEvent.UPSELL)
    assert first and renewal and upsell
    assert (first.amount_cents, first.rule, first.rate) == (13500, "subscription.first_year",
                                                            Decimal("0.18"))
    assert "12% of the contract value + 6% first-year bonus" in first.explanation
    assert "annual contract value" in first.explanation
    assert (renewal.amount_cents, renewal.rule) == (4500, "subscription.renewal")
    assert (upsell.amount_cents, upsell.rule) == (13500, "subscription.upsell")


def test_promotion_for_one_family_leaves_others_alone() -> None:
    march = ActivePromotion("Project compte double en mars", Decimal("2"), family="project")
    project = commission_for(LineFacts("project", "perpetual", 94083), RATES, [march])
    office = commission_for(LineFacts("office", "perpetual", 12417), RATES, [march])
    assert project and office
    assert project.amount_cents == 18817  # 94083 × 0.10 × 2 = 18816.6
    assert office.amount_cents == 993  # 12417 × 0.08 = 993.36
    assert "promotion" not in office.explanation


def test_promotions_multiply_together() -> None:
    promos = [ActivePromotion("a", Decimal("2")), ActivePromotion("b", Decimal("1.5"))]
    commission = commission_for(LineFacts("visio", "perpetual", 48250), RATES, promos)
    assert commission and commission.rate == Decimal("0.300") and commission.amount_cents == 14475


def test_addons_use_their_own_rates() -> None:
    backup = commission_for(LineFacts("service", "perpetual", 825, addon="backup"), RATES)
    install = commission_for(LineFacts("service", "perpetual", 2417, addon="install"), RATES)
    assert backup and install
    assert (backup.amount_cents, backup.rule) == (248, "addon.backup")  # 247.5 -> 248
    assert (install.amount_cents, install.rule) == (967, "addon.install")  # 966.8


def test_unknown_family_takes_the_default_and_override_wins() -> None:
    default = commission_for(LineFacts("windows-server", "perpetual", 10000), RATES)
    assert default and (default.rule, default.amount_cents) == ("perpetual.default", 500)
    override = Rates.from_json({**RATES.to_json(), "override": "0.07"})
    line = commission_for(LineFacts("office", "perpetual", 10000), override)
    assert line and (line.rule, line.amount_cents) == ("perpetual.override", 700)


def test_no_rate_or_nothing_sold_means_no_commission() -> None:
    no_default = Rates.from_json({**RATES.to_json(), "perpetual": {"office": "0.08"},
                                  "addons": {}})
    assert commission_for(LineFacts("visio", "perpetual", 10000), no_default) is None
    backup = LineFacts("service", "perpetual", 825, addon="backup")
    assert commission_for(backup, no_default) is None
    assert commission_for(LineFacts("office", "perpetual", 0), RATES) is None


@pytest.mark.parametrize("bad", [{"perpetual": {"office": "eight"}}, {"perpetual": {"*": "1.2"}},
                                 {"perpetual": {"*": "-0.1"}}, {"addons": {"gift": "0.1"}},
                                 {"subscription": {}}])
def test_bad_rates_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(RatesError):
        Rates.from_json({**RATES.to_json(), **bad})


def test_rates_round_trip_as_decimal_strings() -> None:
    stored = RATES.to_json()
    assert stored["subscription"]["first_year"] == "0.12"
    assert Rates.from_json(stored) == RATES
