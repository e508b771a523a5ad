"""The order's status answer tells a page whether to keep following it, and when what the page
shows has changed."""

from __future__ import annotations

from support.links import shop_path

from commerce import access
from commerce.orders import BuyerDetails, LineRequest, place_order
from payments.base import PaymentEvent, PaymentOutcome
from payments.services import confirm_payment


def test_a_page_follows_the_order_until_its_licence_is_there(wired, db, catalogue, client):
    order = place_order(catalogue["arvato_shop"], [LineRequest("OFFICE-HOME-2024-WIN", 1)],
                        BuyerDetails("buyer@example.com", "Camille Martin"))
    db.session.commit()
    assert client.get(shop_path(access.access_url(order))).status_code == 302
    status = f"/p/oem/orders/{order.id}/status"
    waiting = client.get(status).get_json()
    assert (waiting["paid"], waiting["following"], waiting["delivered"]) == (False, True, False)
    page = client.get(f"/p/oem/orders/{order.id}?lang=en").get_data(as_text=True)
    assert f'data-version="{waiting["version"]}" data-following' in page
    assert 'data-live-summary="Waiting for the payment confirmation."' in page
    assert "/static/js/order-live.js" in page
    assert client.get(status).get_json()["version"] == waiting["version"]  # nothing changed

    confirm_payment(PaymentEvent(f"evt_{order.id}", "checkout.session.completed",
                                 PaymentOutcome.PAID, order.id, None, order.total_cents, "EUR"),
                    "stripe")  # arvato delivers at once
    done = client.get(status).get_json()
    assert (done["paid"], done["following"], done["delivered"]) == (True, False, True)
    assert done["version"] != waiting["version"]
    page = client.get(f"/p/oem/orders/{order.id}?lang=en").get_data(as_text=True)
    assert "data-following " not in page and "data-following>" not in page
    assert 'data-live-summary="Your licences are ready."' in page


def test_a_stranger_cannot_follow_an_order(wired, paid_order, app):
    order = paid_order()
    assert app.test_client().get(f"/p/oem/orders/{order.id}/status").status_code == 404
