"""Measured like a user's browser would: Lighthouse's four scores on the buying pages.

The shop is served as `make run` would serve it, in a temporary instance: a SQLite database
migrated (`comptoir db upgrade`) with the demo loaded (`comptoir demo load`), served by gunicorn
with the settings `comptoir serve` uses (2 workers, gthread, 4 threads; no debug), page cache on.
Then the npm `lighthouse` CLI (12.2.3, package.json's devDependencies) runs Debian's Chromium
(`--headless=new`) with its default mobile form factor and simulated throttling on home,
catalogue, a product page, the cart (holding one item: the item is added over HTTP first and
the session cookie handed to Lighthouse with `--extra-headers`) and the checkout page, on two
partners (numeriland and novatech).

Goals, per page and partner: performance >= 0.95, accessibility 1.0, best practices >= 0.95,
SEO >= 0.95. Each page is audited --runs times (1; 3 on a loaded machine) and the median score
of each category counts, since simulated throttling still moves a little with the machine's load.

`.venv/bin/python bench/bench_lighthouse.py [--runs 3] [--partners numeriland,novatech]`; needs
node_modules (`npm install`, which `make bench` runs when lighthouse is missing) and Chromium
(CHROME_PATH, default /usr/bin/chromium). Prints a table of the scores beside their goals,
writes bench/results/lighthouse.json (the scores and the failing audits' titles; no cookie, no
secret) and exits 1 when a score is below its goal.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from bench_pages import gunicorn, prepare_shop, shop_env

ROOT = Path(__file__).resolve().parent.parent
LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
GOALS = {"performance": 0.95, "accessibility": 1.0, "best-practices": 0.95, "seo": 0.95}
PAGES = ("home", "catalogue", "product", "cart", "checkout")


def main() -> int:
    args = parse_args()
    chrome = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
    if not LIGHTHOUSE.exists() or not Path(chrome).exists():
        print(f"needs {LIGHTHOUSE} (npm install) and Chromium at {chrome}", file=sys.stderr)
        return 2
    results: dict[str, Any] = {"goals": GOALS, "runs": args.runs, "form_factor": "mobile",
                               "pages": {}}
    missed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="comptoir-bench-lighthouse-") as tmp:
        folder = Path(tmp) / "shop"
        database = prepare_shop(folder, None)
        with gunicorn("app:create_app()", shop_env(folder, database, "memory"), ROOT) as (base, _):
            for slug in args.partners.split(","):
                for page, url, cookie in addresses(base, slug):
                    scores, failing = audit(url, cookie, chrome, args.runs, Path(tmp))
                    results["pages"][f"{slug} {page}"] = {"scores": scores, "failing": failing}
                    missed += [f"{slug} {page} {c} {scores[c]:.2f}" for c in CATEGORIES
                               if scores[c] < GOALS[c]]
    print_table(results["pages"])
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "lighthouse.json").write_text(json.dumps(results, indent=2))
    if missed:
        print("below their goals: " + "; ".join(missed), file=sys.stderr)
        return 1
    print("every goal reached")
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1,
                        help="audits of each page; the median score of each category counts")
    parser.add_argument("--partners", default="numeriland,novatech")
    return parser.parse_args()


def addresses(base: str, slug: str) -> list[tuple[str, str, str | None]]:
    """Each page's address, and the session cookie the cart and checkout need."""
    shop = f"{base}/p/{slug}"
    with urllib.request.urlopen(f"{shop}/products", timeout=10) as response:  # noqa: S310
        listing = response.read().decode()
    code = re.search(rf'href="/p/{slug}/products/([A-Za-z0-9._-]+)"', listing)
    if code is None:
        raise RuntimeError(f"no product on {slug}'s catalogue")
    cookie = cart_cookie(shop, code.group(1))
    return [("home", f"{shop}/", None), ("catalogue", f"{shop}/products", None),
            ("product", f"{shop}/products/{code.group(1)}", None),
            ("cart", f"{shop}/cart", cookie), ("checkout", f"{shop}/checkout", cookie)]


def cart_cookie(shop: str, code: str) -> str:
    """A session whose cart holds one of the product, added as the product page's form does."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(shop))
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{shop}/cart/add/{code}", data=urllib.parse.urlencode({"quantity": "1"}).encode(),
        headers={"Origin": origin, "Referer": f"{shop}/products/{code}"})
    with opener.open(request, timeout=10) as response:
        page = response.read().decode()
    if "cart" not in response.url or code not in page:
        raise RuntimeError(f"adding {code} to the cart did not reach the cart page")
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def audit(url: str, cookie: str | None, chrome: str, runs: int,
          tmp: Path) -> tuple[dict[str, float], list[str]]:
    """The median score of each category over `runs` audits, and the failing audits' titles."""
    found: dict[str, list[float]] = {c: [] for c in CATEGORIES}
    failing: set[str] = set()
    for n in range(runs):
        report = tmp / f"report-{n}.json"
        command = [str(LIGHTHOUSE), url, "--output=json", f"--output-path={report}", "--quiet",
                   f"--chrome-path={chrome}", "--chrome-flags=--headless=new --no-sandbox",
                   f"--only-categories={','.join(CATEGORIES)}"]
        if cookie:
            command.append("--extra-headers=" + json.dumps({"Cookie": cookie}))
        subprocess.run(command, check=True, cwd=tmp, timeout=240)  # noqa: S603 - fixed command
        data = json.loads(report.read_text())
        if data.get("finalDisplayedUrl", url).split("?")[0] != url:
            raise RuntimeError(f"{url} ended at {data.get('finalDisplayedUrl')}")
        for category in CATEGORIES:
            found[category].append(float(data["categories"][category]["score"] or 0.0))
            for ref in data["categories"][category]["auditRefs"]:
                result = data["audits"][ref["id"]]
                if ref["weight"] and result["score"] is not None and result["score"] < 0.9:
                    failing.add(f"{category}: {result['title']}{examples(result)}")
    return {c: statistics.median(v) for c, v in found.items()}, sorted(failing)


def examples(result: dict[str, Any]) -> str:
    """What a failing audit names: a few of its items' descriptions or addresses."""
    items = (result.get("details") or {}).get("items") or []
    named = [str(i.get("description") or i.get("url") or "")[:120] for i in items[:3]]
    return f" ({'; '.join(n for n in named if n)})" if any(named) else ""


def print_table(pages: dict[str, Any]) -> None:
    print(f"\n{'page':24}" + "".join(f"{c:>16}" for c in CATEGORIES))
    print(f"{'goal':24}" + "".join(f"{'>= ' + format(GOALS[c], 'g'):>16}" for c in CATEGORIES))
    for name, found in pages.items():
        row = "".join(f"{found['scores'][c]:>16.2f}" for c in CATEGORIES)
        print(f"{name:24}{row}")
        for title in found["failing"]:
            print(f"{'':26}- {title}")


if __name__ == "__main__":
    sys.exit(main())
