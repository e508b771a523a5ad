"""E-mails carry the partner's logo, and the development mail page shows their HTML as well as
their text."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from commerce.models import CapturedMail, Order
from fulfilment.emails import render_email
from fulfilment.mail import Mail, send_mail
from fulfilment.models import OutgoingEmail

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def order(shops, add_to_cart, checkout, pay_with_test_card, db) -> Order:
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    pay_with_test_card(checkout("shop-a", email="guest@example.com").headers["Location"])
    return db.session.scalar(select(Order))


def delivery_mail(order: Order) -> Mail:
    return render_email(OutgoingEmail(key=f"delivery:{order.id}", order_id=order.id,
                                      kind="delivery"))


def logo_img(mail: Mail) -> str | None:
    found = re.search(r'<img src="([^"]+)" alt="([^"]+)"', mail.html)
    return f"{found.group(1)} {found.group(2)}" if found else None


def test_the_delivery_e_mail_shows_the_uploaded_logo_from_the_shop(app, db, shops, order):
    shops.a.logo_data, shops.a.logo_mime = PNG, "image/png"
    db.session.commit()
    assert logo_img(delivery_mail(order)) == "http://shop-a.example:5000/brand/logo Shop A"
    served = app.test_client().get("/brand/logo", headers={"Host": "shop-a.example"})
    assert served.status_code == 200 and served.data == PNG


def test_a_logo_address_of_the_partners_own_is_used_as_it_is(db, shops, order):
    shops.a.logo_url = "https://cdn.shop-a.example/logo.svg"
    db.session.commit()
    assert logo_img(delivery_mail(order)) == "https://cdn.shop-a.example/logo.svg Shop A"


def test_without_a_logo_the_e_mail_shows_the_partners_name(order):
    mail = delivery_mail(order)
    assert logo_img(mail) is None
    assert "font-weight:bold\">Shop A</td>" in mail.html


def test_the_mail_page_shows_the_html_part_sandboxed_beside_the_text(app, db):
    app.config["MAIL_BACKEND"] = "capture"
    send_mail(Mail(to="buyer@example.com", subject="Your licences",
                   text="Here are your licences.",
                   html='<p>Here are <b>your</b> licences.</p><img src="http://x.example/l.png">'))
    assert db.session.scalar(select(CapturedMail.html_body)).startswith("<p>Here are")
    page = app.test_client().get("/dev/mail")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    frame = re.search(r"<iframe ([^>]*)>", body)
    assert frame and " sandbox " in f" {frame.group(1)} "
    srcdoc = re.search(r'srcdoc="([^"]*)"', frame.group(1))
    assert srcdoc and html.unescape(srcdoc.group(1)).startswith("<p>Here are <b>your</b>")
    assert "<pre>Here are your licences.</pre>" in body
    assert "img-src * data:" in page.headers["Content-Security-Policy"]


def test_the_mail_page_is_not_served_in_production_nor_on_a_shop(app, shops):
    assert app.test_client().get("/dev/mail", headers={"Host": "shop-a.example"}).status_code == 404
    app.config["ENV"] = "production"
    assert app.test_client().get("/dev/mail").status_code == 404


def test_an_english_buyer_reads_the_products_english_names(client, db, shops, order):
    shops.office.translations = {"en": {"name": "Office Home 2024"}}
    order.locale = "en"
    db.session.commit()
    mail = delivery_mail(order)
    assert "Office Home 2024" in mail.text and "Office Famille 2024" not in mail.text
    # Dates the European way in English too: day first, 24-hour clock.
    assert re.search(r"Paid on \d{2}/\d{2}/\d{4}, \d{2}:\d{2}\.", mail.text), mail.text
    page = client.get(f"/p/shop-a/orders/{order.id}?lang=en").get_data(as_text=True)
    assert '<th scope="row">Office Home 2024</th>' in page
    french = client.get(f"/p/shop-a/orders/{order.id}?lang=fr").get_data(as_text=True)
    assert '<th scope="row">Office Famille 2024</th>' in french


def test_a_renamed_product_keeps_the_name_it_was_ordered_under(client, db, shops, order):
    shops.office.name = "Office Famille 2024 (nouvelle boîte)"
    db.session.commit()
    page = client.get(f"/p/shop-a/orders/{order.id}?lang=fr").get_data(as_text=True)
    assert '<th scope="row">Office Famille 2024</th>' in page
