"""Catalogue benchmark: what the shop's pages and the reseller dashboard cost at scale.

For each database (PostgreSQL by default, its own bench database, then SQLite in a temporary
file): the demo (`comptoir demo load`), then two shops beside it whose catalogues are inserted
with Core, one of 10 products and one of --products (10,000), and two resellers of the demo's
channel network, one with 10 orders and one with --orders (10,000), each order a paid line
with its client and commission. PostgreSQL is then vacuumed and analysed, as autovacuum does
after such a load.

Measured through the Flask test client:
- statements: the SQL statements of the home page, the catalogue, a search, a family (the
  category listing), a product page and the cart at 10 products and at --products; of the
  reseller dashboard and clients list at 10 orders and at --orders. Goal: the same;
- time: the median of --requests requests of the catalogue's first page at --products against
  the demo shop's catalogue (numeriland), the two interleaved so that the machine's load falls
  on both alike. Goal: at most 1.5 times the demo's. The other pages' times and the
  dashboard's are printed beside, without a goal.

Run: `.venv/bin/python bench/bench_catalogue.py [--databases postgresql,sqlite]
[--products 10000] [--orders 10000] [--requests 200] [--database-url URL]`
(or COMPTOIR_BENCH_DATABASE_URL). Prints each figure with its goal and writes JSON to
bench/results/catalogue.json; exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, select, text

# This checkout's code, not the copy the virtualenv's editable install points at.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_fulfilment import reset_postgres  # noqa: E402

from app import create_app  # noqa: E402
from commerce.models import Partner, PartnerDomain, PartnerProduct, Product, utcnow  # noqa: E402
from commerce.orders import ADDON_BACKUP  # noqa: E402
from commissions import create_reseller  # noqa: E402
from demo_scale import bulk_catalogue, bulk_orders  # noqa: E402
from extensions import db  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/comptoir_bench_catalogue"
SMALL = 10
DEMO_SHOP = "numeriland"
NETWORK = "reseaupro"  # the demo's channel partner, with its commission programme
PASSWORD = "bench reseller password"  # noqa: S105 - a throwaway login in a throwaway database
GOAL_RATIO = 1.5
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def settings(database_url: str, instance: Path) -> dict[str, object]:
    """A throwaway app's settings: fresh secrets, never printed."""
    key = lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()  # noqa: E731
    return {
        "ENV": "testing",
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "LICENSING_KEK": key(),
        "VAULT_KEY": "v1:" + key(),
        "PRODUCT_KEYS_KEY": key(),
        "WEBHOOK_SECRETS_KEY": key(),
        "INSTANCE_PATH": str(instance),
        "VAULT_DIR": str(instance / "vault"),
        "SESSION_DIR": str(instance / "sessions"),
        "RATELIMIT_ENABLED": False,
        "PLATFORM_HOSTS": "localhost,127.0.0.1",
        "SERVER_NAME": None,
        "TASKS_EAGER": True,
    }


def _shop(slug: str, products: int) -> Partner:
    """An open shop selling the demo's backup add-on and `products` generated products."""
    from partners.validation import LEGAL_FIELDS

    backup = db.session.scalar(select(Product).where(Product.code == ADDON_BACKUP))
    demo = db.session.scalar(select(Partner).where(Partner.slug == DEMO_SHOP))
    partner = Partner(slug=slug, status="open", name=f"Bench {slug}", kind="retail",
                      wholesaler_code="nexway", support_email=f"support@{slug}.example",
                      legal_notice=f"{slug} SAS, 1 rue de la Paix, 75002 Paris.",
                      **{field: getattr(demo, field) for field in LEGAL_FIELDS})
    partner.domains = [PartnerDomain(host=f"{slug}.example")]
    partner.offers = [PartnerProduct(product=backup, price_cents=990, position=0)]
    db.session.add(partner)
    db.session.flush()
    bulk_catalogue(partner, products, prefix=slug.upper())
    return partner


