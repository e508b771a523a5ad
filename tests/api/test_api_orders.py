"""POST and GET /api/v1/orders: paid on creation, priced from the database, partner-scoped."""

from __future__ import annotations

import json
import uuid

import pytest
from api_support import order_body
from sqlalchemy import select

from commerce.models import (
    FulfilmentStatus,
    Order,
    OrderLine,
    PaymentStatus,
    ProcessedEvent,
    StatusChange,
)
from partner_api.models import ApiIdempotency, ApiOrder


def test_order_is_created_paid_and_handed_to_fulfilment(api, catalogue, db, handed_off):
    body = order_body({"product": "OFFICE-HOME-2024-WIN", "quantity": 2},
                      {"product": "WIN11-PRO", "quantity": 1})
    response = api("POST", "/orders", catalogue.key_a, body)
    assert response.status_code == 201, response.get_json()
    data = response.get_json()

    order = db.session.get(Order, uuid.UUID(data["id"]))
    assert order.partner_id == catalogue.a.id
    assert order.source == "api" and order.gateway == "partner"
    assert order.payment_status == PaymentStatus.PAID and order.paid_at is not None
    assert order.fulfilment_status == FulfilmentStatus.AWAITING
    assert order.total_cents == 2 * 13900 + 25900
    assert order.email == "camille@example.com"
    assert handed_off == [order.id]
    assert db.session.get(ProcessedEvent, f"partner:api:{order.id}") is not None
    changes = {(c.field, c.from_status, c.to_status) for c in order.history}
    assert changes == {("payment", "pending_payment", "paid"),
                       ("fulfilment", "unfulfilled", "awaiting_fulfilment")}

    assert data["number"] == order.number
    assert data["payment_status"] == "paid" and data["fulfilment_status"] == "awaiting_fulfilment"
    assert data["total_cents"] == 53700 and data["currency"] == "EUR"
    assert data["vat_cents"] == order.vat_cents and data["net_cents"] == 53700 - order.vat_cents
    office, windows = data["lines"]
    assert office["product"] == "OFFICE-HOME-2024-WIN" and office["quantity"] == 2
    assert office["unit_price_cents"] == 13900 and office["total_cents"] == 27800
    assert office["vat_rate"] == "20.00" and office["vat_cents"] == 4633
    assert office["addons"] == [] and office["backup"] is None and office["units"] == []
    assert windows["total_with_addons_cents"] == 25900


def test_totals_never_come_from_the_body(api, catalogue, count):
    body = order_body({"product": "OFFICE-HOME-2024-WIN", "quantity": 1, "price_cents": 1})
    response = api("POST", "/orders", catalogue.key_a, body)
    assert response.status_code == 400
    assert response.get_json()["error"]["details"]["field"] == "lines[0].price_cents"
    assert count(Order) == 0


def test_backup_flag_adds_the_backup_addon(api, catalogue, db, handed_off):
    body = order_body({"product": "OFFICE-HOME-2024-WIN", "quantity": 2, "backup": True},
                      {"product": "WIN11-PRO", "quantity": 1, "install": True})
    data = api("POST", "/orders", catalogue.key_a, body).get_json()
    office, windows = data["lines"]
    assert [a["product"] for a in office["addons"]] == ["ADDON-BACKUP-2Y"]
    assert office["addons"][0]["quantity"] == 2 and office["addons"][0]["total_cents"] == 1980
    assert office["backup"] == {"status": "pending", "expires_at": None}
    assert office["total_with_addons_cents"] == 27800 + 1980
    assert [a["product"] for a in windows["addons"]] == ["ADDON-INSTALL"]
    assert windows["backup"] is None
    assert data["total_cents"] == 27800 + 1980 + 25900 + 2900
    order = db.session.get(Order, uuid.UUID(data["id"]))
    assert order.total_cents == data["total_cents"]
    assert order.product_lines[0].has_addon("ADDON-BACKUP-2Y")


def test_backup_at_the_partners_price(api, catalogue):
    body = order_body({"product": "OFFICE-HOME-2024-WIN", "quantity": 1, "backup": True})
    data = api("POST", "/orders", catalogue.key_b, body).get_json()
    assert data["lines"][0]["addons"][0]["unit_price_cents"] == 500
    assert data["total_cents"] == 12500 + 500


