"""Subscriptions at the wholesalers, over HTTP against both simulators: the id a purchase opens,
renewal (confirmed at Nexway, which renews by itself; provisioned at Arvato, once per reference),
change of seats, cancellation at the end of the term, and what a broken answer does."""

from __future__ import annotations

import dataclasses
import json
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from fulfilment.simulators import SimulatorHandle
from fulfilment.simulators.common import add_months
from fulfilment.wholesalers import (
    MalformedAnswer,
    PermanentWholesalerError,
    SupplierOrder,
    SupplierOrderRequest,
    TemporaryWholesalerError,
)
from fulfilment.wholesalers.arvato import ArvatoAdapter
from fulfilment.wholesalers.base import SupplierSubscriptionStatus as Status
from fulfilment.wholesalers.nexway import NexwayAdapter
from fulfilment.wholesalers.nexway import _order as read_order

Ref = Callable[[], str]
Pair = Any  # conftest's Pair: adapter, sim, sku
SUBSCRIPTION_SKU = {"nexway": "NX-M365-PERS-12", "arvato": "AR-M365-PERS-12"}


@pytest.fixture
def subs(pair: Pair) -> Pair:
    """The pair, selling the demo's Microsoft 365 Personal (a twelve-month subscription)."""
    return dataclasses.replace(pair, sku=SUBSCRIPTION_SKU[pair.code])


def _buy(pair: Pair, reference: str, seats: int = 2) -> SupplierOrder:
    order = pair.adapter.place_order(SupplierOrderRequest(reference, pair.sku, seats))
    assert order.subscription_id is not None
    return order


def _held(sim: SimulatorHandle, subscription_id: str) -> dict[str, Any]:
    """The subscription as the simulator holds it."""
    held: dict[str, Any] = sim.state()["subscriptions"][subscription_id]
    return held


def _paid_until(sim: SimulatorHandle, subscription_id: str) -> datetime:
    return datetime.fromisoformat(_held(sim, subscription_id)["paid_until"])


