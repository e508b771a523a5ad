"""The credit line's calendar and references, pure: due dates, months, the transfer reference.

Payment terms are "N days end of month" (French trade's usual *30 jours fin de mois*): every
charge of a calendar month, in Paris time, falls due N days after that month's last day. So the
statement of November, made on 1 December, lists one date for all its charges (30 December at
30 days). A charge is overdue from the day after its due date, Paris time.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from stdnum import iso11649
from stdnum.iso7064 import mod_97_10

PARIS = ZoneInfo("Europe/Paris")
MAX_TERM_DAYS = 60  # the Code de commerce's ceiling (L441-10): 60 days, or 45 end of month
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def paris_day(moment: datetime) -> date:
    """The calendar day of a moment in Paris."""
    return moment.astimezone(PARIS).date()


def month_of(moment: datetime) -> date:
    """The first day of the Paris month holding a moment."""
    return paris_day(moment).replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def previous_month(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """A Paris month as [start, end) in UTC."""
    start = datetime.combine(month, time(0), PARIS)
    end = datetime.combine(next_month(month), time(0), PARIS)
    return start.astimezone(UTC), end.astimezone(UTC)


def parse_month(text: str) -> date:
    """"2026-11" as its first day; ValueError with a readable message otherwise."""
    match = _MONTH.match(text.strip())
    if match is None:
        raise ValueError(f"give the month as YYYY-MM, for example 2026-11, not {text!r}")
    return date(int(match.group(1)), int(match.group(2)), 1)


def due_on(booked_at: datetime, term_days: int) -> date:
    """When a charge booked at a moment falls due: `term_days` after its month's last day."""
    last_day = next_month(month_of(booked_at)) - timedelta(days=1)
    return last_day + timedelta(days=term_days)


def structured_reference(reseller_code: str) -> str:
    """The ISO 11649 creditor reference for a reseller's transfers: RF, check digits, code."""
    body = "CL" + re.sub(r"[^0-9A-Z]", "", reseller_code.upper())
    reference = f"RF{mod_97_10.calc_check_digits(body + 'RF')}{body}"
    iso11649.validate(reference)
    return reference


def clean_reference(text: str) -> str:
    """A structured reference as typed (spaces, lower case) in its compact form, checked."""
    return str(iso11649.validate(text))


def grouped(reference: str) -> str:
    """A reference in groups of four, as bank forms print it."""
    return str(iso11649.format(reference))


def parse_amount(text: str) -> int:
    """"1 234,56", "1234.56" or "1234" euros in cents; ValueError for anything else."""
    cleaned = text.strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
    cleaned = cleaned.removesuffix("€").replace(",", ".")
    if not re.fullmatch(r"\d{1,9}(\.\d{1,2})?", cleaned):
        raise ValueError(f"give an amount in euros such as 1234.56, not {text!r}")
    units, _, fraction = cleaned.partition(".")
    return int(units) * 100 + int((fraction + "00")[:2])
