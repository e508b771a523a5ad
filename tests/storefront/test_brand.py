"""Partner brands: validated on the way in; refused whole, naming the field, brand unchanged."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import event

from partners.brand import FONTS, BrandError, Logo, css_variables, readable_on, validate_brand

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("primary_color", "red"),
        ("primary_color", "#12345"),
        ("secondary_color", "#1234567"),
        ("accent_color", "#abc;}body{display:none"),
        ("accent_color", "</style><script>alert(1)</script>"),
        ("font", "Comic Sans; } body { x"),
        ("logo_url", "http://cdn.example/logo.png"),
        ("logo_url", "javascript:alert(1)"),
        ("logo_url", 'https://cdn.example/logo.png" onerror="alert(1)'),
        ("name", "<script>alert(1)</script>"),
        ("legal_notice", "Hello <script>alert(1)</script>"),
        ("legal_notice", "<img src=x onerror=alert(1)>"),
    ],
)
def test_bad_brand_values_are_refused_naming_the_field(field, value):
    with pytest.raises(BrandError) as caught:
        validate_brand({field: value}, None, max_logo_bytes=1024)
    assert list(caught.value.errors) == [field]


def test_good_brand_values_pass_clean():
    clean = validate_brand(
        {
            "primary_color": "#0B5394",
            "font": "geometric",
            "logo_url": "https://cdn.example/logo.png",
        },
        Logo(PNG, "image/png"),
        1024,
    )
    assert clean["primary_color"] == "#0b5394" and clean["font"] == "geometric"
    assert clean["logo_data"] == PNG


@pytest.mark.parametrize(
    ("logo", "message"),
    [
        (Logo(PNG * 40, "image/png"), "at most"),
        (Logo(b"<svg onload=alert(1)>", "image/svg+xml"), "PNG, JPEG or WebP"),
        (Logo(b"GIF89a....", "image/png"), "not the image type"),
        (Logo(b"", "image/png"), "empty"),
    ],
)
def test_bad_logo_uploads_are_refused(logo, message):
    with pytest.raises(BrandError) as caught:
        validate_brand({}, logo, max_logo_bytes=1024)
    assert message in caught.value.english()["logo"]


def test_css_variables_carry_only_validated_tokens(make_partner):
    partner = make_partner(primary_color="#0b5394", font="classic")
    css = str(css_variables(partner))
    assert "--brand-primary:#0b5394" in css and FONTS["classic"] in css
    partner.primary_color = (
        "red;}</style><script>"  # written around validation, e.g. by hand in the database
    )
    assert "script" not in str(css_variables(partner))


def test_text_colour_on_the_brand_colour_is_readable():
    assert readable_on("#ffffff") == "#000000"
    assert readable_on("#0b5394") == "#ffffff"


@pytest.fixture
def operator_client(client, sign_in_operator):
    sign_in_operator(client)
    return client


def _brand_form(partner, **overrides):
    data = {
        "name": partner.name,
        "tagline": "",
        "primary_color": "#112233",
        "secondary_color": "#f0f0f0",
        "accent_color": "#aa3300",
        "font": "system",
        "logo_url": "",
        "legal_notice": "Mentions.",
        "support_email": "s@example.com",
        "support_phone": "01",
    }
    data.update(overrides)
    return data


def test_operator_saves_a_valid_brand(operator_client, shops, form_token, db):
    token = form_token("/admin/partners/shop-a")
    data = _brand_form(shops.a, csrf_token=token, logo=(io.BytesIO(PNG), "logo.png", "image/png"))
    response = operator_client.post(
        "/admin/partners/shop-a", data=data, content_type="multipart/form-data"
    )
    assert response.status_code == 302
    db.session.refresh(shops.a)
    assert shops.a.primary_color == "#112233" and shops.a.logo_data == PNG
    logo = operator_client.get("/p/shop-a/brand/logo")
    assert logo.status_code == 200 and logo.mimetype == "image/png" and logo.data == PNG

    # Pages show the logo without reading its bytes: only the logo's own route loads them.
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        page = operator_client.get("/p/shop-a/").get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert "/p/shop-a/brand/logo" in page
    assert statements and not any("logo_data" in s for s in statements)


def test_a_bad_brand_is_refused_with_the_field_named_and_nothing_stored(
    operator_client, shops, form_token, db
):
    before = (shops.a.primary_color, shops.a.accent_color, shops.a.name)
    token = form_token("/admin/partners/shop-a")
    data = _brand_form(
        shops.a,
        csrf_token=token,
        primary_color="#000000",
        accent_color="expression(alert(1))",
        name="New name",
    )
    response = operator_client.post("/admin/partners/shop-a", data=data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="accent_color-error"' in html and "hex colour" in html
    db.session.expire_all()
    assert (shops.a.primary_color, shops.a.accent_color, shops.a.name) == before


def test_the_back_office_needs_an_operator(client, shops, make_user, form_token):
    assert client.get("/admin/partners/shop-a").status_code == 302
    make_user(email="buyer@example.com", password="buyer password!")
    token = form_token("/admin/login")
    response = client.post(
        "/admin/login",
        data={"csrf_token": token, "email": "buyer@example.com", "password": "buyer password!"},
    )
    assert response.status_code == 401
    assert client.get("/admin/").status_code == 302


def test_back_office_shows_orders_with_their_history(
    operator_client, shops, add_to_cart, checkout, db
):
    from sqlalchemy import select

    from commerce.models import Order

    add_to_cart("shop-a", "OFFICE-HOME-2024-WIN")
    checkout("shop-a")
    order = db.session.scalar(select(Order))
    listing = operator_client.get("/admin/?partner=shop-a").get_data(as_text=True)
    assert order.number in listing
    assert order.number not in operator_client.get("/admin/?partner=shop-b").get_data(as_text=True)
    detail = operator_client.get(f"/admin/orders/{order.id}").get_data(as_text=True)
    assert "Status history" in detail and order.email in detail
    for page in ("/admin/partners", "/admin/products"):
        assert operator_client.get(page).status_code == 200
