"""Products' pictures: uploaded by the operator (back office or command), checked, re-encoded at
the widths pages need, described in each language, and served to every shop that sells them."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from sqlalchemy import select

from commerce.models import Product, ProductPicture
from partners.models import ProductChange


def picture_bytes(size=(600, 400), fmt="PNG", colour=(11, 83, 148), **save) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, fmt, **save)
    return buffer.getvalue()


@pytest.fixture
def operator(app, sign_in_operator):  # type: ignore[no-untyped-def]
    staff = app.test_client()
    sign_in_operator(staff)
    return staff


def upload(staff, code: str, data: bytes, alt: str = "La boîte d'Office",
           alt_en: str = "The box of Office", name: str = "office.png"):  # type: ignore[no-untyped-def]
    """Send a picture from the product's back-office page, as the operator would."""
    page = staff.get(f"/admin/products/{code}")
    assert page.status_code == 200
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))[1]
    # Bodies stay under 500 KB: the test client spools a larger one to a file it leaves open.
    answer = staff.post(f"/admin/products/{code}/picture", content_type="multipart/form-data",
                        data={"csrf_token": csrf, "alt": alt, "alt_en": alt_en,
                              "picture": (io.BytesIO(data), name)})
    return answer


def test_an_uploaded_picture_is_shown_in_every_size_with_its_description(
        client, db, shops, operator):
    answer = upload(operator, "OFFICE-HOME-2024-WIN", picture_bytes())
    assert answer.status_code == 302
    office = db.session.scalar(select(Product).where(Product.code == "OFFICE-HOME-2024-WIN"))
    widths = sorted(db.session.scalars(select(ProductPicture.width).where(
        ProductPicture.product_id == office.id)))
    assert widths == [96, 192, 400, 600]  # none wider than the picture sent
    page = client.get("/p/shop-a/products/OFFICE-HOME-2024-WIN?lang=fr").get_data(as_text=True)
    img = re.search(r'<img src="([^"]+)" srcset="([^"]+)" sizes="200px" width="200" '
                    r'height="133" alt="([^"]+)" class="product__img">', page)
    assert img, page
    assert img.group(3) == "La boîte d&#39;Office"
    assert len(img.group(2).split(", ")) == 4 and f"v={office.picture_digest}" in img.group(1)
    english = client.get("/p/shop-a/products/OFFICE-HOME-2024-WIN?lang=en").get_data(as_text=True)
    assert 'alt="The box of Office"' in english
    listing = client.get("/p/shop-b/products?lang=en").get_data(as_text=True)
    assert 'sizes="96px" width="96" height="64" alt="The box of Office"' in listing
    served = client.get(img.group(1))
    assert served.status_code == 200 and served.mimetype == "image/webp"
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert Image.open(io.BytesIO(served.data)).size == (400, 267)
    assert client.get("/p/shop-a/media/products/OFFICE-HOME-2024-WIN/123.webp").status_code == 404
    [change] = db.session.scalars(select(ProductChange).where(ProductChange.action == "picture"))
    assert change.changes["picture"] == [None, office.picture_digest]


def test_nothing_of_the_file_but_its_pixels_is_served(client, db, shops, operator):
    exif = Image.Exif()
    exif[0x010E] = "secret description"
    exif[0x8825] = {2: (48.0, 51.0, 0.0)}  # a GPS position
    data = picture_bytes((800, 800), "JPEG", exif=exif.tobytes())
    assert upload(operator, "WIN11-PRO", data, name="w.jpg").status_code == 302
    served = client.get("/p/shop-a/media/products/WIN11-PRO/800.webp")
    assert served.status_code == 200
    assert b"secret description" not in served.data
    assert "exif" not in Image.open(io.BytesIO(served.data)).info


@pytest.mark.parametrize(("data", "alt", "message"), [
    (picture_bytes(), "", "Describe the picture"),
    (picture_bytes((150, 600)), "Une boîte", "at least 200 pixels"),
    (b"GIF89a not really", "Une boîte", "not a picture that can be read"),
    (picture_bytes(fmt="GIF"), "Une boîte", "PNG, JPEG or WebP"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "Une boîte",
     "not a picture that can be read"),
])
def test_a_refused_picture_stores_nothing_and_says_why(db, shops, operator, data,
                                                       alt, message):
    answer = upload(operator, "OFFICE-HOME-2024-WIN", data, alt=alt)
    assert answer.status_code == 400
    assert message in answer.get_data(as_text=True)
    assert db.session.scalar(select(ProductPicture.id)) is None
    assert db.session.scalar(select(Product.picture_digest).where(
        Product.code == "OFFICE-HOME-2024-WIN")) is None


def test_a_picture_larger_than_allowed_is_refused(app, db, shops, operator):
    app.config["PRODUCT_PICTURE_MAX_BYTES"] = 256 * 1024
    noisy = Image.effect_noise((380, 380), 100).convert("RGB")  # about 430 KB as PNG
    buffer = io.BytesIO()
    noisy.save(buffer, "PNG")
    answer = upload(operator, "OFFICE-HOME-2024-WIN", buffer.getvalue())
    assert answer.status_code == 400 and "larger than 0.25 MB" in answer.get_data(as_text=True)


def test_a_file_over_the_request_limit_is_refused_on_the_products_page(db, shops, operator):
    # Refused on its Content-Length, before its body is read: any 3 MB body will do (given as
    # bytes, which the test client does not spool to a file).
    answer = operator.post("/admin/products/OFFICE-HOME-2024-WIN/picture",
                           content_type="multipart/form-data; boundary=x",
                           data=b"--x\r\n" + b"\0" * (3 * 1024 * 1024))
    assert answer.status_code == 302
    assert answer.location.endswith("/admin/products/OFFICE-HOME-2024-WIN")
    page = operator.get(answer.location).get_data(as_text=True)
    assert "The picture is larger than 1.5 MB." in page
    assert db.session.scalar(select(ProductPicture.id)) is None


def test_the_command_sets_and_removes_a_picture(runner, db, shops, tmp_path, client):
    path = tmp_path / "visio.png"
    path.write_bytes(picture_bytes((300, 300)))
    refused = runner.invoke(args=["products", "picture", "VISIO-STD-2024", str(path)])
    assert refused.exit_code == 1 and "alt" in refused.output
    done = runner.invoke(args=["products", "picture", "VISIO-STD-2024", str(path),
                               "--alt", "La boîte de Visio"])
    assert done.exit_code == 0, done.output
    assert "picture saved (300 × 300 pixels" in done.output
    page = client.get("/p/shop-b/products/VISIO-STD-2024").get_data(as_text=True)
    assert 'alt="La boîte de Visio"' in page
    removed = runner.invoke(args=["products", "picture", "VISIO-STD-2024", "--remove"])
    assert removed.exit_code == 0 and "picture removed" in removed.output
    assert db.session.scalar(select(ProductPicture.id)) is None
    page = client.get("/p/shop-b/products/VISIO-STD-2024").get_data(as_text=True)
    assert 'src="/p/shop-b/static/img/products/visio.svg"' in page  # the family's drawing
    history = runner.invoke(args=["products", "history", "VISIO-STD-2024"]).output
    assert history.count(" picture: ") == 2