def load(products: int, orders: int) -> None:
    """The demo, a small and a large shop, a reseller with few orders and one with many."""
    import demo

    demo.load()
    _shop("small", SMALL)
    _shop("large", products)
    network = db.session.scalar(select(Partner).where(Partner.slug == NETWORK))
    assert network is not None
    office = db.session.scalar(select(Product).where(Product.code == "OFFICE-HOME-2024-WIN"))
    assert office is not None
    for code, count in (("RP-FEWW", SMALL), ("RP-MANY", orders)):
        reseller = create_reseller(network, f"Bench {code}", f"{code.lower()}@bench.example",
                                   code=code, password=PASSWORD)
        bulk_orders(reseller, office, count, paid_since=utcnow() - timedelta(days=400),
                    prefix=code[-4:])
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


def shop_pages(slug: str) -> dict[str, str]:
    code = f"{slug.upper()}-00001"
    base = f"/p/{slug}"
    return {"home": f"{base}/", "catalogue": f"{base}/products",
            "search": f"{base}/products?q=generated", "category": f"{base}/products?family=office",
            "product": f"{base}/products/{code}", "cart": f"{base}/cart"}


def portal_pages() -> dict[str, str]:
    return {"dashboard": f"/p/{NETWORK}/reseller/", "clients": f"/p/{NETWORK}/reseller/clients"}


def add_to_cart(client: FlaskClient, slug: str) -> None:
    """Two lines in the cart, one with the backup add-on, as a buyer adds them."""
    for n, backup in ((1, True), (2, False)):
        url = f"/p/{slug}/products/{slug.upper()}-{n:05d}"
        page = client.get(url)
        token = CSRF.search(page.get_data(as_text=True))
        assert token, (url, page.status_code, page.get_data(as_text=True)[:3000])
        data = {"csrf_token": token.group(1), "quantity": "1"}
        if backup:
            data["backup"] = "y"
        response = client.post(f"/p/{slug}/cart/add/{slug.upper()}-{n:05d}", data=data)
        assert response.status_code == 302, (url, response.status_code)


