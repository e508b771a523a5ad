"""Pages at the framework's speed: the shop's pages beside a bare Flask hello-world.

Each server is gunicorn with the settings `comptoir serve` uses (2 workers, gthread, 4 threads;
without the access log, for both), loaded by wrk with 32 connections:

- (a) a bare Flask app answering "Hello, World!";
- (b) the shop with the demo data (`comptoir db upgrade`, `comptoir demo load`), page cache on:
  the anonymous catalogue page and a product page;
- (c) the same shop with the page cache off (COMPTOIR_PAGE_CACHE=off): the product page
  rendered by the whole Flask pipeline (limiter, partner resolution, session, Babel, the ORM,
  WTForms, Jinja) for a visitor without a session, as on any cache miss.

Hello-world and the cached pages are measured in turn, --rounds times (3), and the median run
of each counts: this machine's load changes from one minute to the next, and each ratio then
compares runs of the same minutes.

Figures, with their goals: the cached pages' requests per second over hello-world's (>= 0.8)
and their p99 latency (< 50 ms); the uncached product page's CPU per request (<= 3 ms), the
gunicorn workers' user+system time (/proc/<pid>/stat) over a run divided by its requests,
printed beside hello-world's. Then each page is checked: 200, with the product's name.

Run on SQLite, and on PostgreSQL when it answers (a database of the bench's own,
`comptoir_bench_pages`, dropped and created again): `.venv/bin/python bench/bench_pages.py
[--duration 8] [--rounds 3] [--connections 32] [--database-url URL | --no-postgres]`. Needs wrk
(`apt-get install -y wrk`, or `make bench-deps`). Everything the servers write (the instance
folder with its generated development secrets, the SQLite database) is in a temporary folder,
never in the checkout. Writes bench/results/pages.json; exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/comptoir_bench_pages"
SLUG = "numeriland"
RATIO_GOAL = 0.8
P99_GOAL_MS = 50.0
CPU_GOAL_MS = 3.0
HELLO = '''from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "Hello, World!"
'''


@dataclass
class Run:
    name: str
    requests: int
    seconds: float
    req_per_s: float
    p99_ms: float
    errors: int
    cpu_ms_per_request: float


def main() -> int:
    args = parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is missing: install it with `apt-get install -y wrk` (or `make bench-deps`)",
              file=sys.stderr)
        return 2
    databases = [("sqlite", None)]
    if not args.no_postgres:
        if postgres_reachable(args.database_url):
            databases.append(("postgresql", args.database_url))
        else:
            print(f"PostgreSQL does not answer at {args.database_url}: SQLite only")
    results: dict[str, dict[str, object]] = {}
    missed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="comptoir-bench-pages-") as tmp:
        base = Path(tmp)
        (base / "hello.py").write_text(HELLO)
        for label, url in databases:
            figures, failures = bench_shop(base, label, url, wrk, args)
            results[label] = figures
            missed += failures
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "pages.json").write_text(json.dumps(results, indent=2))
    if missed:
        print("missed: " + "; ".join(missed), file=sys.stderr)
        return 1
    print("every goal reached")
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int,
                        default=int(os.environ.get("COMPTOIR_BENCH_DURATION", "8")))
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3,
                        help="runs of each server, taken in turn; the median counts")
    parser.add_argument("--database-url",
                        default=os.environ.get("COMPTOIR_BENCH_DATABASE_URL", DEFAULT_DATABASE))
    parser.add_argument("--no-postgres", action="store_true")
    return parser.parse_args()


def postgres_reachable(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(_admin_dsn(url), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _admin_dsn(url: str) -> str:
    """The server's maintenance database, from a SQLAlchemy URL of the bench's database."""
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    return plain.rsplit("/", 1)[0] + "/postgres"


def recreate_postgres(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"refusing to drop a database named {name!r}")
    with psycopg.connect(_admin_dsn(url), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def shop_env(folder: Path, database_url: str, page_cache: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPTOIR_")}
    env.update({
        "COMPTOIR_ENV": "development",
        "COMPTOIR_INSTANCE_PATH": str(folder / "instance"),
        "COMPTOIR_DATABASE_URL": database_url,
        "COMPTOIR_PAGE_CACHE": page_cache,
        "PYTHONPATH": str(ROOT),
    })
    return env


def prepare_shop(folder: Path, url: str | None) -> str:
    """A migrated database with the demo loaded; its URL."""
    folder.mkdir(parents=True, exist_ok=True)
    if url is None:
        url = f"sqlite:///{folder / 'bench.db'}"
    else:
        recreate_postgres(url)
    env = shop_env(folder, url, "off")
    for command in (["db", "upgrade"], ["demo", "load"]):
        subprocess.run([PYTHON, "-c", "from app import cli; cli()", *command], cwd=ROOT,  # noqa: S603 - our own CLI
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def gunicorn(app: str, env: dict[str, str], cwd: Path) -> Iterator[tuple[str, int]]:
    """gunicorn as `comptoir serve` runs it: 2 workers, gthread, 4 threads."""
    port = free_port()
    command = [PYTHON, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
               "--worker-class", "gthread", "--threads", "4", "--log-level", "warning", app]
    process = subprocess.Popen(command, cwd=cwd, env=env)  # noqa: S603 - a fixed command line
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/", timeout=2).read()  # noqa: S310 - loopback
                break
            except OSError as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start: {app}") from exc
                time.sleep(0.2)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def worker_cpu_seconds(master: int) -> float:
    """User and system time of the master's children (the workers), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    total = 0
    for pid in children:
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(wrk: str, name: str, url: str, master: int, args: argparse.Namespace) -> Run:
    def once(seconds: int) -> tuple[str, float]:
        before = worker_cpu_seconds(master)
        output = subprocess.run(  # noqa: S603 - wrk on loopback
            [wrk, "-t2", f"-c{args.connections}", f"-d{seconds}s", "--latency", url],
            capture_output=True, text=True, check=True).stdout
        return output, worker_cpu_seconds(master) - before

    once(2)  # warm up: every worker's first pages, caches filled
    output, cpu = once(args.duration)
    count = re.search(r"(\d+) requests in ([\d.]+)(\w+)", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
    if not (count and rate and p99):
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    requests = int(count.group(1))
    bad = int(errors.group(1)) if errors else 0
    if socket_errors:
        bad += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return Run(name, requests, float(count.group(2)), float(rate.group(1)),
               float(p99.group(1)) * UNITS[p99.group(2)], bad,
               1000.0 * cpu / max(requests, 1))


def median(runs: list[Run]) -> Run:
    """The run of median throughput; its CPU per request over every round."""
    middle = sorted(runs, key=lambda r: r.req_per_s)[len(runs) // 2]
    requests = sum(r.requests for r in runs)
    cpu = sum(r.cpu_ms_per_request * r.requests for r in runs) / max(requests, 1)
    return Run(middle.name, middle.requests, middle.seconds, middle.req_per_s, middle.p99_ms,
               sum(r.errors for r in runs), cpu)


def fetch(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        return response.status, response.read().decode()


def a_product(base_url: str) -> tuple[str, str]:
    """The first product of the demo shop's catalogue: its code and its name."""
    status, html = fetch(f"{base_url}/p/{SLUG}/products")
    if status != 200:
        raise RuntimeError(f"the catalogue answered {status}")
    code = re.search(rf'href="/p/{SLUG}/products/([A-Za-z0-9._-]+)"', html)
    if code is None:
        raise RuntimeError("no product on the demo catalogue")
    status, page = fetch(f"{base_url}/p/{SLUG}/products/{code.group(1)}")
    name = re.search(r"<h1>([^<]+)</h1>", page)
    if status != 200 or name is None:
        raise RuntimeError("the product page has no name")
    return code.group(1), name.group(1).strip()


def bench_shop(base: Path, label: str, url: str | None, wrk: str,
               args: argparse.Namespace) -> tuple[dict[str, object], list[str]]:
    """Hello-world and the cached pages in turn, `rounds` times (the machine's load changes
    from one run to the next: each ratio compares runs of the same minutes), then the uncached
    product page."""
    folder = base / label
    database = prepare_shop(folder, url)
    runs: dict[str, Run] = {}
    checks: list[str] = []
    bare = {k: v for k, v in os.environ.items() if not k.startswith("COMPTOIR_")}
    with gunicorn("hello:app", bare, base) as (hello_url, hello_pid), \
            gunicorn("app:create_app()", shop_env(folder, database, "memory"), ROOT) as (shop, pid):
        code, name = a_product(shop)
        pages = {"catalogue": f"{shop}/p/{SLUG}/products",
                 "product": f"{shop}/p/{SLUG}/products/{code}"}
        rounds: dict[str, list[Run]] = {"hello": [], **{page: [] for page in pages}}
        for _ in range(args.rounds):
            rounds["hello"].append(run_wrk(wrk, "hello", hello_url + "/", hello_pid, args))
            for page, address in pages.items():
                rounds[page].append(run_wrk(wrk, f"{label} {page} (cached)", address, pid, args))
        runs = {name_: median(found) for name_, found in rounds.items()}
        for page, address in pages.items():
            status, html = fetch(address)
            if status != 200 or name not in html:
                checks.append(f"{label}: the cached {page} page answered {status} without "
                              f"{name!r}")
    with gunicorn("app:create_app()", shop_env(folder, database, "off"), ROOT) as (base, pid):
        address = f"{base}/p/{SLUG}/products/{code}"
        runs["uncached product"] = run_wrk(wrk, f"{label} product (uncached)", address, pid, args)
        status, html = fetch(address)
        if status != 200 or name not in html:
            checks.append(f"{label}: the uncached product page answered {status} without "
                          f"{name!r}")
    return report(label, runs, checks)


def report(label: str, runs: dict[str, Run],
           checks: list[str]) -> tuple[dict[str, object], list[str]]:
    missed = list(checks)
    hello = runs["hello"]
    print(f"{label} run, hello-world: {hello.req_per_s:.0f} req/s, p99 {hello.p99_ms:.1f} ms, "
          f"{hello.cpu_ms_per_request:.3f} ms CPU per request")
    for page in ("catalogue", "product"):
        run = runs[page]
        ratio = run.req_per_s / hello.req_per_s
        print(f"{label} {page} page (cached): {run.req_per_s:.0f} req/s = {ratio:.2f} x "
              f"hello-world (goal >= {RATIO_GOAL}), p99 {run.p99_ms:.1f} ms "
              f"(goal < {P99_GOAL_MS:.0f} ms; hello-world's {hello.p99_ms:.1f} ms), "
              f"{run.cpu_ms_per_request:.3f} ms CPU per request "
              f"({run.cpu_ms_per_request / max(hello.cpu_ms_per_request, 1e-9):.2f} x "
              "hello-world's)")
        if ratio < RATIO_GOAL:
            missed.append(f"{label} {page}: {ratio:.2f} x hello-world's req/s")
        if run.p99_ms >= P99_GOAL_MS:
            missed.append(f"{label} {page}: p99 {run.p99_ms:.1f} ms")
        if run.errors:
            missed.append(f"{label} {page}: {run.errors} failed requests")
    uncached = runs["uncached product"]
    cpu_ratio = uncached.cpu_ms_per_request / max(hello.cpu_ms_per_request, 1e-9)
    print(f"{label} product page (uncached): {uncached.cpu_ms_per_request:.2f} ms CPU per "
          f"request (goal <= {CPU_GOAL_MS:.0f} ms) = {cpu_ratio:.1f} x hello-world's "
          f"{hello.cpu_ms_per_request:.3f} ms; {uncached.req_per_s:.0f} req/s, "
          f"p99 {uncached.p99_ms:.1f} ms")
    if uncached.cpu_ms_per_request > CPU_GOAL_MS:
        missed.append(f"{label} uncached product: {uncached.cpu_ms_per_request:.2f} ms CPU "
                      "per request")
    if uncached.errors:
        missed.append(f"{label} uncached product: {uncached.errors} failed requests")
    for check in checks:
        print(check)
    figures: dict[str, object] = {name: asdict(run) for name, run in runs.items()}
    return figures, missed


if __name__ == "__main__":
    sys.exit(main())
