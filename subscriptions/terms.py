"""Pure arithmetic of subscriptions: term ends, proration and which commission event a charge is.

Nothing here touches the database, so the rules read as they are documented (docs/subscriptions.md).
"""

from __future__ import annotations

import calendar
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from commissions.rules import SubscriptionEvent

TERMS = (1, 12)  # monthly or annual
FIRST_YEAR_MONTHS = 12


def add_months(start: datetime, months: int) -> datetime:
    """The same day and time `months` later, clamped to the month's last day."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return start.replace(year=year, month=month,
                         day=min(start.day, calendar.monthrange(year, month)[1]))


def prorated_cents(unit_cents: int, seats: int, at: datetime, period_start: datetime,
                   period_end: datetime) -> int:
    """What `seats` more users cost from `at` to the term's end: the term's price times the
    share of the term left, in seconds, rounded half-even to the cent once."""
    if not period_start <= at < period_end:
        raise ValueError("a change is prorated within the current term")
    left = Decimal(int((period_end - at).total_seconds()))
    whole = Decimal(int((period_end - period_start).total_seconds()))
    exact = Decimal(unit_cents * seats) * left / whole
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def charge_event(*, term_months: int, subscription_started_at: datetime,
                 item_started_at: datetime, item_added: bool,
                 period_start: datetime) -> SubscriptionEvent:
    """Which rate a term's charge of one product earns (commissions/rules.py).

    The first twelve months of a contract earn the first-year rate (12 % + 6 %); every later
    term, the renewal rate (6 %). An annual contract's first year is its first term; a monthly
    one's, its first twelve monthly charges. Every addition earns the upsell rate (12 % + 6 %) on
    its prorated charge (`change_event`). Then users added to a plan the client has are billed
    with that plan; an application added to a monthly contract earns the upsell rate on its
    charges for twelve months from its addition, and one added to an annual contract renews with
    the contract.
    """
    anchor = item_started_at if term_months < FIRST_YEAR_MONTHS else subscription_started_at
    if period_start < add_months(anchor, FIRST_YEAR_MONTHS):
        if item_added and term_months < FIRST_YEAR_MONTHS:
            return SubscriptionEvent.UPSELL
        return SubscriptionEvent.FIRST_YEAR
    return SubscriptionEvent.RENEWAL


def change_event() -> SubscriptionEvent:
    """A change's prorated charge is added revenue: the upsell rate."""
    return SubscriptionEvent.UPSELL
