"""Headers on every answer: a strict CSP, HSTS and a __Host- cookie in production, no-store."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from commerce.models import Order

PASSWORD = "a long enough password"  # noqa: S105 - a test account's


def _csrf(client, url: str) -> str:
    html = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


@pytest.mark.parametrize("path", ["/p/shop-a/", "/admin/login", "/healthz", "/api/v1/products"])
def test_every_answer_carries_the_strict_policy(client, shops, path):
    policy = client.get(path).headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "object-src 'none'", "base-uri 'none'",
                      "frame-ancestors 'none'"):
        assert directive in policy, (path, policy)
    assert client.get(path).headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in client.get(path).headers  # not over plain HTTP


def test_production_sends_hsts_for_a_year_and_a_host_only_secure_cookie(
    test_settings, _schema, tmp_path
):
    import base64
    import secrets

    from app import create_app
    from extensions import db

    key = lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()  # noqa: E731
    app = create_app({
        **test_settings, "ENV": "production", "INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": secrets.token_urlsafe(48), "LICENSING_KEK": key(),
        "VAULT_KEY": "v1:" + key(), "PRODUCT_KEYS_KEY": key(), "WEBHOOK_SECRETS_KEY": key(),
        "NEXWAY_CALLBACK_SECRET": secrets.token_urlsafe(32), "PAYMENT_GATEWAY": "stripe",
        "STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_x",
        "TASKS_EAGER": False, "PUBLIC_URL": "https://comptoir.example", "MAIL_BACKEND": "smtp",
        "PLATFORM_HOSTS": "comptoir.example,localhost",
        "MAIL_SENDER": "Comptoir <commandes@comptoir.example>",
        "VAULT_BACKEND": "s3", "VAULT_S3_BUCKET": "vault",
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/12", "SESSION_STORE": "redis",
        "SESSION_REDIS_URL": "redis://127.0.0.1:6379/12",
        "NEXWAY_URL": "https://api.nexway.example", "ARVATO_URL": "https://api.arvato.example",
        "VIES_URL": "https://ec.europa.eu/taxation_customs/vies/rest-api",
        "PLATFORM_LEGAL_NAME": "Comptoir SAS", "PLATFORM_SIREN": "732829320",
        "PLATFORM_VAT_NUMBER": "FR44732829320",
        "PLATFORM_REGISTERED_OFFICE": "12 quai Saint-Antoine, 69002 Lyon",
        "PAYOUT_DEBTOR_NAME": "Comptoir SAS", "PAYOUT_DEBTOR_IBAN": "FR1420041010050500013M02606",
        "PAYOUT_DEBTOR_BIC": "PSSTFRPPLYO", "CREDIT_IBAN": "FR1420041010050500013M02606",
        "CREDIT_BIC": "PSSTFRPPLYO",
    })
    with app.app_context():
        client = app.test_client()
        response = client.get("/?lang=en", base_url="https://localhost")
        db.session.remove()
        db.engine.dispose()
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-comptoir=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie
    assert "Domain=" not in cookie


def test_pages_with_keys_licences_backups_or_tokens_are_never_stored(
    app, client, shops, add_to_cart, checkout, pay_with_test_card, db, make_user,
    sign_in_operator
):
    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    pay_with_test_card(checkout("shop-a").headers["Location"])
    order = db.session.scalar(select(Order))
    make_user(email="buyer@example.com", password=PASSWORD)
    pages = [
        f"/p/shop-a/orders/{order.id}",
        f"/p/shop-a/checkout/return/{order.id}",
        "/p/shop-a/backups/find",
        "/p/shop-a/backups/link",
        "/p/shop-a/account/verify",
        "/p/shop-a/account/reset/new",
        "/p/shop-a/orders/access/not-a-token",
        "/.well-known/comptoir/licence-keys.json",
    ]
    for page in pages[:-1]:
        assert client.get(page).headers.get("Cache-Control") == "no-store", page
    # The public keys are meant to be cached; the shop's catalogue too, for a visitor.
    assert client.get(pages[-1]).headers.get("Cache-Control") != "no-store"
    anonymous = app.test_client()
    assert anonymous.get("/p/shop-a/products").headers.get("Cache-Control") != "no-store"
    # Once signed in, every page is that person's.
    client.post("/p/shop-a/account/signin", data={
        "csrf_token": _csrf(client, "/p/shop-a/account/signin"), "email": "buyer@example.com",
        "password": PASSWORD})
    assert client.get("/p/shop-a/account/").headers["Cache-Control"] == "no-store"
    # (a page the page cache would keep for anonymous visitors says it is this person's own)
    assert client.get("/p/shop-a/products").headers["Cache-Control"] == "private, no-store"
    operator = app.test_client()
    sign_in_operator(operator)
    assert operator.get(f"/admin/orders/{order.id}").headers["Cache-Control"] == "no-store"


def test_e_mail_header_values_with_line_breaks_are_refused_naming_the_field(
    client, shops, sign_in_operator, db
):
    sign_in_operator(client)
    page = client.get("/admin/partners/shop-a").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    before = (shops.a.name, shops.a.support_email)
    for field, value in (("support_email", "help@shop-a.example\r\nBcc: all@example.com"),
                         ("name", "Shop A\nBcc: all@example.com")):
        data = {"csrf_token": token, "name": shops.a.name, "tagline": "",
                "primary_color": "#0b5394", "secondary_color": "#f4f6f8",
                "accent_color": "#c2410c", "font": "system", "logo_url": "",
                "legal_notice": "Shop A SAS", "support_email": "help@shop-a.example",
                "support_phone": "", field: value}
        response = client.post("/admin/partners/shop-a", data=data)
        assert response.status_code == 400, field
        assert "line break" in response.get_data(as_text=True)
    db.session.refresh(shops.a)
    assert (shops.a.name, shops.a.support_email) == before


@pytest.mark.parametrize(("field", "mail"), [
    ("To", {"to": "a@example.com\r\nBcc: b@example.com"}),
    ("Subject", {"subject": "Hello\nBcc: b@example.com"}),
    ("Reply-To", {"reply_to": "help@example.com\rX: y"}),
])
def test_the_mailer_refuses_header_injection_and_sends_nothing(app, mailbox, field, mail):
    from fulfilment.mail import Mail, MailHeaderError, send_mail

    values = {"to": "a@example.com", "subject": "Hello", "text": "Body", **mail}
    with pytest.raises(MailHeaderError) as caught:
        send_mail(Mail(**values))
    assert caught.value.field == field and field in str(caught.value)
    assert mailbox.messages == []


def test_trace_is_not_answered(client, shops):
    assert client.open("/p/shop-a/", method="TRACE").status_code == 405
    assert client.open("/admin/login", method="TRACE").status_code == 405


def test_a_message_reads_back_as_written_whatever_its_language(app, mailbox):
    from email.utils import parseaddr

    from fulfilment.mail import Mail, send_mail

    app.config["MAIL_SENDER"] = "Numériland Boutique <commandes@numeriland.example>"
    subject = ("Numériland · Vos licences pour la commande CPT-2026-000001, un objet assez long "
               "pour être plié sur deux lignes")
    text = "Bonjour Camille,\n\nVotre clé : VK7JG-NPHTM-C97JM-9MPGT-3V66T\n" + "é" * 200
    html = "<p>Bonjour Camille, votre clé est prête.</p>"
    send_mail(Mail(to="Camille Müller <camille@example.com>", subject=subject, text=text,
                   html=html, reply_to="Aide Numériland <aide@numeriland.example>"))
    (message,) = mailbox.wait_for("Camille Müller <camille@example.com>")  # read back as sent
    assert message["Subject"] == subject
    assert message["From"] == "Numériland Boutique <commandes@numeriland.example>"
    assert message["Reply-To"] == "Aide Numériland <aide@numeriland.example>"
    assert parseaddr(message["Message-ID"])[1].endswith("@numeriland.example")
    assert message["Date"]
    assert message.get_body(preferencelist=("plain",)).get_content().rstrip("\n") == text
    assert message.get_body(preferencelist=("html",)).get_content().rstrip("\n") == html
    assert all(len(line) <= 998 for line in message.as_string().splitlines())  # RFC 5322
