"""Explanations, CLI, the partner ledger API, the demo seed; one reseller's data kept apart."""

from __future__ import annotations

from decimal import Decimal

from commission_helpers import at, line_of
from sqlalchemy import select

from commerce.models import Role, User
from commerce.orders import ADDON_BACKUP
from commerce.passwords import check_password
from commissions import (
    accrue_for_delivery,
    accrue_for_order,
    add_promotion,
    clawback_for_line,
    clients_of,
    commissions_csv,
    explain_order,
    ledger_for,
    orders_of,
    reseller_by_code,
    run_payouts,
    seed_demo,
)
from partner_api.keys import issue_api_key


def _doubled_office_sale(network, make_reseller, sell):  # type: ignore[no-untyped-def]
    make_reseller(network, code="RP-7K3M", name="Dupont Informatique")
    add_promotion(network, "Marges arrière doublées", Decimal(2), at(3, 1), at(4, 1))
    order = sell(network, [("OFFICE-HOME-2024-WIN", 1, (ADDON_BACKUP,))], code="RP-7K3M")
    accrue_for_delivery(line_of(order, "OFFICE-HOME-2024-WIN").id, now=at(3, 10))
    return order


def test_explain_prints_rule_rate_and_arithmetic(db, network, make_reseller, sell):
    order = _doubled_office_sale(network, make_reseller, sell)
    clawback_for_line(line_of(order, ADDON_BACKUP).id, "backup refused", now=at(3, 11),
                      actor="operateur")
    text = "\n".join(explain_order(order.number, now=at(3, 11)))
    assert f"Order {order.number}" in text and "RP-7K3M Dupont Informatique" in text
    assert "attributed by rule code" in text
    assert ("accrual        +19.87 EUR  OFFICE-HOME-2024-WIN  rule perpetual.office  rate 16%"
            "  programme v2026-01-01  [accrued]") in text
    assert ("124.17 EUR net (VAT excluded) × 8% (office perpetual rate) × 2 (promotion: Marges"
            " arrière doublées) = 19.8672 EUR -> 19.87 EUR (rounded half-even)") in text
    assert "clawback        -4.95 EUR  ADDON-BACKUP-2Y  rule addon.backup  rate 60%" in text
    assert "reverses the accrual of 4.95 EUR made on 2026-03-10 (addon.backup)" in text
    assert "reason: backup refused (by operateur)" in text
    assert "net for the order: +19.87 EUR" in text


def test_explain_command(runner, db, network, make_reseller, sell):
    order = _doubled_office_sale(network, make_reseller, sell)
    result = runner.invoke(args=["commissions", "explain", order.number])
    assert result.exit_code == 0, result.output
    assert "rule perpetual.office  rate 16%" in result.output
    assert "825 " not in result.output and "8.25 EUR net (VAT excluded) × 30%" in result.output
    missing = runner.invoke(args=["commissions", "explain", "CPT-2026-999999"])
    assert missing.exit_code != 0 and "no order" in missing.output


def test_explain_an_unattributed_order(db, network, sell):
    order = sell(network, [("OFFICE-HOME-2024-WIN", 1)])
    assert "not attributed to a reseller" in explain_order(order.number)[0]


def test_payouts_run_command(runner, db, network, make_reseller, sell):
    make_reseller(network, code="RP-PAYE")
    accrue_for_order(sell(network, [("VISIO-STD-2024", 2)], code="RP-PAYE").id, now=at(3, 2))
    early = runner.invoke(args=["payouts", "run", "--now", "2026-03-03T10:00:00+00:00"])
    assert early.exit_code == 0 and "0 payout(s) made" in early.output
    result = runner.invoke(args=["payouts", "run", "--now", "2026-03-05T10:00:00+00:00"])
    assert result.exit_code == 0, result.output
    assert "RP-PAYE" in result.output and "96.50 EUR" in result.output
    naive = runner.invoke(args=["payouts", "run", "--now", "2026-03-05T10:00:00"])
    assert naive.exit_code != 0