def _control(sim: SimulatorHandle, subscription_id: str, what: str) -> dict[str, Any]:
    """POST /_sim/subscriptions/{id}/renew or /expire, over HTTP."""
    request = urllib.request.Request(f"{sim.url}/_sim/subscriptions/{subscription_id}/{what}",
                                     data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - loopback
        result: dict[str, Any] = json.loads(answer.read())
    return result


# -- the purchase -------------------------------------------------------------------------------


def test_a_subscription_sku_opens_a_subscription_and_the_order_names_it(
    subs: Pair, reference_factory: Ref
) -> None:
    reference = reference_factory()
    order = _buy(subs, reference, seats=3)
    held = _held(subs.sim, order.subscription_id or "")
    assert (held["status"], held["seats"], held["reference"]) == ("active", 3, reference)
    opened = datetime.fromisoformat(subs.sim.state()["orders"][reference]["created_at"])
    assert abs((_paid_until(subs.sim, held["subscription_id"]) - add_months(opened, 12))
               .total_seconds()) <= 1
    assert subs.delivered(reference).subscription_id == order.subscription_id
    found = subs.adapter.get_subscription(held["subscription_id"])
    assert (found.status, found.seats) == (Status.ACTIVE, 3)
    assert found.paid_until == _paid_until(subs.sim, held["subscription_id"])


def test_a_perpetual_licence_opens_no_subscription(pair: Pair, reference_factory: Ref) -> None:
    reference = reference_factory()
    order = pair.adapter.place_order(SupplierOrderRequest(reference, pair.sku, 1))
    assert order.subscription_id is None
    assert pair.delivered(reference).subscription_id is None
    assert pair.sim.state()["subscriptions"] == {}


def test_a_configured_sku_is_a_subscription_too(nexway: NexwayAdapter, nexway_sim: SimulatorHandle,
                                                reference_factory: Ref) -> None:
    nexway_sim.configure(subscription_skus={"668678": 1})
    order = nexway.place_order(SupplierOrderRequest(reference_factory(), "668678", 1))
    assert order.subscription_id is not None
    assert _held(nexway_sim, order.subscription_id)["term_months"] == 1


# -- change of seats ----------------------------------------------------------------------------


def test_a_change_of_seats_applies_once_per_reference(subs: Pair, reference_factory: Ref) -> None:
    sid = _buy(subs, reference_factory()).subscription_id or ""
    changed = subs.adapter.change_subscription(sid, reference="CHG-1", seats=5)
    assert (changed.status, changed.seats) == (Status.ACTIVE, 5)
    assert _held(subs.sim, sid)["seats"] == 5
    events = len(_held(subs.sim, sid)["events"])
    again = subs.adapter.change_subscription(sid, reference="CHG-1", seats=5)
    assert again == changed
    assert len(_held(subs.sim, sid)["events"]) == events
    with pytest.raises(PermanentWholesalerError):
        subs.adapter.change_subscription(sid, reference="CHG-1", seats=4)
    assert _held(subs.sim, sid)["seats"] == 5 and _held(subs.sim, sid)["changes"] == {"CHG-1": 5}


@pytest.mark.parametrize("fault", ["fail_next_n", "timeout_next_n"])
def test_a_change_retried_after_a_5xx_or_a_timeout_changes_once(
    subs: Pair, reference_factory: Ref, fault: str
) -> None:
    sid = _buy(subs, reference_factory()).subscription_id or ""
    subs.sim.configure(**{fault: 1}, timeout_ms=1500, fault_scope=["change_subscription"])
    changed = subs.adapter.change_subscription(sid, reference="CHG-2", seats=4)
    assert changed.seats == 4
    state = subs.sim.state()
    assert state["requests"]["change_subscription"] == 2
    assert state["subscriptions"][sid]["changes"] == {"CHG-2": 4}
    assert sum("-> 4 seats" in e for e in state["subscriptions"][sid]["events"]) == 1


# -- cancellation -------------------------------------------------------------------------------


def test_cancelling_stops_the_renewal_but_keeps_the_term(subs: Pair,
                                                         reference_factory: Ref) -> None:
    sid = _buy(subs, reference_factory()).subscription_id or ""
    paid_until = _paid_until(subs.sim, sid)
    cancelled = subs.adapter.cancel_subscription(sid)
    assert (cancelled.status, cancelled.paid_until) == (Status.CANCELLED, paid_until)
    assert _held(subs.sim, sid)["status"] == "cancelled"
    assert subs.adapter.cancel_subscription(sid) == cancelled  # repeating is harmless
    with pytest.raises(PermanentWholesalerError):
        subs.adapter.renew_subscription(sid, reference="REN-1", seats=2,
                                        until=add_months(paid_until, 12))
    with pytest.raises(PermanentWholesalerError):
        subs.adapter.change_subscription(sid, reference="CHG-3", seats=3)
    held = _held(subs.sim, sid)
    assert (held["status"], held["seats"], held["generation"]) == ("cancelled", 2, 0)
    assert subs.sim.state()["terms_provisioned"] == 0
    assert subs.delivered(held["reference"]).status.value == "delivered"  # the order stands


def test_a_cancelled_subscription_ends_with_its_term(subs: Pair, reference_factory: Ref) -> None:
    sid = _buy(subs, reference_factory()).subscription_id or ""
    subs.adapter.cancel_subscription(sid)
    _control(subs.sim, sid, "expire")
    assert subs.adapter.get_subscription(sid).status is Status.ENDED
    assert subs.adapter.cancel_subscription(sid).status is Status.ENDED


def test_cancelling_the_order_revokes_the_subscription_at_once(
    subs: Pair, reference_factory: Ref
) -> None:
    reference = reference_factory()
    sid = _buy(subs, reference).subscription_id or ""
    subs.delivered(reference)
    subs.adapter.cancel(reference)
    found = subs.adapter.get_subscription(sid)
    assert found.status is Status.ENDED and found.paid_until is not None
    with pytest.raises(PermanentWholesalerError):
        subs.adapter.renew_subscription(sid, reference="REN-2", seats=2,
                                        until=add_months(found.paid_until, 12))


def test_an_unknown_subscription_is_a_permanent_error(pair: Pair) -> None:
    for call in (lambda: pair.adapter.get_subscription("NOPE-1"),
                 lambda: pair.adapter.cancel_subscription("NOPE-1"),
                 lambda: pair.adapter.change_subscription("NOPE-1", reference="C", seats=1)):
        with pytest.raises(PermanentWholesalerError):
            call()


def test_bad_arguments_are_refused_before_any_request(subs: Pair, reference_factory: Ref) -> None:
    sid = _buy(subs, reference_factory()).subscription_id or ""
    before = dict(subs.sim.state()["requests"])
    with pytest.raises(ValueError, match="seats"):
        subs.adapter.change_subscription(sid, reference="CHG-4", seats=0)
    with pytest.raises(ValueError, match="timezone"):
        subs.adapter.renew_subscription(sid, reference="REN-3", seats=2,
                                        until=datetime(2030, 1, 1))  # noqa: DTZ001 - the point
    with pytest.raises(ValueError, match="reference"):
        subs.adapter.change_subscription(sid, reference=" ", seats=2)
    assert subs.sim.state()["requests"] == before
    assert _held(subs.sim, sid)["seats"] == 2


# -- malformed answers --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["garbage", "missing_field"])
def test_a_malformed_look_up_is_an_error_never_a_term(
    subs: Pair, reference_factory: Ref, mode: str
) -> None:
    sid = _buy(subs, reference_factory()).subscription_id or ""
    subs.sim.configure(malformed_next_n=1, malformed_mode=mode, fault_scope=["get_subscription"])
    with pytest.raises(MalformedAnswer):
        subs.adapter.get_subscription(sid)
    assert subs.adapter.get_subscription(sid).status is Status.ACTIVE


def test_a_change_answered_with_other_seats_is_malformed_and_safe_to_retry(
    subs: Pair, reference_factory: Ref
) -> None:
    sid = _buy(subs, reference_factory()).subscription_id or ""
    subs.sim.configure(malformed_next_n=1, malformed_mode="wrong_quantity",
                       fault_scope=["change_subscription"])
    with pytest.raises(MalformedAnswer, match="seats"):
        subs.adapter.change_subscription(sid, reference="CHG-5", seats=3)
    assert subs.adapter.change_subscription(sid, reference="CHG-5", seats=3).seats == 3
    assert _held(subs.sim, sid)["changes"] == {"CHG-5": 3}


def test_a_cancel_answered_as_garbage_is_malformed_and_safe_to_repeat(
    subs: Pair, reference_factory: Ref
) -> None:
    sid = _buy(subs, reference_factory()).subscription_id or ""
    subs.sim.configure(malformed_next_n=1, malformed_mode="garbage",
                       fault_scope=["cancel_subscription"])
    with pytest.raises(MalformedAnswer):
        subs.adapter.cancel_subscription(sid)
    assert subs.adapter.cancel_subscription(sid).status is Status.CANCELLED


# -- Arvato: renewal provisioned on our request, once per reference --------------------------------


def _arvato_sub(arvato: ArvatoAdapter, reference: str) -> str:
    order = arvato.place_order(SupplierOrderRequest(reference, SUBSCRIPTION_SKU["arvato"], 2))
    assert order.subscription_id is not None
    return order.subscription_id


def test_arvato_renews_once_per_reference(arvato: ArvatoAdapter, arvato_sim: SimulatorHandle,
                                          reference_factory: Ref) -> None:
    sid = _arvato_sub(arvato, reference_factory())
    until = add_months(_paid_until(arvato_sim, sid), 12)
    renewed = arvato.renew_subscription(sid, reference="REN-A1", seats=2, until=until)
    assert (renewed.status, renewed.seats, renewed.paid_until) == (Status.ACTIVE, 2, until)
    assert arvato.renew_subscription(sid, reference="REN-A1", seats=2, until=until) == renewed
    held = _held(arvato_sim, sid)
    assert (held["generation"], held["paid_until"][:19]) == (1, until.isoformat()[:19])
    assert arvato_sim.state()["terms_provisioned"] == 1
    with pytest.raises(PermanentWholesalerError):  # the same reference for another term
        arvato.renew_subscription(sid, reference="REN-A1", seats=2, until=add_months(until, 12))
    assert arvato_sim.state()["terms_provisioned"] == 1


def test_arvato_renews_for_the_seats_asked(arvato: ArvatoAdapter, arvato_sim: SimulatorHandle,
                                           reference_factory: Ref) -> None:
    sid = _arvato_sub(arvato, reference_factory())
    until = add_months(_paid_until(arvato_sim, sid), 12)
    assert arvato.renew_subscription(sid, reference="REN-A2", seats=6, until=until).seats == 6
    assert _held(arvato_sim, sid)["seats"] == 6


@pytest.mark.parametrize("fault", ["fail_next_n", "timeout_next_n"])
def test_arvato_renewal_retried_after_a_5xx_or_a_timeout_provisions_once(
    arvato: ArvatoAdapter, arvato_sim: SimulatorHandle, reference_factory: Ref, fault: str
) -> None:
    sid = _arvato_sub(arvato, reference_factory())
    until = add_months(_paid_until(arvato_sim, sid), 12)
    arvato_sim.configure(**{fault: 1}, timeout_ms=1500, fault_scope=["renew_subscription"])
    renewed = arvato.renew_subscription(sid, reference="REN-A3", seats=2, until=until)
    assert renewed.paid_until == until
    state = arvato_sim.state()
    assert state["requests"]["renew_subscription"] == 2
    assert state["terms_provisioned"] == 1 and state["subscriptions"][sid]["generation"] == 1


def test_arvato_renewal_that_keeps_failing_says_it_may_have_applied(
    arvato: ArvatoAdapter, arvato_sim: SimulatorHandle, reference_factory: Ref, attempts: int
) -> None:
    sid = _arvato_sub(arvato, reference_factory())
    until = add_months(_paid_until(arvato_sim, sid), 12)
    arvato_sim.configure(timeout_next_n=attempts, timeout_ms=1500,
                         fault_scope=["renew_subscription"])
    with pytest.raises(TemporaryWholesalerError) as caught:
        arvato.renew_subscription(sid, reference="REN-A4", seats=2, until=until)
    assert caught.value.maybe_applied
    assert arvato_sim.state()["terms_provisioned"] == 1  # every try carried out the same renewal
    assert arvato.renew_subscription(sid, reference="REN-A4", seats=2, until=until).paid_until \
        == until


def test_arvato_renewal_answered_short_of_the_term_is_malformed(
    arvato: ArvatoAdapter, arvato_sim: SimulatorHandle, reference_factory: Ref
) -> None:
    sid = _arvato_sub(arvato, reference_factory())
    until = add_months(_paid_until(arvato_sim, sid), 12)
    arvato_sim.configure(malformed_next_n=1, malformed_mode="missing_field",
                         fault_scope=["renew_subscription"])
    with pytest.raises(MalformedAnswer):
        arvato.renew_subscription(sid, reference="REN-A5", seats=2, until=until)
    assert arvato.renew_subscription(sid, reference="REN-A5", seats=2, until=until).paid_until \
        == until
    assert arvato_sim.state()["terms_provisioned"] == 1


def test_an_arvato_subscription_not_renewed_in_time_ends(
    arvato: ArvatoAdapter, arvato_sim: SimulatorHandle, reference_factory: Ref
) -> None:
    sid = _arvato_sub(arvato, reference_factory())
    ended = _control(arvato_sim, sid, "expire")
    assert ended["status"] == "ended"
    with pytest.raises(PermanentWholesalerError):
        arvato.renew_subscription(sid, reference="REN-A6", seats=2,
                                  until=add_months(datetime.fromisoformat(ended["paid_until"]), 12))
    assert arvato_sim.state()["terms_provisioned"] == 0


# -- Nexway: renewal happens at Nexway, the adapter confirms it -----------------------------------


def _nexway_sub(nexway: NexwayAdapter, reference: str, seats: int = 2) -> str:
    order = nexway.place_order(SupplierOrderRequest(reference, SUBSCRIPTION_SKU["nexway"], seats))
    assert order.subscription_id is not None
    return order.subscription_id


def test_nexway_renewal_not_yet_made_is_pending_and_provisions_nothing(
    nexway: NexwayAdapter, nexway_sim: SimulatorHandle, reference_factory: Ref
) -> None:
    sid = _nexway_sub(nexway, reference_factory())
    until = add_months(_paid_until(nexway_sim, sid), 12)
    with pytest.raises(TemporaryWholesalerError) as caught:
        nexway.renew_subscription(sid, reference="REN-N1", seats=2, until=until)
    assert caught.value.code == "renewal_pending" and not caught.value.maybe_applied
    assert nexway_sim.state()["terms_provisioned"] == 0
    assert _held(nexway_sim, sid)["generation"] == 0


def test_nexway_renewal_is_confirmed_once_nexway_renewed(
    nexway: NexwayAdapter, nexway_sim: SimulatorHandle, reference_factory: Ref
) -> None:
    reference = reference_factory()
    sid = _nexway_sub(nexway, reference)
    until = add_months(_paid_until(nexway_sim, sid), 12)
    _control(nexway_sim, sid, "renew")  # Nexway's own renewal at the anniversary
    confirmed = nexway.renew_subscription(sid, reference="REN-N2", seats=2, until=until)
    assert (confirmed.status, confirmed.seats, confirmed.paid_until) == (Status.ACTIVE, 2, until)
    assert nexway.renew_subscription(sid, reference="REN-N2", seats=2, until=until) == confirmed
    state = nexway_sim.state()
    assert state["terms_provisioned"] == 1 and state["subscriptions"][sid]["generation"] == 1
    assert state["subscriptions"][sid]["changes"] == {}  # same seats: nothing sent but look-ups
    renewal = nexway.fetch_order(f"{reference}-1")  # documented: the term's partnerOrderNumber
    assert renewal is not None and renewal.subscription_id == sid
    assert renewal.status.value == "delivered" and len(renewal.items) == 2


def test_nexway_renews_by_itself_upon_expiry(nexway: NexwayAdapter, nexway_sim: SimulatorHandle,
                                             reference_factory: Ref) -> None:
    sid = _nexway_sub(nexway, reference_factory())
    _control(nexway_sim, sid, "expire")
    found = nexway.get_subscription(sid)
    assert found.status is Status.ACTIVE and _held(nexway_sim, sid)["generation"] == 1
    assert found.paid_until is not None and found.paid_until > datetime.now(found.paid_until.tzinfo)


def test_nexway_renewal_for_other_seats_changes_them_once_even_after_a_timeout(
    nexway: NexwayAdapter, nexway_sim: SimulatorHandle, reference_factory: Ref
) -> None:
    sid = _nexway_sub(nexway, reference_factory())
    until = add_months(_paid_until(nexway_sim, sid), 12)
    _control(nexway_sim, sid, "renew")
    nexway_sim.configure(timeout_next_n=1, timeout_ms=1500, fault_scope=["change_subscription"])
    confirmed = nexway.renew_subscription(sid, reference="REN-N3", seats=4, until=until)
    assert confirmed.seats == 4
    assert nexway.renew_subscription(sid, reference="REN-N3", seats=4, until=until) == confirmed
    state = nexway_sim.state()
    assert state["subscriptions"][sid]["changes"] == {"REN-N3": 4}
    assert state["requests"]["change_subscription"] == 2
    assert state["terms_provisioned"] == 1


def test_nexway_look_up_retried_after_5xx(nexway: NexwayAdapter, nexway_sim: SimulatorHandle,
                                          reference_factory: Ref, attempts: int) -> None:
    sid = _nexway_sub(nexway, reference_factory())
    until = add_months(_paid_until(nexway_sim, sid), 12)
    _control(nexway_sim, sid, "renew")
    nexway_sim.configure(fail_next_n=attempts - 1, fault_scope=["get_subscription"])
    assert nexway.renew_subscription(sid, reference="REN-N4", seats=2, until=until).paid_until \
        == until
    nexway_sim.configure(fail_next_n=attempts, fault_scope=["get_subscription"])
    with pytest.raises(TemporaryWholesalerError):
        nexway.renew_subscription(sid, reference="REN-N4", seats=2, until=until)
    assert nexway_sim.state()["terms_provisioned"] == 1


def test_nexway_term_renewed_before_a_cancellation_is_still_confirmed(
    nexway: NexwayAdapter, nexway_sim: SimulatorHandle, reference_factory: Ref
) -> None:
    sid = _nexway_sub(nexway, reference_factory())
    until = add_months(_paid_until(nexway_sim, sid), 12)
    _control(nexway_sim, sid, "renew")
    nexway.cancel_subscription(sid)
    confirmed = nexway.renew_subscription(sid, reference="REN-N5", seats=2, until=until)
    assert (confirmed.status, confirmed.paid_until) == (Status.CANCELLED, until)
    with pytest.raises(PermanentWholesalerError):  # but no term after it
        nexway.renew_subscription(sid, reference="REN-N6", seats=2, until=add_months(until, 12))


def test_nexway_subscription_wire(nexway: NexwayAdapter, nexway_sim: SimulatorHandle,
                                  reference_factory: Ref) -> None:
    """What the ASSUMED Connect routes receive: the change's body, the cancel's."""
    sid = _nexway_sub(nexway, reference_factory())
    nexway.change_subscription(sid, reference="CHG-N1", seats=3)
    nexway.cancel_subscription(sid)
    requests = nexway_sim.state()["requests"]
    assert requests["change_subscription"] == 1 and requests["cancel_subscription"] == 1
    held = _held(nexway_sim, sid)
    assert held["changes"] == {"CHG-N1": 3} and held["status"] == "cancelled"


def test_nexway_units_naming_different_subscriptions_are_malformed(
    nexway: NexwayAdapter, nexway_sim: SimulatorHandle, reference_factory: Ref
) -> None:
    reference = reference_factory()
    _nexway_sub(nexway, reference)
    order = nexway_sim.simulator.orders[reference]
    document = nexway_sim.simulator.order_document(nexway_sim.simulator.present_order(order))
    units = document["orderLines"][0]["lineItems"]
    units[1]["subscriptionId"] = "another"
    with pytest.raises(MalformedAnswer, match="different subscriptions"):
        read_order(document, reference, None)
    for wrong in ({"id": "x"}, 123, "with space", "x" * 121):
        units[1]["subscriptionId"] = wrong
        with pytest.raises(MalformedAnswer, match="subscriptionId"):
            read_order(document, reference, None)