def test_partner_with_backup_by_default_gets_it_unless_declined(api, catalogue, db, handed_off):
    catalogue.a.backup_by_default = True
    db.session.commit()
    default = api("POST", "/orders", catalogue.key_a, order_body()).get_json()
    assert [a["product"] for a in default["lines"][0]["addons"]] == ["ADDON-BACKUP-2Y"]
    declined = api("POST", "/orders", catalogue.key_a,
                   order_body({"product": "OFFICE-HOME-2024-WIN", "quantity": 1, "backup": False}))
    assert declined.get_json()["lines"][0]["addons"] == []


def test_backup_by_default_without_the_addon_on_sale_adds_nothing(api, make_partner, catalogue):
    from partner_api.keys import issue_api_key

    partner = make_partner(products=[catalogue.office], backup_by_default=True)
    response = api("POST", "/orders", issue_api_key(partner), order_body())
    assert response.status_code == 201 and response.get_json()["lines"][0]["addons"] == []


@pytest.mark.parametrize("flag", ["backup", "install"])
def test_addon_not_on_sale_is_refused(api, make_partner, catalogue, count, flag):
    from partner_api.keys import issue_api_key

    partner = make_partner(products=[catalogue.office])
    body = order_body({"product": "OFFICE-HOME-2024-WIN", "quantity": 1, flag: True})
    response = api("POST", "/orders", issue_api_key(partner), body)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "addon_not_offered" and error["details"]["field"] == f"lines[0].{flag}"
    assert count(Order) == 0


def test_reseller_code_is_kept_and_returned(api, catalogue, db, handed_off):
    response = api("POST", "/orders", catalogue.key_a, order_body(reseller_code="rp-7k3m"))
    data = response.get_json()
    assert data["reseller_code"] == "RP-7K3M"
    assert db.session.get(ApiOrder, uuid.UUID(data["id"])).reseller_code == "RP-7K3M"
    read = api("GET", f"/orders/{data['id']}", catalogue.key_a).get_json()
    assert read["reseller_code"] == "RP-7K3M"


def test_buyer_details_and_locale_are_kept(api, catalogue, db, handed_off, vies):
    body = order_body(locale="en")
    body["buyer"] |= {"company": "Acme SPRL", "vat_number": "be 0403.170.701",
                      "billing_country": "BE",
                      "billing_address": {"line1": "Rue Haute 1", "postcode": "1000",
                                          "city": "Bruxelles"}}
    data = api("POST", "/orders", catalogue.key_a, body).get_json()
    assert data["buyer"] == {"email": "camille@example.com", "name": "Camille Martin",
                             "company": "Acme SPRL", "vat_number": "BE0403170701",
                             "billing_country": "BE",
                             "billing_address": {"line1": "Rue Haute 1", "postcode": "1000",
                                                 "city": "Bruxelles"}}
    assert data["tax"]["treatment"] == "reverse_charge" and data["tax"]["country"] == "BE"
    assert data["vat_cents"] == 0
    assert data["locale"] == "en"


def _error(response) -> dict:
    assert response.is_json, response.data
    return response.get_json()["error"]


BAD_BODIES = [
    ("unknown product", order_body({"product": "NOPE", "quantity": 1}),
     422, "unknown_product", "lines[0].product"),
    ("another partner's product", order_body({"product": "VISIO-STD-2024", "quantity": 1}),
     422, "unknown_product", "lines[0].product"),
    ("an add-on as a product", order_body({"product": "ADDON-INSTALL", "quantity": 1}),
     422, "unknown_product", "lines[0].product"),
    ("second line unknown", order_body({"product": "WIN11-PRO", "quantity": 1},
                                       {"product": "NOPE", "quantity": 1}),
     422, "unknown_product", "lines[1].product"),
    ("quantity 0", order_body({"product": "WIN11-PRO", "quantity": 0}),
     400, "invalid_request", "lines[0].quantity"),
    ("quantity 11", order_body({"product": "WIN11-PRO", "quantity": 11}),
     400, "invalid_request", "lines[0].quantity"),
    ("quantity as text", order_body({"product": "WIN11-PRO", "quantity": "2"}),
     400, "invalid_request", "lines[0].quantity"),
    ("backup not a boolean", order_body({"product": "WIN11-PRO", "quantity": 1, "backup": "yes"}),
     400, "invalid_request", "lines[0].backup"),
    ("no lines", order_body() | {"lines": []}, 400, "invalid_request", "lines"),
    ("21 lines", order_body(*[{"product": "WIN11-PRO", "quantity": 1}] * 21),
     400, "invalid_request", "lines"),
    ("missing buyer email", order_body() | {"buyer": {"name": "Camille"}},
     400, "invalid_request", "buyer.email"),
    ("malformed buyer email", order_body() | {"buyer": {"name": "C", "email": "camille@"}},
     400, "invalid_request", "buyer.email"),
    ("blank buyer name", order_body() | {"buyer": {"name": "  ", "email": "c@example.com"}},
     400, "invalid_request", "buyer.name"),
    ("missing buyer", {"lines": [{"product": "WIN11-PRO", "quantity": 1}]},
     400, "invalid_request", "buyer"),
    ("lowercase country", order_body() | {"buyer": {"name": "C", "email": "c@example.com",
                                                    "billing_country": "fr"}},
     400, "invalid_request", "buyer.billing_country"),
    ("unknown top-level field", order_body(total_cents=1), 400, "invalid_request", "total_cents"),
    ("unknown buyer field", order_body() | {"buyer": {"name": "C", "email": "c@example.com",
                                                      "phone": "0600000000"}},
     400, "invalid_request", "buyer.phone"),
    ("unknown locale", order_body(locale="de"), 400, "invalid_request", "locale"),
    ("reseller code with spaces", order_body(reseller_code="RP 7K3M"),
     400, "invalid_request", "reseller_code"),
    ("body is a list", [order_body()], 400, "invalid_request", None),
]