def test_resellers_create_command_with_a_login(runner, db, network):
    result = runner.invoke(args=["resellers", "create", "--partner", network.slug, "--name",
                                 "Atelier du Marais", "--email", "Atelier@Example.com",
                                 "--code", "rp-mrai", "--password", "un mot de passe solide"])
    assert result.exit_code == 0, result.output
    reseller = reseller_by_code("RP-MRAI")
    user = db.session.get(User, reseller.user_id)
    assert (reseller.partner_id, user.role, user.email) == (network.id, Role.RESELLER,
                                                           "atelier@example.com")
    assert check_password(user.password_hash, "un mot de passe solide")
    again = runner.invoke(args=["resellers", "create", "--partner", network.slug, "--name", "X",
                                "--email", "x@example.com", "--code", "RP-MRAI"])
    assert again.exit_code != 0 and "taken" in again.output
    generated = runner.invoke(args=["resellers", "create", "--partner", network.slug, "--name",
                                    "Sans code", "--email", "s@example.com"])
    assert generated.exit_code == 0 and "RP-" in generated.output


def test_seed_demo_is_idempotent_and_gives_logins(db, network):
    first = seed_demo(network.slug, year=2026)
    second = seed_demo(network.slug, year=2026)
    assert first == second and len(first["resellers"]) == 2
    for login in first["resellers"]:
        user = db.session.scalar(select(User).where(User.email == login["email"]))
        assert user.role == Role.RESELLER and check_password(user.password_hash, login["password"])
        assert reseller_by_code(login["code"]).user_id == user.id
    programme = reseller_by_code(first["resellers"][0]["code"]).partner_id
    assert programme == network.id


def _two_networks(make_network, make_reseller, sell):  # type: ignore[no-untyped-def]
    ours, theirs = make_network(), make_network()
    make_reseller(ours, code="RP-AAAA")
    make_reseller(ours, code="RP-BBBB")
    make_reseller(theirs, code="RP-CCCC")
    orders = {}
    for partner, code, email in ((ours, "RP-AAAA", "a@example.com"),
                                 (ours, "RP-BBBB", "b@example.com"),
                                 (theirs, "RP-CCCC", "c@example.com")):
        orders[code] = sell(partner, [("VISIO-STD-2024", 1)], code=code, email=email)
        accrue_for_order(orders[code].id, now=at(3, 2))
    return ours, theirs, orders


def test_one_resellers_ledger_clients_and_orders_never_show_anothers(db, make_network,
                                                                     make_reseller, sell):
    ours, _, orders = _two_networks(make_network, make_reseller, sell)
    run_payouts(now=at(3, 10))
    ledger = ledger_for("RP-AAAA")
    assert {e.order_number for e in ledger.entries} == {orders["RP-AAAA"].number}
    assert {e.reseller_code for e in ledger.entries} == {"RP-AAAA"}
    a, b = reseller_by_code("RP-AAAA"), reseller_by_code("RP-BBBB")
    assert [c.email for c in clients_of(a)] == ["a@example.com"]
    assert [o.number for o in orders_of(b)] == [orders["RP-BBBB"].number]
    assert orders["RP-AAAA"].number not in commissions_csv("RP-BBBB")
    assert ledger_for("RP-BBBB").balances.payable == 4825
    assert ledger_for("RP-AAAA").balances.paid == 0


def test_ledger_api_serves_the_network_partner_only(client, db, make_network, make_reseller,
                                                    sell):
    ours, theirs, orders = _two_networks(make_network, make_reseller, sell)
    our_key, their_key = issue_api_key(ours, "test"), issue_api_key(theirs, "test")
    db.session.commit()

    response = client.get("/api/v1/resellers/RP-AAAA/ledger",
                          headers={"Authorization": f"Bearer {our_key}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["reseller"] == {"code": "RP-AAAA", "name": reseller_by_code("RP-AAAA").name}
    [entry] = body["entries"]
    assert (entry["order_number"], entry["amount_cents"], entry["rule"], entry["rate"]) == (
        orders["RP-AAAA"].number, 4825, "perpetual.visio", "0.1")
    assert "48250" not in entry["explanation"] and "482.50 EUR net" in entry["explanation"]
    assert body["balances"]["payable_cents"] + body["balances"]["accrued_cents"] == 4825

    other = client.get("/api/v1/resellers/RP-AAAA/ledger",
                       headers={"Authorization": f"Bearer {their_key}"})
    assert other.status_code == 404
    assert other.get_json()["error"]["code"] == "not_found"
    unknown = client.get("/api/v1/resellers/RP-NOPE/ledger",
                         headers={"Authorization": f"Bearer {our_key}"})
    assert unknown.status_code == 404
    anonymous = client.get("/api/v1/resellers/RP-AAAA/ledger")
    assert anonymous.status_code == 401 and anonymous.get_json()["error"]["code"] == "unauthorized"
