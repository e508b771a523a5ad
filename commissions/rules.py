"""Commission rules as pure functions: a line, rates and promotions -> an amount and its arithmetic.

Commissions are computed on the line's net amount, VAT excluded: a back-end margin is a share of
the net sale, and VAT is the State's, not the seller's. Rates are Decimal fractions (0.12 = 12%);
the product of base, rate, promotion multipliers and product multipliers is rounded once per
entry, half-even, to the cent (`to_cents`). Nothing here touches the database.

A promotion multiplies the back-end margin ("doubled margins"); a product multiplier makes a sale
count several times ("every SQL Server sale counts double in March"). Both scale the same
commission, so they multiply: a line under a ×2 promotion and a ×2 multiplier earns four times
its rate, and the explanation names each factor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

ADDON_KINDS = ("backup", "install")
DEFAULT_FAMILY = "*"


class RatesError(ValueError):
    """Rates that cannot be used: missing, not a decimal, or outside [0, 1]."""


class SubscriptionEvent(StrEnum):
    """Why a subscription line is sold: a new client's first year, a renewal, or added value."""

    FIRST_YEAR = "first_year"
    RENEWAL = "renewal"
    UPSELL = "upsell"


def to_cents(amount: Decimal) -> int:
    """Round an amount in cents to a whole cent, half-even; the one rounding of an entry."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _rate(value: Any, where: str) -> Decimal:
    try:
        rate = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise RatesError(f"{where}: not a decimal rate: {value!r}") from exc
    if not rate.is_finite() or not Decimal(0) <= rate <= Decimal(1):
        raise RatesError(f"{where}: a rate is a fraction between 0 and 1, got {value!r}")
    return rate


@dataclass(frozen=True)
class Rates:
    """One programme version's rates, parsed from its JSON (Decimal strings, fractions of 1)."""

    perpetual: Mapping[str, Decimal]
    addons: Mapping[str, Decimal]
    first_year: Decimal
    first_year_bonus: Decimal
    renewal: Decimal
    upsell: Decimal
    upsell_bonus: Decimal
    override: Decimal | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rates:
        """Parse and validate stored rates; raise RatesError on anything off."""
        try:
            sub = data["subscription"]
            perpetual = {str(k): _rate(v, f"perpetual.{k}") for k, v in data["perpetual"].items()}
            addons = {str(k): _rate(v, f"addons.{k}") for k, v in data.get("addons", {}).items()}
            unknown = set(addons) - set(ADDON_KINDS)
            if unknown:
                raise RatesError(f"addons: unknown add-on kinds {sorted(unknown)}")
            override = data.get("override")
            return cls(
                perpetual=perpetual,
                addons=addons,
                first_year=_rate(sub["first_year"], "subscription.first_year"),
                first_year_bonus=_rate(sub["first_year_bonus"], "subscription.first_year_bonus"),
                renewal=_rate(sub["renewal"], "subscription.renewal"),
                upsell=_rate(sub["upsell"], "subscription.upsell"),
                upsell_bonus=_rate(sub["upsell_bonus"], "subscription.upsell_bonus"),
                override=None if override is None else _rate(override, "override"),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise RatesError(f"incomplete rates: {exc}") from exc

    def to_json(self) -> dict[str, Any]:
        """The rates as stored: Decimal strings, never floats."""
        return {
            "perpetual": {k: str(v) for k, v in self.perpetual.items()},
            "addons": {k: str(v) for k, v in self.addons.items()},
            "subscription": {
                "first_year": str(self.first_year),
                "first_year_bonus": str(self.first_year_bonus),
                "renewal": str(self.renewal),
                "upsell": str(self.upsell),
                "upsell_bonus": str(self.upsell_bonus),
            },
            "override": None if self.override is None else str(self.override),
        }


@dataclass(frozen=True)
class LineFacts:
    """What the rules need to know of an order line; net_cents excludes VAT."""

    family: str
    licence_type: str
    net_cents: int
    currency: str = "EUR"
    addon: str | None = None
    term_months: int | None = None
    product_code: str = ""


@dataclass(frozen=True)
class ActivePromotion:
    """A promotion in force at the delivery time; family None means every line."""

    name: str
    multiplier: Decimal
    family: str | None = None

    def applies_to(self, family: str) -> bool:
        return self.family is None or self.family == family


@dataclass(frozen=True)
class ActiveMultiplier:
    """A product multiplier in force at the delivery time: some product codes, or a family."""

    name: str
    factor: Decimal
    product_codes: frozenset[str] = frozenset()
    family: str | None = None

    def applies_to(self, line: LineFacts) -> bool:
        return line.product_code in self.product_codes or (
            self.family is not None and self.family == line.family)


@dataclass(frozen=True)
class Commission:
    """A computed commission: whole cents, the rule's code, the effective rate, the arithmetic."""

    amount_cents: int
    rule: str
    rate: Decimal
    explanation: str
    multipliers: tuple[tuple[str, Decimal], ...] = field(default=())


def percent(rate: Decimal) -> str:
    """0.125 -> '12.5%'."""
    return f"{format((rate * 100).normalize(), 'f')}%"


def format_amount(cents: Decimal | int, currency: str) -> str:
    """Cents as an amount in currency units: 1987 -> '19.87 EUR', 1986.72 -> '19.8672 EUR'."""
    value = Decimal(cents) / 100
    exact = value != value.quantize(Decimal("0.01"))
    text = format(value.normalize(), "f") if exact else f"{value:.2f}"
    return f"{text} {currency}"


def _base_rate(line: LineFacts, rates: Rates, event: SubscriptionEvent) -> tuple[str, Decimal, str]:
    """The rule code, the base rate and how the rate reads, before promotions; KeyError if none."""
    if line.addon is not None:
        return f"addon.{line.addon}", rates.addons[line.addon], f"{line.addon} add-on rate"
    if line.licence_type == "subscription":
        if event is SubscriptionEvent.RENEWAL:
            return "subscription.renewal", rates.renewal, f"renewal {percent(rates.renewal)}"
        if event is SubscriptionEvent.UPSELL:
            return ("subscription.upsell", rates.upsell + rates.upsell_bonus,
                    f"upsell {percent(rates.upsell)} + {percent(rates.upsell_bonus)}"
                    " on the added value")
        return ("subscription.first_year", rates.first_year + rates.first_year_bonus,
                f"{percent(rates.first_year)} of the contract value"
                f" + {percent(rates.first_year_bonus)} first-year bonus")
    if rates.override is not None:
        return "perpetual.override", rates.override, "channel partner override rate"
    if line.family in rates.perpetual:
        rate = rates.perpetual[line.family]
        return f"perpetual.{line.family}", rate, f"{line.family} perpetual rate"
    return "perpetual.default", rates.perpetual[DEFAULT_FAMILY], "default perpetual rate"


def commission_for(
    line: LineFacts,
    rates: Rates,
    promotions: Sequence[ActivePromotion] = (),
    event: SubscriptionEvent = SubscriptionEvent.FIRST_YEAR,
    multipliers: Sequence[ActiveMultiplier] = (),
) -> Commission | None:
    """The commission a line earns, or None when the programme has no rate for it.

    Promotions, then product multipliers, multiply the rate (see the module's docstring).
    """
    if line.net_cents <= 0:
        return None
    try:
        rule, rate, rate_text = _base_rate(line, rates, event)
    except KeyError:
        return None
    if rate == 0:
        return None
    applied = tuple((p.name, p.multiplier) for p in promotions if p.applies_to(line.family))
    counted = tuple((m.name, m.factor) for m in multipliers if m.applies_to(line))
    effective = rate
    for _, multiplier in applied + counted:
        effective *= multiplier
    exact = Decimal(line.net_cents) * effective
    amount = to_cents(exact)
    base_text = "net (VAT excluded)"
    if line.licence_type == "subscription" and line.addon is None:
        base_text = ("annual contract value, net" if line.term_months in (None, 12)
                     else f"contract value for {line.term_months} months, net")
    parts = [f"{format_amount(line.net_cents, line.currency)} {base_text}",
             f"{percent(rate)} ({rate_text})"]
    parts += [f"{format(m.normalize(), 'f')} (promotion: {name})" for name, m in applied]
    parts += [f"{format(m.normalize(), 'f')} (product multiplier: {name})" for name, m in counted]
    explanation = (f"{' × '.join(parts)} = {format_amount(exact, line.currency)}"
                   f" -> {format_amount(amount, line.currency)} (rounded half-even)")
    return Commission(amount, rule, effective, explanation, applied + counted)


@dataclass(frozen=True)
class Split:
    """A margin shared between an indirect reseller and its distributor, in whole cents."""

    seller_cents: int
    distributor_cents: int
    share: Decimal
    seller_text: str
    distributor_text: str


def split_margin(amount_cents: int, distributor_share: Decimal, currency: str) -> Split:
    """Split a line's margin: the distributor's share rounded half-even once, the seller the rest.

    The two shares always sum to the whole margin, which was itself rounded once
    (`commission_for`); a half cent goes to the even side of the distributor's share.
    """
    share = _rate(distributor_share, "distributor share")
    if share >= 1:
        raise RatesError("the distributor's share is a fraction below 1")
    exact = Decimal(amount_cents) * share
    distributor = to_cents(exact)
    seller = amount_cents - distributor
    whole = format_amount(amount_cents, currency)
    return Split(
        seller_cents=seller, distributor_cents=distributor, share=share,
        seller_text=(f"indirect reseller's share: {whole} - {format_amount(distributor, currency)}"
                     f" (distributor's {percent(share)}) = {format_amount(seller, currency)}"),
        distributor_text=(f"distributor's share: {whole} × {percent(share)}"
                          f" = {format_amount(exact, currency)}"
                          f" -> {format_amount(distributor, currency)} (rounded half-even)"),
    )
