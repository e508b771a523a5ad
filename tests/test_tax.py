"""The VAT rules (commerce/tax.py), the rates table, and the VIES client against the local
VIES over HTTP (commerce/vies.py, commerce/vies_simulator.py)."""

from __future__ import annotations

import json
import threading
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from commerce import tax, vies
from commerce.models import TaxTreatment


def test_the_table_holds_the_27_member_states_with_its_source():
    assert len(tax.eu_countries()) == 27 and "GB" not in tax.eu_countries()
    assert "European Commission" in tax.rates_source()


@pytest.mark.parametrize("country, day, rate", [
    ("FR", date(2026, 12, 1), "20.00"),
    ("DE", date(2026, 12, 1), "19.00"),
    ("HU", date(2026, 12, 1), "27.00"),
    ("EE", date(2025, 6, 30), "22.00"),  # dated: the rate changes on 1 July 2025
    ("EE", date(2025, 7, 1), "24.00"),
    ("FI", date(2024, 8, 31), "24.00"),
    ("FI", date(2024, 9, 1), "25.50"),
    ("LU", date(2023, 6, 1), "16.00"),
])
def test_each_state_has_its_standard_rate_on_each_day(country, day, rate):
    assert tax.standard_rate(country, day) == Decimal(rate)


@pytest.mark.parametrize("country", ["US", "GB", "XX", ""])
def test_a_country_outside_the_eu_is_refused(country):
    with pytest.raises(tax.TaxError) as caught:
        tax.standard_rate(country)
    assert caught.value.field == "billing_country"


def test_prices_keep_the_price_before_vat_from_one_country_to_the_next():
    assert tax.price_for(13900, Decimal("20"), Decimal("20")) == 13900
    assert tax.price_for(13900, Decimal("20"), Decimal("19")) == 13784
    assert tax.price_for(13900, Decimal("20"), Decimal("27")) == 14711
    assert tax.price_for(13900, Decimal("20"), Decimal("0")) == 11583


def test_vat_numbers_are_compacted_and_checked_against_the_billing_country():
    assert tax.clean_vat_number(" de 136 695 976 ", "DE") == "DE136695976"
    assert tax.clean_vat_number("", "DE") == ""
    assert tax.vat_prefix("GR") == "EL"
    assert tax.clean_vat_number("EL094259216", "GR") == "EL094259216"
    for number, country in (("DE136695977", "DE"), ("FR40303265045", "DE"), ("12", "FR"),
                            ("EL094259216", "DE")):
        with pytest.raises(tax.TaxError):
            tax.clean_vat_number(number, country)


def test_who_pays_which_vat():
    french_business = tax.decide("FR", vat_number="FR40303265045", vat_number_valid=True)
    assert (french_business.treatment, french_business.rate) == (TaxTreatment.STANDARD,
                                                                 Decimal("20.00"))
    consumer = tax.decide("DE")
    assert (consumer.treatment, consumer.country, consumer.rate) == (
        TaxTreatment.STANDARD, "DE", Decimal("19.00"))
    unconfirmed = tax.decide("DE", vat_number="DE136695976", vat_number_valid=False)
    assert unconfirmed.rate == Decimal("19.00")
    business = tax.decide("DE", vat_number="DE136695976", vat_number_valid=True)
    assert business.reverse_charge and business.rate == 0 and business.country == "DE"


@pytest.mark.parametrize("billing, ip, card, conflict", [
    ("DE", None, None, False),  # one piece only: thin, not contradictory
    ("DE", "DE", None, False),
    ("DE", None, "DE", False),
    ("DE", "FR", "DE", False),  # one agrees: two pieces agree
    ("DE", "FR", None, True),
    ("DE", "FR", "FR", True),
    ("DE", "fr", "AT", True),
])
def test_location_evidence_contradicts_only_when_nothing_agrees(billing, ip, card, conflict):
    assert tax.location_conflict(billing, ip, card) is conflict


def test_vies_answers_valid_with_a_consultation_number(vies_server, vies):
    found = vies_check("DE136695976", vies_server.url, requester="FR40303265045")
    assert found.status == "valid" and found.reference.startswith("WAPI")
    assert vies_check("DE136695976", vies_server.url).reference is None  # no requester


def test_vies_unregistered_down_or_unreachable(vies_server, vies):
    vies.unregistered.add("DE136695976")
    assert vies_check("DE136695976", vies_server.url).status == "invalid"
    vies.down.add("DE")
    down = vies_check("DE136695976", vies_server.url)
    assert down.status == "unavailable" and down.detail == "MS_UNAVAILABLE"
    assert vies_check("DE136695976", "http://127.0.0.1:9").status == "unavailable"


@pytest.mark.parametrize("status, body", [
    (500, {"actionSucceed": False, "errorWrappers": [{"error": "SERVICE_UNAVAILABLE"}]}),
    (200, {"valid": "yes"}),
    (200, {"valid": False, "userError": "INVALID_REQUESTER_INFO"}),  # our own number is wrong
    (200, {"valid": False, "userError": "SOMETHING_NEW"}),
    (200, ["not", "an", "object"]),
    (200, "<html>maintenance</html>"),
    (302, {}),
])
def test_a_vies_answer_that_cannot_be_read_is_unavailable_never_valid(status, body):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert vies_check("DE136695976", url).status == "unavailable"
    finally:
        server.shutdown()
        server.server_close()


def vies_check(number: str, url: str, requester: str = "") -> vies.ViesAnswer:
    return vies.check(number, base_url=url, requester=requester, timeout=2.0)
