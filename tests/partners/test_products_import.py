"""The platform's catalogue from a file: `comptoir products import|export|history`, its checks,
its audit, and the round trip from the demo's catalogue to an empty database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from support.database import empty_tables

from commerce.models import Product, ProductSku
from extensions import db as _db
from partners import catalogue
from partners.models import ProductChange
from partners.validation import PartnerError

OFFICE: dict[str, Any] = {
    "code": "office-home-2024-win",
    "kind": "software",
    "family": "office",
    "name": "Office Famille 2024",
    "edition": "Home 2024",
    "platform": "windows",
    "seats": 1,
    "seat_unit": "device",
    "licence_type": "perpetual",
    "price": "149.00",
    "vat_rate": "20.00",
    "description": "Word, Excel, PowerPoint et OneNote pour un PC.",
    "image": "img/products/office.svg",
    "active": True,
    "skus": {"nexway": "NX-OFF-HOME-24-W", "arvato": "AR-OFF-HOME-24-W"},
    "translations": {"en": {"name": "Office Home 2024",
                            "description": "Word, Excel, PowerPoint and OneNote for one PC."}},
}
FAMILY: dict[str, Any] = {
    "code": "M365-FAMILY-1Y",
    "kind": "software",
    "family": "microsoft365",
    "name": "Microsoft 365 Famille",
    "platform": "multi",
    "seats": 6,
    "seat_unit": "user",
    "licence_type": "subscription",
    "term_months": 12,
    "price": "129,00",
    "skus": {"nexway": "NX-M365-FAM"},
}


def _count(model: Any) -> int:
    return _db.session.scalar(select(func.count()).select_from(model)) or 0


def _state() -> tuple[int, int, int, list[dict[str, Any]]]:
    """Everything an import may change: the rows, and the catalogue as exported."""
    _db.session.expire_all()
    return (_count(Product), _count(ProductSku), _count(ProductChange),
            catalogue.export_products())


def _file(tmp_path: Path, data: Any, name: str = "catalogue.json") -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def _product(code: str) -> Product:
    _db.session.expire_all()
    product = _db.session.scalar(select(Product).where(Product.code == code))
    assert product is not None, code
    return product


def test_an_import_creates_the_products_their_references_texts_and_audit(db, runner, tmp_path):
    result = runner.invoke(args=["products", "import", _file(tmp_path, [OFFICE, FAMILY])])
    assert result.exit_code == 0, result.output
    assert "created OFFICE-HOME-2024-WIN" in result.output
    assert "created M365-FAMILY-1Y" in result.output
    assert "2 created, 0 updated, 0 unchanged" in result.output

    office = _product("OFFICE-HOME-2024-WIN")
    assert (office.kind, office.family, office.name, office.edition) == (
        "software", "office", "Office Famille 2024", "Home 2024")
    assert office.list_price_cents == 14900 and str(office.vat_rate) == "20.00"
    assert office.licence_type == "perpetual" and office.term_months is None
    assert office.is_active and office.image == "img/products/office.svg"
    assert {s.wholesaler_code: s.sku for s in office.skus} == {
        "nexway": "NX-OFF-HOME-24-W", "arvato": "AR-OFF-HOME-24-W"}
    assert office.translations["en"]["name"] == "Office Home 2024"

    family = _product("M365-FAMILY-1Y")
    assert family.licence_type == "subscription" and family.term_months == 12
    assert family.list_price_cents == 12900 and family.seats == 6
    # What the file leaves out takes the model's defaults.
    assert family.edition == "" and family.description == "" and family.translations == {}
    assert [s.wholesaler_code for s in family.skus] == ["nexway"]

    created = _db.session.scalars(select(ProductChange).where(
        ProductChange.product_id == office.id)).all()
    assert [(c.action, c.actor) for c in created] == [("created", "cli")]
    assert created[0].changes["price"] == [None, "149.00"]
    assert created[0].changes["skus"][1] == {"arvato": "AR-OFF-HOME-24-W",
                                             "nexway": "NX-OFF-HOME-24-W"}


def test_an_update_changes_only_the_fields_given_and_audits_them(db, runner, tmp_path):
    assert runner.invoke(args=["products", "import", _file(tmp_path, [OFFICE])]).exit_code == 0
    change = {"code": "OFFICE-HOME-2024-WIN", "price": "139.90", "name": "Office Famille  2024 ",
              "active": False, "skus": {"nexway": "NX-OFF-HOME-24-W2"}}
    result = runner.invoke(args=["products", "import", _file(tmp_path, [change], "b.json")])
    assert result.exit_code == 0, result.output
    assert "updated OFFICE-HOME-2024-WIN: " in result.output
    assert "price: '149.00' → '139.90'" in result.output
    assert "active: True → False" in result.output
    assert "name" not in result.output.split(":", 1)[1]  # the same name once spaces collapse
    assert "0 created, 1 updated, 0 unchanged" in result.output

    office = _product("OFFICE-HOME-2024-WIN")
    assert office.list_price_cents == 13990 and not office.is_active
    assert {s.wholesaler_code: s.sku for s in office.skus} == {"nexway": "NX-OFF-HOME-24-W2"}
    assert office.edition == "Home 2024"  # not in the file: kept
    assert office.translations["en"]["name"] == "Office Home 2024"

    update = _db.session.scalar(select(ProductChange).where(
        ProductChange.product_id == office.id, ProductChange.action == "updated"))
    assert update is not None and update.actor == "cli" and update.at is not None
    assert update.changes == {
        "price": ["149.00", "139.90"],
        "active": [True, False],
        "skus": [{"arvato": "AR-OFF-HOME-24-W", "nexway": "NX-OFF-HOME-24-W"},
                 {"nexway": "NX-OFF-HOME-24-W2"}],
    }
    history = runner.invoke(args=["products", "history", "office-home-2024-win"])
    assert history.exit_code == 0, history.output
    lines = history.output.splitlines()
    assert len(lines) == 2
    assert " cli updated: " in lines[0] and "price: '149.00' → '139.90'" in lines[0]
    assert " cli created: " in lines[1]
    assert runner.invoke(args=["products", "history", "NOPE"]).exit_code == 1

    # A subscription becomes perpetual: its term goes with it.
    runner.invoke(args=["products", "import", _file(tmp_path, [FAMILY], "c.json")])
    perpetual = {"code": "M365-FAMILY-1Y", "licence_type": "perpetual"}
    result = runner.invoke(args=["products", "import", _file(tmp_path, [perpetual], "d.json")])
    assert result.exit_code == 0, result.output
    assert "term_months: 12 → None" in result.output
    assert _product("M365-FAMILY-1Y").term_months is None


def test_the_same_file_again_changes_nothing(db, runner, tmp_path):
    path = _file(tmp_path, [OFFICE, FAMILY])
    assert runner.invoke(args=["products", "import", path]).exit_code == 0
    before = _state()
    again = runner.invoke(args=["products", "import", path])
    assert again.exit_code == 0, again.output
    assert "unchanged OFFICE-HOME-2024-WIN" in again.output
    assert "0 created, 0 updated, 2 unchanged" in again.output
    assert _state() == before


def test_a_dry_run_says_what_would_change_and_stores_nothing(db, runner, tmp_path):
    assert runner.invoke(args=["products", "import", _file(tmp_path, [OFFICE])]).exit_code == 0
    before = _state()
    changed = {**OFFICE, "price": "99.00"}
    result = runner.invoke(args=["products", "import", "--dry-run",
                                 _file(tmp_path, [changed, FAMILY], "b.json")])
    assert result.exit_code == 0, result.output
    assert "price: '149.00' → '99.00'" in result.output
    assert "created M365-FAMILY-1Y" in result.output
    assert "dry run: nothing stored" in result.output
    assert _state() == before


def test_the_file_may_come_on_standard_input(db, runner):
    result = runner.invoke(args=["products", "import", "-"], input=json.dumps([FAMILY]))
    assert result.exit_code == 0, result.output
    assert _product("M365-FAMILY-1Y").name == "Microsoft 365 Famille"


BAD = [
    ("bad code", [{**FAMILY, "code": "M365 FAMILY"}], "#1.code: 1 to 60 letters"),
    ("no code", [{k: v for k, v in FAMILY.items() if k != "code"}], "#1.code: is required"),
    ("unknown field", [{**FAMILY, "colour": "red"}], "#1 M365-FAMILY-1Y.colour: is not a "
                                                     "product field"),
    ("bad price", [{**FAMILY, "price": "12,9O"}], "#1 M365-FAMILY-1Y.price: must be a price in "
                                                  "euros"),
    ("price as a number", [{**FAMILY, "price": 129}], "#1 M365-FAMILY-1Y.price: must be a price "
                                                      "in euros written as a text"),
    ("zero price", [{**FAMILY, "price": "0"}], "#1 M365-FAMILY-1Y.price: must be more than 0"),
    ("negative seats", [{**FAMILY, "seats": -1}], "#1 M365-FAMILY-1Y.seats: must be a whole "
                                                  "number from 1 to 10000"),
    ("subscription without term", [{k: v for k, v in FAMILY.items() if k != "term_months"}],
     "#1 M365-FAMILY-1Y.term_months: is required for a subscription"),
    ("perpetual with a term", [{**OFFICE, "term_months": 12}],
     "#1 OFFICE-HOME-2024-WIN.term_months: only a subscription has a term"),
    ("unknown wholesaler", [{**FAMILY, "skus": {"ingram": "X-1"}}],
     "#1 M365-FAMILY-1Y.skus.ingram: is not a wholesaler: must be one of: arvato, nexway"),
    ("blank sku", [{**FAMILY, "skus": {"nexway": " "}}], "#1 M365-FAMILY-1Y.skus.nexway: must be "
                                                         "the wholesaler's reference"),
    ("too-long name", [{**FAMILY, "name": "x" * 161}], "#1 M365-FAMILY-1Y.name: at most 160 "
                                                       "characters"),
    ("too-long edition", [{**FAMILY, "edition": "x" * 81}], "#1 M365-FAMILY-1Y.edition: at most 80 "
                                                            "characters"),
    ("too-long family", [{**FAMILY, "family": "f" * 33}], "#1 M365-FAMILY-1Y.family: 1 to 32 "
                                                          "lower-case letters"),
    ("markup in a name", [{**FAMILY, "name": "<b>365</b>"}], "#1 M365-FAMILY-1Y.name: plain text "
                                                             "only"),
    ("bad kind", [{**FAMILY, "kind": "hardware"}], "#1 M365-FAMILY-1Y.kind: must be one of: "
                                                   "software, addon"),
    ("bad platform", [{**FAMILY, "platform": "linux"}], "#1 M365-FAMILY-1Y.platform: must be one "
                                                        "of: windows, mac, multi"),
    ("bad licence", [{**FAMILY, "licence_type": "rental"}], "#1 M365-FAMILY-1Y.licence_type: must "
                                                            "be one of: perpetual, subscription"),
    ("bad vat", [{**FAMILY, "vat_rate": "120"}], "#1 M365-FAMILY-1Y.vat_rate: must be a VAT rate"),
    ("bad active", [{**FAMILY, "active": "yes"}], "#1 M365-FAMILY-1Y.active: must be true or "
                                                  "false"),
    ("missing image", [{**FAMILY, "image": "img/products/nope.svg"}],
     "#1 M365-FAMILY-1Y.image: no file static/img/products/nope.svg"),
    ("image outside static", [{**FAMILY, "image": "../config.py"}],
     "#1 M365-FAMILY-1Y.image: must be a path under static/"),
    ("bad translation locale", [{**FAMILY, "translations": {"de": {"name": "Familie"}}}],
     "#1 M365-FAMILY-1Y.translations.de: must be one of: en"),
    ("bad translation field", [{**FAMILY, "translations": {"en": {"tagline": "x"}}}],
     "#1 M365-FAMILY-1Y.translations.en.tagline: is not a translated field"),
    ("too-long translation", [{**FAMILY, "translations": {"en": {"name": "x" * 161}}}],
     "#1 M365-FAMILY-1Y.translations.en.name: at most 160 characters"),
    ("translations not an object", [{**FAMILY, "translations": ["en"]}],
     "#1 M365-FAMILY-1Y.translations: must be an object of languages"),
    ("new product without its name", [{"code": "NEW-1", "family": "office", "price": "10.00"}],
     "#1 NEW-1.name: is required"),
    ("duplicate code", [FAMILY, {**FAMILY, "code": "m365-family-1y "}],
     "#2 M365-FAMILY-1Y.code: M365-FAMILY-1Y is already given by product #1"),
    ("not an object", [FAMILY, "OFFICE"], "#2: must be a JSON object of a product's fields"),
    ("not a list", {"products": [FAMILY]}, "file: must be a JSON list of products"),
    ("not JSON", "[{\"code\": \"X\",}]", "file: is not JSON"),
]


@pytest.mark.parametrize(("case", "data", "message"), BAD, ids=[case for case, _, _ in BAD])
def test_a_bad_file_is_refused_whole_and_names_each_error(db, runner, tmp_path, case, data,
                                                         message):
    assert runner.invoke(args=["products", "import", _file(tmp_path, [OFFICE])]).exit_code == 0
    before = _state()
    # The good change beside the bad entry is not stored either.
    good = {"code": OFFICE["code"], "price": "1.00"}
    payload = [*data, good] if isinstance(data, list) else data
    result = runner.invoke(args=["products", "import", _file(tmp_path, payload, "bad.json")])
    assert result.exit_code == 1, result.output
    assert "nothing stored" in result.output
    assert message in result.output, result.output
    assert _state() == before


def test_every_error_of_the_file_is_printed(db, runner, tmp_path):
    data = [{**FAMILY, "seats": 0, "price": "free"}, {**OFFICE, "name": ""}]
    result = runner.invoke(args=["products", "import", _file(tmp_path, data)])
    assert result.exit_code == 1
    assert "3 refused, nothing stored:" in result.output
    assert "#1 M365-FAMILY-1Y.seats:" in result.output
    assert "#1 M365-FAMILY-1Y.price:" in result.output
    assert "#2 OFFICE-HOME-2024-WIN.name: is required" in result.output
    assert _count(Product) == 0


def test_the_service_leaves_the_commit_to_its_caller(db):
    results = catalogue.import_products([FAMILY], actor="cli", wholesalers=["arvato", "nexway"],
                                        locales=["en"])
    assert [(r.code, r.action) for r in results] == [("M365-FAMILY-1Y", "created")]
    _db.session.rollback()
    assert _count(Product) == 0 and _count(ProductChange) == 0
    with pytest.raises(PartnerError) as refused:
        catalogue.import_products([{**FAMILY, "price": "-3"}], actor="cli",
                                  wholesalers=["nexway"], locales=["en"])
    assert list(refused.value.english()) == ["#1 M365-FAMILY-1Y.price"]


def test_an_import_shows_on_the_running_shop_at_its_next_request(db, runner, client, tmp_path,
                                                                  make_partner):
    assert runner.invoke(args=["products", "import", _file(tmp_path, [OFFICE])]).exit_code == 0
    partner = make_partner(products=[_product("OFFICE-HOME-2024-WIN")])
    shop = f"/p/{partner.slug}/products"
    assert "Office Famille 2024" in client.get(shop).get_data(as_text=True)

    renamed = {"code": OFFICE["code"], "name": "Office Famille et Petite Entreprise 2024"}
    assert runner.invoke(args=["products", "import",
                               _file(tmp_path, [renamed], "b.json")]).exit_code == 0
    assert renamed["name"] in client.get(shop).get_data(as_text=True)

    withdrawn = {"code": OFFICE["code"], "active": False}
    assert runner.invoke(args=["products", "import",
                               _file(tmp_path, [withdrawn], "c.json")]).exit_code == 0
    assert renamed["name"] not in client.get(shop).get_data(as_text=True)


def test_translate_is_audited_too(db, runner, tmp_path):
    assert runner.invoke(args=["products", "import", _file(tmp_path, [FAMILY])]).exit_code == 0
    result = runner.invoke(args=["products", "translate", "M365-FAMILY-1Y", "en", "--name",
                                 "Microsoft 365 Family"])
    assert result.exit_code == 0, result.output
    history = runner.invoke(args=["products", "history", "M365-FAMILY-1Y"]).output
    assert "cli translated: translations: {} → {'en': {'name': 'Microsoft 365 Family'}}" in history
    refused = runner.invoke(args=["products", "translate", "M365-FAMILY-1Y", "de", "--name", "x"])
    assert refused.exit_code == 1 and "locale: must be one of: en" in refused.output


def _rows() -> dict[str, Any]:
    _db.session.expire_all()
    products = {}
    for product in _db.session.scalars(select(Product)):
        columns = {c.key: getattr(product, c.key) for c in Product.__table__.columns
                   if c.key != "id"}
        products[product.code] = (columns, sorted((s.wholesaler_code, s.sku)
                                                  for s in product.skus))
    return products


def test_the_demo_catalogue_exported_then_imported_into_an_empty_database_is_the_same(
        db, runner, tmp_path):
    assert runner.invoke(args=["demo", "load", "--no-history"]).exit_code == 0
    path = tmp_path / "catalogue.json"
    exported = runner.invoke(args=["products", "export", "--output", str(path)])
    assert exported.exit_code == 0, exported.output
    demo = _rows()
    assert len(demo) == len(json.loads(path.read_text(encoding="utf-8"))) > 10
    assert runner.invoke(args=["products", "export"]).output == path.read_text(encoding="utf-8")

    _db.session.remove()
    empty_tables()
    assert _count(Product) == 0
    imported = runner.invoke(args=["products", "import", str(path)])
    assert imported.exit_code == 0, imported.output
    assert f"{len(demo)} created, 0 updated, 0 unchanged" in imported.output
    assert _rows() == demo

    again = runner.invoke(args=["products", "import", str(path)])
    assert again.exit_code == 0, again.output
    assert f"0 created, 0 updated, {len(demo)} unchanged" in again.output
    assert _count(ProductChange) == len(demo)