def signed_in(app: Flask, code: str) -> FlaskClient:
    client = app.test_client()
    page = client.get(f"/p/{NETWORK}/reseller/signin").get_data(as_text=True)
    token = CSRF.search(page)
    assert token
    response = client.post(f"/p/{NETWORK}/reseller/signin", data={
        "csrf_token": token.group(1), "email": f"{code.lower()}@bench.example",
        "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    return client


def statements(app: Flask, client: FlaskClient, url: str) -> int:
    seen = 0

    def note(*_args: Any) -> None:
        nonlocal seen
        seen += 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        with app.app_context():
            response = client.get(url)
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert response.status_code == 200, (url, response.status_code)
    return seen


def medians(app: Flask, gets: dict[str, Callable[[], Any]], requests: int) -> dict[str, float]:
    """The median time of each GET in ms, the GETs interleaved, after a warm-up round."""
    times: dict[str, list[float]] = {name: [] for name in gets}
    for round_ in range(requests + 5):
        for name, get in gets.items():
            with app.app_context():
                start = time.perf_counter()
                response = get()
                elapsed = time.perf_counter() - start
            assert response.status_code == 200, (name, response.status_code)
            if round_ >= 5:
                times[name].append(elapsed * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def run(database_url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    """Load, then measure one database (None: SQLite in a temporary file); the figures and
    whether each goal is met."""
    with tempfile.TemporaryDirectory(prefix="bench-catalogue-") as tmp:
        url = database_url or f"sqlite:///{tmp}/bench.db"
        app = create_app(settings(url, Path(tmp)))
        with app.app_context():
            db.create_all()
            started = time.perf_counter()
            load(args.products, args.orders)
            loaded_s = time.perf_counter() - started
        shoppers = {slug: app.test_client() for slug in ("small", "large", DEMO_SHOP)}
        for slug in ("small", "large"):
            add_to_cart(shoppers[slug], slug)
        resellers = {"few": signed_in(app, "RP-FEWW"), "many": signed_in(app, "RP-MANY")}
        rows = []
        for page in shop_pages("small"):
            few = statements(app, shoppers["small"], shop_pages("small")[page])
            many = statements(app, shoppers["large"], shop_pages("large")[page])
            rows.append({"page": page, "at": f"{SMALL} vs {args.products} products",
                         "small": few, "large": many, "met": few == many})
        for page, url in portal_pages().items():
            few = statements(app, resellers["few"], url)
            many = statements(app, resellers["many"], url)
            rows.append({"page": page, "at": f"{SMALL} vs {args.orders} orders",
                         "small": few, "large": many, "met": few == many})
        demo_catalogue = f"/p/{DEMO_SHOP}/products"
        gets: dict[str, Callable[[], Any]] = {
            "catalogue demo": lambda: shoppers[DEMO_SHOP].get(demo_catalogue)}
        for page, url in shop_pages("large").items():
            gets[f"{page} {args.products}"] = (lambda u=url: shoppers["large"].get(u))
        for page, url in shop_pages("small").items():
            gets[f"{page} {SMALL}"] = (lambda u=url: shoppers["small"].get(u))
        for who in ("few", "many"):
            gets[f"dashboard {who}"] = (lambda c=resellers[who]: c.get(portal_pages()["dashboard"]))
        times = medians(app, gets, args.requests)
        ratio = times[f"catalogue {args.products}"] / times["catalogue demo"]
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return {"loaded_s": round(loaded_s, 1), "statements": rows,
            "median_ms": {k: round(v, 2) for k, v in times.items()},
            "catalogue_ratio": round(ratio, 2), "catalogue_ratio_met": ratio <= GOAL_RATIO}


def report(name: str, result: dict[str, Any], args: argparse.Namespace) -> bool:
    print(f"\n== {name} (loaded in {result['loaded_s']} s)")
    print(f"{'page':<10} {'compared':<28} {'small':>6} {'large':>6}  goal    ")
    for row in result["statements"]:
        mark = "ok" if row["met"] else "MISSED"
        print(f"{row['page']:<10} {row['at']:<28} {row['small']:>6} {row['large']:>6}  equal  "
              f"{mark}")
    times = result["median_ms"]
    print(f"\nmedian ms of {args.requests} requests:")
    for key, value in times.items():
        print(f"  {key:<24} {value:8.2f}")
    mark = "ok" if result["catalogue_ratio_met"] else "MISSED"
    print(f"catalogue at {args.products} products / demo catalogue: "
          f"{times[f'catalogue {args.products}']:.2f} / {times['catalogue demo']:.2f} ms = "
          f"{result['catalogue_ratio']:.2f}x (goal <= {GOAL_RATIO}x) {mark}")
    print(f"dashboard at {args.orders} / {SMALL} orders: "
          f"{times['dashboard many'] / times['dashboard few']:.2f}x (no goal)")
    return result["catalogue_ratio_met"] and all(r["met"] for r in result["statements"])


def reachable(url: str) -> bool:
    from sqlalchemy.engine import make_url

    engine = create_engine(make_url(url).set(database="postgres"))
    try:
        with engine.connect():
            return True
    except Exception:  # noqa: BLE001 - any failure to connect means: not here
        return False
    finally:
        engine.dispose()


def main() -> None:
    """Run the benchmark, report, and exit 1 when a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="postgresql,sqlite")
    parser.add_argument("--database-url", default=os.environ.get("COMPTOIR_BENCH_DATABASE_URL"),
                        help="the PostgreSQL database, the bench's own: emptied (default "
                             f"{DEFAULT_POSTGRES}; env COMPTOIR_BENCH_DATABASE_URL)")
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200,
                        help="timed requests of each page (interleaved)")
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": platform.platform(), "cpus": os.cpu_count(),
                               "products": args.products, "orders": args.orders,
                               "requests": args.requests, "goal_ratio": GOAL_RATIO}
    met = True
    for name in args.databases.split(","):
        url: str | None = None
        if name == "postgresql":
            url = args.database_url or DEFAULT_POSTGRES
            if not reachable(url):
                print("\n== postgresql: not reachable, skipped")
                results["postgresql"] = "not reachable"
                continue
            reset_postgres(url)
        elif name != "sqlite":
            parser.error(f"unknown database {name}")
        results[name] = run(url, args)
        met = report(name, results[name], args) and met
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "catalogue.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {RESULTS / 'catalogue.json'}; goals {'met' if met else 'MISSED'}")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
