"""Attribution precedence inside one network, and buyers attached to their reseller."""

from __future__ import annotations

from commission_helpers import at

from commerce.orders import BuyerDetails, LineRequest, place_order
from commissions import (
    accrue_for_order,
    attach_client,
    attribute_order,
    attribution_for,
    set_client_reseller,
)
from commissions.attribution import attached_reseller
from commissions.models import AttributionRule


def _pending(network, email="client@example.com", source="shop"):  # type: ignore[no-untyped-def]
    order = place_order(network, [LineRequest("OFFICE-HOME-2024-WIN", 1)],
                           BuyerDetails(email=email, name="Client"), source=source)
    return order


def test_typed_code_beats_cookie_and_attached_client(db, network, make_reseller, sell):
    typed, cookie, attached = (make_reseller(network, code=c) for c in ("RP-AAAA", "RP-BBBB",
                                                                         "RP-CCCC"))
    sell(network, [("OFFICE-HOME-2024-WIN", 1)], code="RP-CCCC")
    attach_client(sell(network, [("OFFICE-HOME-2024-WIN", 1)], code="RP-CCCC").id)
    result = attribute_order(_pending(network), reseller_code=" rp-aaaa ", cookie_code="RP-BBBB")
    assert (result.reseller.id, result.rule) == (typed.id, AttributionRule.CODE)
    assert cookie.id != typed.id != attached.id


def test_cookie_beats_attached_client(db, network, make_reseller, sell):
    cookie = make_reseller(network, code="RP-BBBB")
    make_reseller(network, code="RP-CCCC")
    attach_client(sell(network, [("OFFICE-HOME-2024-WIN", 1)], code="RP-CCCC").id)
    result = attribute_order(_pending(network), cookie_code="RP-BBBB")
    assert (result.reseller.id, result.rule) == (cookie.id, AttributionRule.COOKIE)


def test_attached_client_credits_later_orders(db, network, make_reseller, sell):
    reseller = make_reseller(network, code="RP-CCCC")
    first = sell(network, [("OFFICE-HOME-2024-WIN", 1)], email="Marie@Example.com ", code="RP-CCCC")
    accrue_for_order(first.id, now=at(3, 1))  # delivery attaches the buyer too
    client = attached_reseller(network.id, "marie@example.com")
    assert client and client.reseller_id == reseller.id and client.rule == "code"
    later = _pending(network, email="marie@example.com")
    result = attribute_order(later)
    assert (result.reseller.id, result.rule) == (reseller.id, AttributionRule.ATTACHED_CLIENT)


def test_another_networks_code_is_ignored_with_a_reason(db, make_network, make_reseller, sell):
    ours, theirs = make_network(), make_network()
    make_reseller(theirs, code="RP-THEM")
    cookie = make_reseller(ours, code="RP-OURS")
    order = _pending(ours)
    result = attribute_order(order, reseller_code="RP-THEM", cookie_code="RP-OURS")
    assert (result.reseller.id, result.rule) == (cookie.id, AttributionRule.COOKIE)
    assert result.notes == ("code 'RP-THEM' ignored: not a reseller of this network",)
    db.session.commit()
    assert attribution_for(order.id).note == result.notes[0]


def test_unknown_or_inactive_codes_leave_the_order_unattributed(db, network, make_reseller):
    sleeping = make_reseller(network, code="RP-ZZZZ")
    sleeping.active = False
    db.session.commit()
    order = _pending(network)
    result = attribute_order(order, reseller_code="RP-NOPE", cookie_code="RP-ZZZZ")
    assert result.reseller is None and result.rule is None
    assert result.notes == ("code 'RP-NOPE' ignored: not a reseller of this network",
                            "cookie 'RP-ZZZZ' ignored: reseller inactive")
    db.session.commit()
    assert attribution_for(order.id) is None


def test_assisted_cart_and_api_orders_record_their_rule(db, network, make_reseller):
    helper = make_reseller(network, code="RP-HELP")
    make_reseller(network, code="RP-TYPE")
    assisted = attribute_order(_pending(network), reseller_code="RP-TYPE", assisted_by="RP-HELP")
    assert (assisted.reseller.id, assisted.rule) == (helper.id, AttributionRule.ASSISTED)
    api = attribute_order(_pending(network, source="api"), reseller_code="RP-TYPE", source="api")
    assert api.rule == AttributionRule.API


def test_attribution_is_recorded_once(db, network, make_reseller):
    first = make_reseller(network, code="RP-AAAA")
    make_reseller(network, code="RP-BBBB")
    order = _pending(network)
    attribute_order(order, reseller_code="RP-AAAA")
    db.session.commit()
    again = attribute_order(order, reseller_code="RP-BBBB")
    assert again.reseller.id == first.id and attribution_for(order.id).rule == "code"


def test_attachment_sticks_until_changed_by_the_operator(db, network, make_reseller, sell):
    first = make_reseller(network, code="RP-AAAA")
    second = make_reseller(network, code="RP-BBBB")
    attach_client(sell(network, [("OFFICE-HOME-2024-WIN", 1)], code="RP-AAAA").id)
    # A later order through another reseller credits that one, but does not move the client.
    other = sell(network, [("OFFICE-HOME-2024-WIN", 1)], code="RP-BBBB")
    assert attach_client(other.id).reseller_id == first.id
    moved = set_client_reseller(network.id, "client@example.com", "RP-BBBB", "operateur")
    assert moved.reseller_id == second.id and moved.changed_by == "operateur"
    assert attribute_order(_pending(network)).reseller.id == second.id
    assert set_client_reseller(network.id, "client@example.com", None, "client") is None
    assert attribute_order(_pending(network)).reseller is None


def test_unpaid_orders_attach_no_one(db, network, make_reseller, sell):
    make_reseller(network, code="RP-AAAA")
    pending = sell(network, [("OFFICE-HOME-2024-WIN", 1)], code="RP-AAAA", paid=False)
    assert attach_client(pending.id) is None
    assert attached_reseller(network.id, "client@example.com") is None


def test_attribution_window_comes_from_the_programme(db, network, make_partner):
    from datetime import timedelta

    from commissions import attribution_window

    assert attribution_window(network.id) == timedelta(days=30)
    assert attribution_window(make_partner().id) is None
