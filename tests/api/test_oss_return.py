"""The quarterly OSS return: consumer sales to other member states per merchant, state and
rate, refunds deducted in their own quarter; from the command line and the back office."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime

from api_support import order_body

from commerce.models import MerchantOfRecord, Order, Refund, RefundStatus

QUARTER = "2026-Q4"


def _order(api, key, **buyer):
    body = order_body()
    body["buyer"] |= buyer
    response = api("POST", "/orders", key, body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _sales(app, api, catalogue, db, vies):
    app.config["PLATFORM_VAT_NUMBER"] = "FR40303265045"
    catalogue.b.merchant_of_record = MerchantOfRecord.PARTNER
    db.session.commit()
    paid = datetime(2026, 11, 15, 12, tzinfo=UTC)
    german = [_order(api, catalogue.key_a, billing_country="DE") for _ in range(2)]
    _order(api, catalogue.key_a, billing_country="AT")
    _order(api, catalogue.key_a)  # French: the French return
    _order(api, catalogue.key_a, company="Müller GmbH", vat_number="DE136695976",
           billing_country="DE", billing_address={"line1": "Hauptstraße 1",
                                                  "postcode": "10115", "city": "Berlin"})
    _order(api, catalogue.key_b, billing_country="DE")  # partner b sells in its own name
    earlier = _order(api, catalogue.key_a, billing_country="DE")
    for order in db.session.query(Order).all():
        order.paid_at = paid
    db.session.get(Order, uuid.UUID(earlier["id"])).paid_at = datetime(2026, 9, 30, 21, 59,
                                                                         tzinfo=UTC)
    refunded = db.session.get(Order, uuid.UUID(german[0]["id"]))
    db.session.add(Refund(order_id=refunded.id, sequence=1, amount_cents=5950,
                          idempotency_key=f"oss-test-{refunded.id}",
                          status=RefundStatus.SUCCEEDED, previous_status="paid",
                          completed_at=datetime(2026, 12, 1, tzinfo=UTC)))
    db.session.commit()


def test_the_return_sums_consumer_sales_abroad_per_merchant_state_and_rate(
        app, api, catalogue, db, handed_off, vies, runner, tmp_path):
    _sales(app, api, catalogue, db, vies)
    result = runner.invoke(args=["vat", "oss-return", QUARTER])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    got = {(r["merchant"], r["country"], r["vat_rate"]): r for r in rows}
    assert set(got) == {("platform", "AT", "20.00"), ("platform", "DE", "19.00"),
                        ("channel-b", "DE", "19.00")}
    de = got[("platform", "DE", "19.00")]
    # Two sales of 137,84 € (115,83 € + 22,01 € VAT each), less a refund of 59,50 € (9,50 VAT).
    assert (de["taxable_amount"], de["vat_amount"]) == ("181.66", "34.52")
    assert (de["sales"], de["refunds"]) == ("2", "1")
    assert got[("platform", "AT", "20.00")]["taxable_amount"] == "115.83"
    b = got[("channel-b", "DE", "19.00")]
    # 125,00 € at 20 % in France: 104,17 € before VAT, 123,96 € with German VAT.
    assert (b["taxable_amount"], b["vat_amount"]) == ("104.17", "19.79")

    only_b = runner.invoke(args=["vat", "oss-return", QUARTER, "--merchant", "channel-b"])
    assert [r["merchant"] for r in csv.DictReader(io.StringIO(only_b.output))] == ["channel-b"]
    target = tmp_path / "oss.csv"
    written = runner.invoke(args=["vat", "oss-return", QUARTER, "--output", str(target)])
    assert written.exit_code == 0 and target.read_text().startswith("merchant,quarter")
    assert runner.invoke(args=["vat", "oss-return", "2026-Q3"]).output.count("\n") == 2


def test_bad_quarters_and_merchants_are_refused(app, runner, db):
    for args in (["vat", "oss-return", "2026-Q5"], ["vat", "oss-return", "Q4-2026"],
                 ["vat", "oss-return", "9999-Q4"], ["vat", "oss-return", "0000-Q1"],
                 ["vat", "oss-return", "2026-Q4", "--merchant", "nobody"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 2 and "Error" in result.output


def test_the_back_office_shows_and_downloads_the_return(
        app, api, catalogue, db, handed_off, vies, sign_in_operator):
    _sales(app, api, catalogue, db, vies)
    staff = app.test_client()
    sign_in_operator(staff)
    page = staff.get(f"/admin/vat/oss?quarter={QUARTER}&lang=en")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "channel-b" in html and "181.66" in html
    download = staff.get(f"/admin/vat/oss?quarter={QUARTER}&format=csv")
    assert download.mimetype == "text/csv" and b"platform,2026-Q4,DE,19.00" in download.data
    assert "oss-2026-Q4.csv" in download.headers["Content-Disposition"]
    assert staff.get("/admin/vat/oss?quarter=2026-Q9").status_code == 400
    assert staff.get("/admin/vat/oss?merchant=nobody").status_code == 400
    assert app.test_client().get("/admin/vat/oss").status_code in (302, 404)


def test_a_sale_stays_with_the_merchant_its_invoice_names(
        app, api, catalogue, db, vies, runner):
    """Partner b sold in its own name, then handed selling to the platform: its past sales stay
    its own in the return."""
    catalogue.b.merchant_of_record = MerchantOfRecord.PARTNER
    db.session.commit()
    body = order_body()
    body["buyer"] |= {"billing_country": "DE"}
    assert api("POST", "/orders", catalogue.key_b, body).status_code == 201
    catalogue.b.merchant_of_record = MerchantOfRecord.PLATFORM
    db.session.commit()
    rows = list(csv.DictReader(io.StringIO(
        runner.invoke(args=["vat", "oss-return", QUARTER]).output)))
    assert [r["merchant"] for r in rows] == ["channel-b"]
