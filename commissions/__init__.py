"""Reseller commissions: attribution, rules, the append-only ledger, payouts and explanations.

The services the rest of the shop calls are re-exported here.
"""

from __future__ import annotations

from flask import Flask

from commissions.attribution import (
    AttributionResult,
    attach_client,
    attribute_order,
    attribution_for,
    set_client_reseller,
)
from commissions.demo import seed_demo
from commissions.errors import CommissionError, UnknownOrder, UnknownReseller
from commissions.incentives import add_promotion
from commissions.payouts import run_payouts
from commissions.programme_admin import set_programme
from commissions.programmes import (
    attribution_window,
    create_reseller,
    network_reseller,
    programme_for,
    reseller_by_code,
    reseller_for_user,
)
from commissions.reports import (
    EntryView,
    ResellerLedger,
    clients_of,
    commissions_csv,
    explain_order,
    ledger_for,
    orders_of,
)
from commissions.rules import Commission, Rates, SubscriptionEvent, commission_for
from commissions.services import (
    Balances,
    accrue_for_delivery,
    accrue_for_line,
    accrue_for_order,
    adjust,
    balances,
    clawback_for_line,
    clawback_for_order,
    clawback_for_refund,
)

__all__ = [
    "AttributionResult",
    "Balances",
    "Commission",
    "CommissionError",
    "EntryView",
    "Rates",
    "ResellerLedger",
    "SubscriptionEvent",
    "UnknownOrder",
    "UnknownReseller",
    "accrue_for_delivery",
    "accrue_for_line",
    "accrue_for_order",
    "add_promotion",
    "adjust",
    "attach_client",
    "attribute_order",
    "attribution_window",
    "attribution_for",
    "balances",
    "clawback_for_line",
    "clawback_for_order",
    "clawback_for_refund",
    "clients_of",
    "commission_for",
    "commissions_csv",
    "create_reseller",
    "explain_order",
    "init_app",
    "ledger_for",
    "network_reseller",
    "orders_of",
    "programme_for",
    "reseller_by_code",
    "reseller_for_user",
    "run_payouts",
    "seed_demo",
    "set_client_reseller",
    "set_programme",
]


def init_app(app: Flask) -> None:
    """Register the payouts, commissions and resellers commands and the scheduled payout run."""
    from commissions import consumers  # noqa: F401 - subscribes to delivery and refund events
    from commissions.cli import COMMANDS
    from commissions.tasks import BEAT_SCHEDULE
    from extensions import celery

    for command in COMMANDS:
        if command.name not in app.cli.commands:
            app.cli.add_command(command)
    celery.conf.beat_schedule = {**(celery.conf.beat_schedule or {}), **BEAT_SCHEDULE}