@pytest.mark.parametrize(("label", "body", "status", "code", "field"), BAD_BODIES,
                         ids=[b[0] for b in BAD_BODIES])
def test_bad_order_is_refused_and_nothing_is_created(api, catalogue, count, handed_off,
                                                     label, body, status, code, field):
    response = api("POST", "/orders", catalogue.key_a, body, headers={"Idempotency-Key": "k-1"})
    assert response.status_code == status, response.get_json()
    error = _error(response)
    assert error["code"] == code and error["message"]
    assert error.get("details", {}).get("field") == field
    assert count(Order) == 0 and count(OrderLine) == 0 and count(ApiIdempotency) == 0
    assert handed_off == []


@pytest.mark.parametrize(("data", "content_type", "status", "code"), [
    (b'{"lines": [', "application/json", 400, "malformed_json"),
    (b"", "application/json", 400, "malformed_json"),
    (b'{"lines": NaN}', "application/json", 400, "malformed_json"),
    (b"\xff\xfe{}", "application/json", 400, "malformed_json"),
    (b'{"lines": []}', "text/plain", 415, "unsupported_media_type"),
    (b"lines=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
])
def test_unreadable_body_is_refused(api, catalogue, count, data, content_type, status, code):
    response = api("POST", "/orders", catalogue.key_a, data=data, content_type=content_type)
    assert response.status_code == status
    assert _error(response)["code"] == code
    assert count(Order) == 0


def test_oversized_body_is_refused(api, catalogue, count):
    body = order_body()
    body["buyer"]["company"] = "x" * (65 * 1024)
    response = api("POST", "/orders", catalogue.key_a, body)
    assert response.status_code == 413 and _error(response)["code"] == "payload_too_large"
    assert count(Order) == 0


@pytest.mark.parametrize("key", [None, "cpk_test_" + "z" * 32, "not-a-key"])
def test_order_without_a_valid_key_is_401(api, catalogue, count, key):
    response = api("POST", "/orders", key, order_body())
    assert response.status_code == 401 and _error(response)["code"] == "unauthorized"
    assert count(Order) == 0


def test_revoked_key_cannot_order(api, catalogue, count, db):
    from partner_api.keys import list_api_keys, revoke_api_key

    revoke_api_key(catalogue.a, list_api_keys(catalogue.a)[0].id)
    response = api("POST", "/orders", catalogue.key_a, order_body())
    assert response.status_code == 401
    assert count(Order) == 0


def test_key_is_checked_before_the_body(api, catalogue):
    response = api("POST", "/orders", None, data=b"{", content_type="application/json")
    assert response.status_code == 401


def test_owner_reads_its_order(api, catalogue, handed_off):
    created = api("POST", "/orders", catalogue.key_a, order_body(
        {"product": "OFFICE-HOME-2024-WIN", "quantity": 1, "backup": True})).get_json()
    response = api("GET", f"/orders/{created['id']}", catalogue.key_a)
    assert response.status_code == 200
    assert response.get_json() == created


def test_another_partner_cannot_read_the_order(api, catalogue, handed_off):
    created = api("POST", "/orders", catalogue.key_a, order_body()).get_json()
    response = api("GET", f"/orders/{created['id']}", catalogue.key_b)
    assert response.status_code == 404 and _error(response)["code"] == "not_found"
    assert api("GET", f"/orders/{uuid.uuid4()}", catalogue.key_a).status_code == 404
    assert api("GET", "/orders/12", catalogue.key_a).status_code == 404
    assert api("GET", f"/orders/{created['id']}").status_code == 401


def test_shop_orders_of_the_partner_are_readable_too(api, catalogue, db):
    from commerce.orders import BuyerDetails, LineRequest, place_order

    order = place_order(catalogue.a, [LineRequest("WIN11-PRO", 1)],
                           BuyerDetails("c@example.com", "Camille"))
    db.session.commit()
    data = api("GET", f"/orders/{order.id}", catalogue.key_a).get_json()
    assert data["source"] == "shop" and data["payment_status"] == "pending_payment"
    assert data["reseller_code"] is None and data["paid_at"] is None


def test_delivered_backup_shows_its_status_and_expiry(api, catalogue, db, handed_off):
    from datetime import UTC, datetime

    from backups.vault.models import Backup, BackupStatus

    created = api("POST", "/orders", catalogue.key_a, order_body(
        {"product": "OFFICE-HOME-2024-WIN", "quantity": 1, "backup": True})).get_json()
    expires = datetime(2028, 11, 2, 9, 30, tzinfo=UTC)
    db.session.add(Backup(partner="telco-a", order_line_ref=created["lines"][0]["id"],
                          buyer_ref="camille@example.com", status=BackupStatus.STORED,
                          object_key="k", sha256="0" * 64, size=1, expires_at=expires))
    db.session.commit()
    line = api("GET", f"/orders/{created['id']}", catalogue.key_a).get_json()["lines"][0]
    assert line["backup"] == {"status": "stored", "expires_at": "2028-11-02T09:30:00+00:00"}


def test_order_json_is_stored_as_sent(api, catalogue, db, handed_off):
    response = api("POST", "/orders", catalogue.key_a, order_body(),
                   headers={"Idempotency-Key": "stored"})
    record = db.session.scalar(select(ApiIdempotency))
    assert record.response_status == 201 and record.response_body == response.get_data(as_text=True)
    assert json.loads(record.response_body)["id"] == str(record.order_id)


def test_order_history_names_the_partner_gateway(api, catalogue, db, handed_off):
    data = api("POST", "/orders", catalogue.key_a, order_body()).get_json()
    actors = db.session.scalars(select(StatusChange.actor).where(
        StatusChange.order_id == uuid.UUID(data["id"]))).all()
    assert set(actors) == {"gateway:partner"}


def test_delivered_line_shows_its_units(api, catalogue, db, handed_off):
    from datetime import UTC, datetime

    from fulfilment.delivery import issue_unit_licences, store_units
    from fulfilment.models import FulfilmentLine, LineStatus
    from fulfilment.wholesalers import DeliveredItem
    from licensing.keys import ensure_signing_key

    ensure_signing_key()
    created = api("POST", "/orders", catalogue.key_a, order_body(
        {"product": "OFFICE-HOME-2024-WIN", "quantity": 2},
        {"product": "WIN11-PRO", "quantity": 1})).get_json()
    office, windows = created["lines"]
    assert office["delivery_status"] is None and office["units"] == []
    order_id = uuid.UUID(created["id"])
    line = FulfilmentLine(order_id=order_id, order_line_id=uuid.UUID(office["id"]),
                          status=LineStatus.DELIVERED, wholesaler_code="nexway")
    db.session.add(line)
    db.session.add(FulfilmentLine(order_id=order_id, order_line_id=uuid.UUID(windows["id"]),
                                  wholesaler_code="nexway"))
    db.session.commit()
    until = datetime(2026, 12, 15, tzinfo=UTC)
    keys = ("AAAAA-BBBBB-CCCCC-DDDDD-EEEEE", "FFFFF-GGGGG-HHHHH-JJJJJ-KKKKK")
    store_units(line, tuple(DeliveredItem(k, f"https://dl.example/{i}", until)
                            for i, k in enumerate(keys)))
    issue_unit_licences(line)
    db.session.commit()  # what fulfilment's transaction does once the line is delivered

    office, windows = api("GET", f"/orders/{created['id']}", catalogue.key_a).get_json()["lines"]
    assert office["delivery_status"] == "delivered" and windows["delivery_status"] == "pending"
    assert windows["units"] == []
    assert [u["product_key"] for u in office["units"]] == list(keys)
    assert [u["unit"] for u in office["units"]] == [1, 2]
    first = office["units"][0]
    assert first["download_url"] == "https://dl.example/0"
    assert first["download_expires_at"] == "2026-12-15T00:00:00+00:00"
    assert first["licence_number"] and first["licence_token"].startswith("CPT1.")


def test_reseller_code_attributes_the_order_in_the_partners_network(
    api, catalogue, make_partner, handed_off
):
    from commissions import attribution_for, create_reseller

    reseller = create_reseller(catalogue.a, "Informatique Dupont", "dupont@example.com",
                               code="RP-DUPO")
    foreign = create_reseller(catalogue.b, "Other network", "other@example.com", code="RP-OTHR")
    ours = api("POST", "/orders", catalogue.key_a, order_body(reseller_code="rp-dupo")).get_json()
    theirs = api("POST", "/orders", catalogue.key_a, order_body(reseller_code=foreign.code))
    assert theirs.status_code == 201 and theirs.get_json()["reseller_code"] == "RP-OTHR"
    attribution = attribution_for(uuid.UUID(ours["id"]))
    assert attribution is not None and attribution.reseller_id == reseller.id
    assert str(attribution.rule) == "api"
    assert attribution_for(uuid.UUID(theirs.get_json()["id"])) is None


def test_creation_answer_never_holds_product_keys(api, app, catalogue, db, monkeypatch):
    """A worker delivers the order before the API has answered: the answer still holds no key."""
    from datetime import UTC, datetime

    import events.tasks
    from events.models import OutboxEvent
    from fulfilment.delivery import store_units
    from fulfilment.models import FulfilmentLine, LineStatus
    from fulfilment.wholesalers import DeliveredItem

    def deliver_at_once(event_ids) -> None:
        with app.app_context():  # the worker's own session
            for event in db.session.scalars(select(OutboxEvent).where(
                    OutboxEvent.id.in_(list(event_ids)), OutboxEvent.kind == "OrderPaid")):
                order = db.session.get(Order, event.order_id)
                line = FulfilmentLine(order_id=order.id, order_line_id=order.product_lines[0].id,
                                      status=LineStatus.DELIVERED, wholesaler_code="nexway")
                db.session.add(line)
                store_units(line, (DeliveredItem("AAAAA-BBBBB-CCCCC-DDDDD-EEEEE",
                                                 "https://dl.example/1",
                                                 datetime(2026, 12, 15, tzinfo=UTC)),))
                db.session.commit()

    monkeypatch.setattr(events.tasks, "relay_events", deliver_at_once)
    response = api("POST", "/orders", catalogue.key_a, order_body(),
                   headers={"Idempotency-Key": "eager"})
    assert response.status_code == 201
    assert response.get_json()["lines"][0]["delivery_status"] == "delivered"
    assert response.get_json()["lines"][0]["units"] == []
    assert "AAAAA-BBBBB" not in db.session.scalar(select(ApiIdempotency.response_body))
    read = api("GET", f"/orders/{response.get_json()['id']}", catalogue.key_a).get_json()
    assert read["lines"][0]["units"][0]["product_key"] == "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"


def test_a_partly_refunded_order_reads_as_such(api, catalogue, db, handed_off):
    """A partner-billed order refunded line by line: no gateway call, the API tells it."""
    from payments import refunds

    created = api("POST", "/orders", catalogue.key_a, order_body(
        {"product": "OFFICE-HOME-2024-WIN", "quantity": 1},
        {"product": "WIN11-PRO", "quantity": 1})).get_json()
    order = db.session.get(Order, uuid.UUID(created["id"]))
    first = next(line for line in order.lines if line.product_code == "WIN11-PRO")
    refund = refunds.refund_order(order.id, [first.id], "operator:support", "partner asked")
    assert refund.gateway_reference.startswith("partner-billed:")
    response = api("GET", f"/orders/{created['id']}", catalogue.key_a)
    assert response.status_code == 200
    assert response.get_json()["payment_status"] == "partially_refunded"
    refunds.refund_order(order.id, None, "operator:support", "the rest")
    assert api("GET", f"/orders/{created['id']}", catalogue.key_a).get_json()[
        "payment_status"] == "refunded"
