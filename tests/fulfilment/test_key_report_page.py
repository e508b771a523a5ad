"""A buyer reports a key as already activated from the order page: a page says what will
happen and asks for confirmation, and the order keeps a trace the buyer sees afterwards."""

from __future__ import annotations

from sqlalchemy import select

from fulfilment.delivery import line_deliveries
from fulfilment.models import DeliveredUnit, UnitStatus
from licensing.models import LicenceRecord


def test_the_order_page_offers_the_report_as_a_link_to_a_confirmation(client, delivered):
    order, unit = delivered
    page = client.get(f"/p/oem/orders/{order.id}?lang=en").get_data(as_text=True)
    link = f"/p/oem/orders/{order.id}/units/{unit.unit_id}/activated"
    assert f'href="{link}"' in page and "Report this key as already activated" in page
    confirm = client.get(link + "?lang=en")
    text = confirm.get_data(as_text=True)
    assert confirm.status_code == 200
    assert unit.product_key in text and unit.licence_number in text
    assert "We ask our wholesaler for a new key" in text
    assert f"its licence {unit.licence_number} are revoked" in text
    assert confirm.headers["Cache-Control"] == "no-store"
    french = client.get(link + "?lang=fr").get_data(as_text=True)
    assert "Signaler une clé déjà activée" in french


def test_nothing_changes_without_the_confirmation(client, db, delivered, form_token):
    order, unit = delivered
    link = f"/p/oem/orders/{order.id}/units/{unit.unit_id}/activated"
    token = form_token(link + "?lang=en")
    refused = client.post(link + "?lang=en", data={"csrf_token": token})
    assert refused.status_code == 200
    assert "Tick the box to confirm the report." in refused.get_data(as_text=True)
    assert client.post(link, data={"confirm": "y"}).status_code == 400  # no token: refused too
    db.session.expire_all()
    assert db.session.get(DeliveredUnit, unit.unit_id).status == UnitStatus.ACTIVE
    assert db.session.scalar(select(LicenceRecord.revoked_at).where(
        LicenceRecord.number == unit.licence_number)) is None


def test_the_confirmed_report_replaces_the_key_and_leaves_a_trace(client, db, delivered,
                                                                  form_token):
    order, unit = delivered
    link = f"/p/oem/orders/{order.id}/units/{unit.unit_id}/activated"
    token = form_token(link)
    done = client.post(link + "?lang=en", data={"csrf_token": token, "confirm": "y"})
    assert done.status_code == 302 and done.location.endswith(f"/orders/{order.id}")
    db.session.expire_all()
    [(_line, [new])] = line_deliveries(order).values()
    assert new.product_key != unit.product_key
    [old] = new.replaced
    assert old.licence_number == unit.licence_number and old.reason == "already_activated"
    assert db.session.scalar(select(LicenceRecord.revoked_at).where(
        LicenceRecord.number == unit.licence_number)) is not None
    page = client.get(f"/p/oem/orders/{order.id}?lang=en").get_data(as_text=True)
    assert "Here is your new key" in page
    assert new.product_key in page and unit.product_key not in page  # the old one only masked
    assert old.masked_key in page
    assert "was reported as already activated" in page and unit.licence_number in page
    # The replaced key cannot be reported again.
    assert client.get(link).status_code == 404
