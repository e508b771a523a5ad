"""Fulfilment benchmark: what one paid order costs, and how many go through per second.

Both wholesaler simulators (arvato answers synchronously, nexway delivers later by signed
callback to the app served on loopback) and an SMTP server run in this process. The cost phase
runs the shop and its jobs here too (TASKS_EAGER: the relay and its consumers run in the paying
thread), so that this process's CPU time is the CPU of shop, worker and simulators together. The
throughput and offered-load phases run the shop as production does, in processes of its own
(`--processes`, spawned): a web process that receives the callbacks, and shop-and-worker
processes that confirm payments and run the relay, fulfilment and e-mail; their CPU, read from
/proc, is added to this process's. With `--workers N` the jobs go through Redis to N Celery worker
processes instead (threads pool), exactly as `comptoir worker` runs them.

For each database (PostgreSQL by default, SQLite as well), three phases:
- cost: single-line orders paid one after another, for each wholesaler; counts the SQL
  statements, the commits and the CPU time from payment to the buyer's e-mail, per order;
- throughput: N orders across two partners (one per wholesaler) paid from `--concurrency`
  threads at each simulator latency (0 ms and 200 ms): paid-to-e-mailed orders per second,
  p50/p99 from payment to e-mail, with the machine's load average beside them;
- offered load: orders paid at a steady `--rate` (50/s) for `--offered-seconds`; p99 from the
  moment each payment was due to its e-mail (open loop: a backlog counts against it).

Each run is checked before its numbers count: every order delivered, exactly one e-mail per
buyer, each simulator bought exactly once per line routed to it. The figures are then compared
with the goals (GOALS) and the script exits 1 when one is missed.

Run: `.venv/bin/python bench/bench_fulfilment.py [--databases postgresql,sqlite]
[--orders 200,60] [--concurrency 16] [--processes 3] [--workers 0] [--rate 50]
[--database-url URL]`
(or COMPTOIR_BENCH_DATABASE_URL). Prints tables and writes JSON to bench/results/fulfilment.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import math
import os
import platform
import queue
import secrets
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import create_engine, event, func, select, text
from werkzeug.serving import make_server

from app import create_app
from commerce.models import (
    FulfilmentStatus,
    Order,
    Partner,
    PartnerDomain,
    PartnerProduct,
    Product,
    ProductSku,
)
from commerce.orders import BuyerDetails, LineRequest, place_order
from extensions import db
from fulfilment import services
from fulfilment.models import (
    DeliveredUnit,
    FulfilmentAttempt,
    FulfilmentLine,
    LineStatus,
    OutgoingEmail,
)
from fulfilment.simulators import SimulatorHandle, start_simulator
from licensing.keys import ensure_signing_key
from payments.base import PaymentEvent, PaymentOutcome
from payments.services import ConfirmResult, confirm_payment

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/comptoir_bench"
BROKER = "redis://127.0.0.1:6379/13"  # the bench's own Redis database, for --workers
# The goals: per single-line order, and for the whole path on this 2-core machine.
GOALS = {
    "statements_per_order": ("<=", 30),
    "commits_per_order": ("<=", 4),
    "cpu_ms_per_order": ("<=", 10.0),
    "orders_per_s_0ms_postgresql": (">=", 150.0),
    "p99_ms_at_offered_rate": ("<=", 1000.0),
}
NEXWAY = {"api_key": "bench-nexway-key", "callback_secret": "bench-nexway-callback-secret"}
ARVATO = {"username": "comptoir", "password": "bench-arvato-password"}
OFFICE, M365 = "OFFICE-HOME-2024-WIN", "M365-FAMILY-1Y"
PARTNERS = {"arvato": "bench-oem", "nexway": "bench-retail"}


# -- the SMTP side ------------------------------------------------------------------------------


class Inbox:
    """aiosmtpd handler: when each message arrived (time.time(), comparable across processes)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrivals: dict[str, list[float]] = {}
        self.changed = threading.Condition(self.lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        now = time.time()
        with self.changed:
            for rcpt in envelope.rcpt_tos:
                self.arrivals.setdefault(rcpt.lower(), []).append(now)
            self.changed.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, recipients: set[str], timeout: float) -> bool:
        """Block until every recipient has at least one message, or the timeout passes."""
        deadline = time.perf_counter() + timeout
        with self.changed:
            while not recipients <= self.arrivals.keys():
                left = deadline - time.perf_counter()
                if left <= 0:
                    return False
                self.changed.wait(min(left, 0.5))
            return True

    def snapshot(self) -> dict[str, list[float]]:
        with self.lock:
            return {k: list(v) for k, v in self.arrivals.items()}


def free_port() -> int:
    with socket.socket() as probe:  # aiosmtpd's start-up self-check cannot connect to port 0
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Meter:
    """Counts SQL statements and commits on the app's engine, and this process's CPU time."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.statements = 0
        self.commits = 0
        self.cpu = 0.0
        self._lock = threading.Lock()

    def _statement(self, *args: Any) -> None:
        with self._lock:
            self.statements += 1

    def _commit(self, *args: Any) -> None:
        with self._lock:
            self.commits += 1

    def __enter__(self) -> Meter:
        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "commit", self._commit)
        self._cpu0 = time.process_time()  # every thread: shop, jobs, simulators, SMTP
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = time.process_time() - self._cpu0
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "commit", self._commit)


# -- the app ------------------------------------------------------------------------------------


def settings(database_url: str, instance: Path, smtp_port: int, sims: dict[str, SimulatorHandle],
             args: argparse.Namespace) -> dict[str, object]:
    """Settings for a throwaway app wired to the simulators and the SMTP server."""
    key = lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()  # noqa: E731
    return {
        "ENV": "testing",
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "LICENSING_KEK": key(),
        "VAULT_KEY": "v1:" + key(),
        "PRODUCT_KEYS_KEY": key(),
        "WEBHOOK_SECRETS_KEY": key(),
        "VAULT_DIR": str(instance / "vault"),
        "NEXWAY_API_KEY": NEXWAY["api_key"],
        "NEXWAY_CALLBACK_SECRET": NEXWAY["callback_secret"],
        "ARVATO_USERNAME": ARVATO["username"],
        "ARVATO_PASSWORD": ARVATO["password"],
        "RATELIMIT_ENABLED": False,
        "PLATFORM_HOSTS": "localhost,127.0.0.1",
        "SERVER_NAME": None,
        "TASKS_EAGER": True,
        "NEXWAY_URL": sims["nexway"].url,
        "ARVATO_URL": sims["arvato"].url,
        "WHOLESALER_TIMEOUT": 5.0, "WHOLESALER_CONNECT_TIMEOUT": 1.0,
        "WHOLESALER_RETRY_ATTEMPTS": 3, "WHOLESALER_RETRY_BASE": 0.01, "WHOLESALER_RETRY_CAP": 0.02,
        "FULFILMENT_MAX_ATTEMPTS": 3, "FULFILMENT_RETRY_BASE": 1.0,
        "FULFILMENT_POLL_INTERVAL": args.poll_interval,
        "MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_port,
    }


def reset_postgres(url: str) -> None:
    """Start from an empty public schema (the bench database is the bench's own, created when
    missing)."""
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                        {"n": target.database}).scalar() is None:
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def load_catalogue() -> dict[str, uuid.UUID]:
    """Two products sold by two partners: one contracted with arvato, one with nexway."""
    office = Product(code=OFFICE, family="office", name="Office Famille 2024", edition="Home 2024",
                     platform="windows", seats=1, seat_unit="device", licence_type="perpetual",
                     list_price_cents=14900, vat_rate=Decimal("20.00"),
                     description="Bench product.")
    office.skus = [ProductSku(wholesaler_code="nexway", sku="NX-OFF-HOME-24"),
                   ProductSku(wholesaler_code="arvato", sku="AR-OFF-HOME-24")]
    m365 = Product(code=M365, family="microsoft365", name="Microsoft 365 Famille", edition="Family",
                   platform="windows", seats=6, seat_unit="user", licence_type="subscription",
                   term_months=12, list_price_cents=12900, vat_rate=Decimal("20.00"),
                   description="Bench product.")
    m365.skus = [ProductSku(wholesaler_code="nexway", sku="NX-M365-FAM"),
                 ProductSku(wholesaler_code="arvato", sku="AR-M365-FAM")]
    ids = {}
    for code, slug in PARTNERS.items():
        kind = "oem" if code == "arvato" else "retail"
        partner = Partner(slug=slug, status="open", name=f"Bench {code}", kind=kind,
                          wholesaler_code=code,
                          support_email=f"support@{slug}.example",
                          legal_notice=f"{slug} SAS, 1 rue de la Paix, 75002 Paris.")
        partner.domains = [PartnerDomain(host=f"shop.{slug}.example")]
        for i, product in enumerate((office, m365)):
            partner.offers.append(PartnerProduct(
                product=product, price_cents=product.list_price_cents, position=i))
        db.session.add(partner)
        db.session.flush()
        ids[code] = partner.id
    db.session.commit()
    return ids


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """Serve the app on loopback in a thread, for the nexway callbacks."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="app-server")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@contextmanager
def watching_callbacks() -> Iterator[Counter[str]]:
    """Count what the app answered to each nexway callback (observes only, changes nothing).

    Each callback is recorded in the inbox and answered 202 ("recorded", or "duplicate" for a
    repeat); it is applied after, by its task or by the sweep when its line was busy.
    """
    seen: Counter[str] = Counter()
    original = services.receive_callback

    def observed(code: str, body: bytes, headers: Any) -> str:
        receipt = original(code, body, headers)
        seen[f"answered {receipt}"] += 1
        return receipt

    services.receive_callback = observed  # type: ignore[assignment]
    try:
        yield seen
    finally:
        services.receive_callback = original  # type: ignore[assignment]


@contextmanager
def sweeping(app: Flask, interval: float) -> Iterator[Counter[str]]:
    """Play the beat schedule: services.sweep() every `interval` seconds (0: never)."""
    stop = threading.Event()
    totals: Counter[str] = Counter()

    def loop() -> None:
        while not stop.wait(interval):
            with app.app_context():
                try:
                    report = services.sweep()
                except Exception:  # noqa: BLE001 - a failed sweep is retried next tick, as beat would
                    logging.getLogger("bench").exception("sweep failed")
                    totals["failed"] += 1
                    continue
                totals["lines_tried"] += report.lines_tried
                totals["events_delivered"] += report.events_delivered
                totals["callbacks_applied"] += report.callbacks_applied
                totals["emails_sent"] += report.emails_sent

    thread = threading.Thread(target=loop, name="sweeper")
    if interval > 0:
        thread.start()
    try:
        yield totals
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()


# -- shop and worker processes ------------------------------------------------------------------


def _payment(order_id: uuid.UUID, total_cents: int, currency: str) -> PaymentEvent:
    return PaymentEvent(f"evt_{order_id.hex}", "checkout.session.completed", PaymentOutcome.PAID,
                        order_id, None, total_cents, currency)


def _payer_process(settings_: dict[str, object], jobs: Any, results: Any, threads: int) -> None:
    """A shop-and-worker process: confirms the payments it is given; the relay, fulfilment and
    e-mail run in it (TASKS_EAGER), as a Celery worker would run them."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app = create_app(settings_)

    def work() -> None:
        with app.app_context():
            while (job := jobs.get()) is not None:
                order_id, total, currency, due = job
                if due:
                    time.sleep(max(0.0, due - time.time()))
                t0 = due or time.time()
                try:
                    result = str(confirm_payment(_payment(order_id, total, currency), "stripe"))
                except BaseException as exc:  # noqa: BLE001 - reported by the parent
                    result = f"raised {exc!r}"
                    db.session.rollback()
                finally:
                    db.session.remove()
                results.put((order_id, t0, result))

    pool = [threading.Thread(target=work, name=f"payer-{i}") for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def _server_process(settings_: dict[str, object], port: Any, stop: Any) -> None:
    """The shop's web process for the wholesalers' callbacks (applied in it, TASKS_EAGER)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = create_app(settings_)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    port.put(server.server_port)
    stop.wait()
    server.shutdown()
    thread.join()


def _worker_process(settings_: dict[str, object], threads: int) -> None:
    """A Celery worker, as `comptoir worker` runs one, on the bench's own queue (threads pool)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    create_app(settings_)
    from extensions import celery

    celery.worker_main(["worker", "--loglevel=WARNING", "-P", "threads",
                        f"--concurrency={threads}", "-Q", str(settings_["CELERY_QUEUE"]),
                        "--without-gossip", "--without-mingle", "--without-heartbeat"])


def _cpu_of(pid: int) -> float:
    """User and system CPU seconds of a live process, all its threads (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Processes:
    """The shop and its workers in processes of their own, as in production: one web process for
    callbacks and `count` payment processes of `threads` threads each (spawned, so nothing of this
    process's threads is inherited). The simulators and the SMTP server stay in this process."""

    def __init__(self, settings_: dict[str, object], count: int, threads: int,
                 workers: int = 0, worker_threads: int = 4) -> None:
        import multiprocessing

        self.ctx = multiprocessing.get_context("spawn")
        self.settings, self.count, self.threads = dict(settings_), count, threads
        self.workers, self.worker_threads = workers, worker_threads
        if workers:  # the jobs go through Redis to Celery workers, as in production
            self.settings.update(TASKS_EAGER=False, CELERY_BROKER_URL=BROKER,
                                 CELERY_QUEUE=f"bench-{secrets.token_hex(4)}")
        self.jobs = self.ctx.Queue()
        self.results = self.ctx.Queue()
        self.stop = self.ctx.Event()
        self.children: list[Any] = []

    def __enter__(self) -> Processes:
        port = self.ctx.Queue()
        server = self.ctx.Process(target=_server_process, args=(self.settings, port, self.stop),
                                  name="shop-web")
        server.start()
        self.children.append(server)
        self.settings["CALLBACK_BASE_URL"] = f"http://127.0.0.1:{port.get(timeout=60)}"
        for i in range(self.workers):
            worker = self.ctx.Process(target=_worker_process, name=f"celery-worker-{i}",
                                      args=(self.settings, self.worker_threads))
            worker.start()
            self.children.append(worker)
        for i in range(self.count):
            child = self.ctx.Process(target=_payer_process, name=f"shop-worker-{i}",
                                     args=(self.settings, self.jobs, self.results, self.threads))
            child.start()
            self.children.append(child)
        return self

    def __exit__(self, *exc: object) -> None:
        for _ in range(self.count * self.threads):
            self.jobs.put(None)
        self.stop.set()
        for child in self.children:
            if child.name.startswith("celery-worker"):
                child.terminate()  # a warm shutdown: it finishes what it holds
            child.join(timeout=30)
            if child.is_alive():
                child.kill()
        if self.workers:
            import redis

            with redis.Redis.from_url(BROKER) as broker:
                broker.delete(str(self.settings["CELERY_QUEUE"]))

    def cpu(self) -> float:
        return sum(_cpu_of(c.pid) for c in self.children if c.is_alive())

    def pay(self, placed: list[Placed], rate: float = 0.0) -> None:
        """Hand every payment to the processes (due times with a rate) and wait for them all."""
        start = time.time() + 0.05
        by_id = {p.order_id: p for p in placed}
        for i, p in enumerate(placed):
            due = start + i / rate if rate else 0.0
            self.jobs.put((p.order_id, p.total_cents, p.currency, due))
        for _ in placed:
            order_id, t0, result = self.results.get(timeout=300)
            by_id[order_id].t0, by_id[order_id].result = t0, result


# -- one run ------------------------------------------------------------------------------------


@dataclass
class Placed:
    order_id: uuid.UUID
    email: str
    wholesaler: str
    total_cents: int
    currency: str
    lines: int
    t0: float = 0.0
    result: str = ""


@dataclass
class RunResult:
    latency_ms: int
    orders: int
    concurrency: int
    timings: dict[str, Any] = field(default_factory=dict)


def place_orders(run: str, n: int, partners: dict[str, uuid.UUID],
                 two_line_share: float, only: str | None = None) -> list[Placed]:
    """n orders, alternating partners (or all at `only`'s); a share of them has a second line."""
    placed = []
    two_lines = set(range(0, n, max(1, round(1 / two_line_share)))) if two_line_share > 0 else set()
    two_lines |= {i + 1 for i in two_lines if i + 1 < n}  # both partners alike
    for i in range(n):
        code = only or ("arvato" if i % 2 == 0 else "nexway")
        partner = db.session.get(Partner, partners[code])
        assert partner is not None
        requests = [LineRequest(OFFICE, 1)] + ([LineRequest(M365, 1)] if i in two_lines else [])
        email = f"buyer-{run}-{i:05d}@bench.example"
        buyer = BuyerDetails(email, "Camille Martin")
        order = place_order(partner, requests, buyer, gateway="stripe")
        db.session.commit()
        placed.append(Placed(order.id, email, code, order.total_cents, order.currency,
                             len(requests)))
    return placed


def pay_all(app: Flask, placed: list[Placed], concurrency: int, rate: float = 0.0) -> None:
    """Confirm every payment from `concurrency` threads, each in its own app context.

    With a rate (payments per second), payment i is due at start + i / rate, and its latency
    counts from then (an open loop: time spent waiting for a free thread counts too).
    """
    work: queue.Queue[tuple[Placed, float]] = queue.Queue()
    start = time.time() + 0.05
    for i, p in enumerate(placed):
        work.put((p, start + i / rate if rate else 0.0))
    errors: list[BaseException] = []

    def worker() -> None:
        with app.app_context():
            while True:
                try:
                    p, due = work.get_nowait()
                except queue.Empty:
                    return
                if due:
                    time.sleep(max(0.0, due - time.time()))
                payment = PaymentEvent(f"evt_{p.order_id.hex}", "checkout.session.completed",
                                       PaymentOutcome.PAID, p.order_id, None, p.total_cents,
                                       p.currency)
                p.t0 = due or time.time()
                try:
                    p.result = str(confirm_payment(payment, "stripe"))
                except BaseException as exc:  # noqa: BLE001 - reported after the run
                    errors.append(exc)
                    db.session.rollback()
                finally:
                    db.session.remove()

    threads = [threading.Thread(target=worker, name=f"payer-{i}") for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} payments raised; first: {errors[0]!r}") from errors[0]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def run_once(app: Flask, sims: dict[str, SimulatorHandle], inbox: Inbox,
             partners: dict[str, uuid.UUID], latency_ms: int, n: int,
             args: argparse.Namespace, *, concurrency: int | None = None, rate: float = 0.0,
             only: str | None = None, processes: Processes | None = None) -> RunResult:
    """Place, pay, wait for every e-mail, check, and measure (in this process, or handing the
    payments to `processes`: then the CPU is theirs and this one's, and statements are not
    counted)."""
    concurrency = concurrency or args.concurrency
    if processes is not None:
        concurrency = processes.count * processes.threads
    for handle in sims.values():
        handle.reset()
        handle.configure(latency_ms=latency_ms, default_stock=1_000_000)
    sims["nexway"].configure(delivery_delay_ms=0)
    run = f"{latency_ms}ms-{secrets.token_hex(3)}"
    placed = place_orders(run, n, partners, args.two_line_share, only)
    recipients = {p.email for p in placed}
    load_before = os.getloadavg()

    with sweeping(app, args.sweep_interval) as sweeps, watching_callbacks() as callbacks:
        children_cpu = processes.cpu() if processes else 0.0
        with Meter(db.engine) as meter:
            if processes is not None:
                processes.pay(placed, rate)
            else:
                pay_all(app, placed, concurrency, rate)
            paid_done = time.time()
            arrived = inbox.wait_for(recipients, args.timeout)
        if processes is not None:
            meter.cpu += processes.cpu() - children_cpu
        time.sleep(0.3)  # let a duplicate e-mail, if any, arrive before counting
    if not arrived:
        missing = recipients - inbox.snapshot().keys()
        by_sim = Counter(p.wholesaler for p in placed if p.email in missing)
        diagnose([p for p in placed if p.email in missing], sims)
        raise AssertionError(f"{len(missing)} of {n} e-mails not arrived after "
                             f"{args.timeout:.0f} s ({dict(by_sim)}); the run does not count")
    arrivals = inbox.snapshot()
    check(placed, arrivals, sims)

    first_payment = min(p.t0 for p in placed)
    last_email = max(arrivals[p.email][0] for p in placed)
    wall = last_email - first_payment
    latencies = {p.email: arrivals[p.email][0] - p.t0 for p in placed}

    def summary(ps: list[Placed]) -> dict[str, float]:
        values = [latencies[p.email] * 1000 for p in ps]
        if not values:
            return {}
        return {"p50_ms": round(percentile(values, 50), 1),
                "p99_ms": round(percentile(values, 99), 1), "max_ms": round(max(values), 1),
                "mean_ms": round(statistics.fmean(values), 1)}

    delivered_by = how_delivered([p.order_id for p in placed if p.wholesaler == "nexway"])
    result = RunResult(latency_ms, n, concurrency)
    result.timings = {
        "wholesalers": only or "both",
        "rate_per_s": rate or None,
        "processes": (processes.count, processes.threads) if processes else None,
        "celery_workers": ((processes.workers, processes.worker_threads)
                           if processes and processes.workers else None),
        "statements_per_order": None if processes else round(meter.statements / n, 2),
        "commits_per_order": None if processes else round(meter.commits / n, 2),
        "cpu_ms_per_order": round(meter.cpu * 1000 / n, 2),
        "load_average": [round(x, 2) for x in (*load_before, *os.getloadavg())],
        "wall_s": round(wall, 3),
        "orders_per_s": round(n / wall, 2),
        "payments_s": round(paid_done - first_payment, 3),
        "lines": sum(p.lines for p in placed),
        "all": summary(placed),
        "arvato": summary([p for p in placed if p.wholesaler == "arvato"]),
        "nexway": summary([p for p in placed if p.wholesaler == "nexway"]),
        "nexway_lines_delivered_by": delivered_by,
        "sweeps": dict(sweeps),
        "nexway_callbacks": dict(callbacks),
    }
    return result


def diagnose(stuck: list[Placed], sims: dict[str, SimulatorHandle]) -> None:
    """Say where the orders whose e-mail never came stand (first five)."""
    db.session.expire_all()
    orders = sims["nexway"].state()["orders"]
    for p in stuck[:5]:
        lines = db.session.scalars(select(FulfilmentLine).where(
            FulfilmentLine.order_id == p.order_id))
        for line in lines:
            attempts = [(a.action, a.outcome, a.at.strftime("%S.%f")) for a in db.session.scalars(
                select(FulfilmentAttempt).where(FulfilmentAttempt.line_id == line.id)
                .order_by(FulfilmentAttempt.at))]
            sim = orders.get(line.supplier_reference or "", {})
            print(f"  {p.email}: line {line.status} at {line.wholesaler_code}, "
                  f"attempts {attempts}, next {line.next_attempt_at}, lease {line.lease_until}; "
                  f"simulator: {sim.get('status')}, callbacks {sim.get('callbacks')}",
                  file=sys.stderr)


def check(placed: list[Placed], arrivals: dict[str, list[float]],
          sims: dict[str, SimulatorHandle]) -> None:
    """Assert the run is right, so a broken run never reports numbers; name every problem found."""
    problems = []
    results = Counter(p.result for p in placed)
    if results != {str(ConfirmResult.PAID): len(placed)}:
        problems.append(f"payments: {dict(results)}")
    db.session.expire_all()
    ids = [p.order_id for p in placed]
    statuses = Counter(db.session.scalars(
        select(Order.fulfilment_status).where(Order.id.in_(ids))).all())
    if statuses != {FulfilmentStatus.DELIVERED: len(placed)}:
        problems.append(f"order statuses {dict(statuses)}")
    line_statuses = Counter(db.session.scalars(
        select(FulfilmentLine.status).where(FulfilmentLine.order_id.in_(ids))).all())
    n_lines = sum(p.lines for p in placed)
    if line_statuses != {LineStatus.DELIVERED: n_lines}:
        problems.append(f"line statuses {dict(line_statuses)} for {n_lines} lines")
    units = db.session.scalar(select(func.count()).select_from(DeliveredUnit).join(FulfilmentLine)
                              .where(FulfilmentLine.order_id.in_(ids)))
    if units != n_lines:
        problems.append(f"{units} units delivered for {n_lines} lines")
    emails = Counter(len(arrivals.get(p.email, [])) for p in placed)
    if emails != {1: len(placed)}:
        problems.append("e-mails per buyer " + ", ".join(
            f"{k}: {v} buyers" for k, v in sorted(emails.items())))
    owed = Counter(db.session.scalars(
        select(OutgoingEmail.kind).where(OutgoingEmail.order_id.in_(ids))).all())
    if owed != {"delivery": len(placed)}:
        problems.append(f"e-mails owed by kind {dict(owed)}")
    for code, handle in sims.items():
        expected = sum(p.lines for p in placed if p.wholesaler == code)
        purchases = handle.state()["purchases"]
        if purchases != expected:
            problems.append(f"{code} sold {purchases} times for {expected} lines")
    if problems:
        diagnose([p for p in placed if len(arrivals.get(p.email, [])) != 1], sims)
    assert not problems, "the run does not count: " + "; ".join(problems)


def how_delivered(order_ids: list[uuid.UUID]) -> dict[str, int]:
    """For the nexway lines: did the callback deliver them, or a later poll (sweep)?"""
    rows = db.session.execute(
        select(FulfilmentAttempt.action, func.count()).join(FulfilmentLine)
        .where(FulfilmentLine.order_id.in_(order_ids), FulfilmentAttempt.outcome == "delivered")
        .group_by(FulfilmentAttempt.action)).all()
    return {str(action): int(count) for action, count in rows}


# -- main ---------------------------------------------------------------------------------------


def main() -> None:
    """Run the benchmark, report, and exit 1 when a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="postgresql,sqlite",
                        help="which databases to run on, in order (postgresql, sqlite)")
    parser.add_argument("--database-url", default=os.environ.get("COMPTOIR_BENCH_DATABASE_URL"),
                        help="the PostgreSQL database, the bench's own (default "
                             f"{DEFAULT_POSTGRES}; env COMPTOIR_BENCH_DATABASE_URL)")
    parser.add_argument("--orders", default="200,60",
                        help="orders per throughput run, for each latency (one number: all)")
    parser.add_argument("--latencies", default="0,200", help="simulator latencies in ms")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="payments in flight at once (threads, over all the processes)")
    parser.add_argument("--workers", type=int, default=0,
                        help="Celery worker processes on Redis (threads pool) for the jobs of "
                             "the throughput phases; 0: the jobs run in the shop's processes")
    parser.add_argument("--worker-threads", type=int, default=4,
                        help="threads of each Celery worker")
    parser.add_argument("--processes", type=int, default=3,
                        help="shop-and-worker processes for the throughput and offered-load "
                             "phases, beside a web process for callbacks (0: all in this one)")
    parser.add_argument("--cost-orders", type=int, default=30,
                        help="single-line orders per wholesaler in the cost phase")
    parser.add_argument("--rate", type=float, default=50.0,
                        help="offered payments per second in the offered-load phase (0: skip)")
    parser.add_argument("--offered-seconds", type=float, default=4.0,
                        help="how long the offered-load phase pays at --rate")
    parser.add_argument("--timeout", type=float, default=90.0,
                        help="seconds to wait for the e-mails of a run")
    parser.add_argument("--sweep-interval", type=float, default=1.0,
                        help="seconds between sweeps (beat); 0: no sweeper")
    parser.add_argument("--two-line-share", type=float, default=0.0,
                        help="share of orders with a second line (0..1) in the throughput runs")
    parser.add_argument("--poll-interval", type=float, default=1.0,
                        help="FULFILMENT_POLL_INTERVAL: seconds before an accepted nexway "
                             "order may be polled")
    args = parser.parse_args()
    latencies = [int(x) for x in args.latencies.split(",")]
    counts = [int(x) for x in args.orders.split(",")]
    counts = (counts * len(latencies))[:len(latencies)] if len(counts) == 1 else counts
    if len(counts) != len(latencies):
        parser.error("--orders needs one number, or one per latency")
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    if not set(databases) <= {"postgresql", "sqlite"}:
        parser.error("--databases: postgresql and/or sqlite")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "concurrency": args.concurrency,
        "sweep_interval_s": args.sweep_interval,
        "poll_interval_s": args.poll_interval,
        "nexway_delivery_delay_ms": 0,
        "databases": {},
    }
    for database in databases:
        url = (args.database_url or DEFAULT_POSTGRES) if database == "postgresql" else None
        results["databases"][database] = run_database(database, url, args, latencies, counts)
    report(results)
    missed = check_goals(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fulfilment.json").write_text(json.dumps(results, indent=2) + "\n")
    print("written bench/results/fulfilment.json")
    if missed:
        print(f"goals missed: {len(missed)}", file=sys.stderr)
        sys.exit(1)


def run_database(database: str, url: str | None, args: argparse.Namespace,
                 latencies: list[int], counts: list[int]) -> dict[str, Any]:
    """Every phase on one database, with fresh simulators, SMTP server and app."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        with start_simulator("nexway", config={"delivery_delay_ms": 0}, **NEXWAY) as nexway, \
                start_simulator("arvato", **ARVATO) as arvato, tempfile.TemporaryDirectory() as tmp:
            sims = {"nexway": nexway, "arvato": arvato}
            instance = Path(tmp)
            if url is None:
                url = f"sqlite:///{instance / 'bench.db'}"
            else:
                reset_postgres(url)
            values = settings(url, instance, controller.port, sims, args)
            app = create_app(values)
            app.config["BENCH_SETTINGS"] = values  # the same keys for the child processes
            return bench(app, sims, inbox, args, latencies, counts)
    finally:
        controller.stop()


def bench(app: Flask, sims: dict[str, SimulatorHandle], inbox: Inbox, args: argparse.Namespace,
          latencies: list[int], counts: list[int]) -> dict[str, Any]:
    """Schema, catalogue, the served app and the sweeper; then the three phases."""
    def row(result: RunResult) -> dict[str, Any]:
        return {"latency_ms": result.latency_ms, "orders": result.orders,
                "concurrency": result.concurrency, **result.timings}

    with app.app_context():
        db.create_all()
        ensure_signing_key(actor="bench")
        partners = load_catalogue()
        out: dict[str, Any] = {"cost": [], "throughput": [], "offered": None}
        try:
            with served(app) as base_url:
                app.config["CALLBACK_BASE_URL"] = base_url
                run_once(app, sims, inbox, partners, 0, 10, args)  # warm-up: caches, pools
                for code in ("arvato", "nexway"):
                    out["cost"].append(row(run_once(app, sims, inbox, partners, 0,
                                                    args.cost_orders, args, concurrency=1,
                                                    only=code)))
                    print(f"  cost: {args.cost_orders} {code} orders checked", file=sys.stderr)
                with ExitStack() as stack:
                    processes = None
                    if args.processes > 0:
                        processes = stack.enter_context(Processes(
                            dict(app.config["BENCH_SETTINGS"]), args.processes,
                            max(1, args.concurrency // args.processes),
                            args.workers, args.worker_threads))
                        run_once(app, sims, inbox, partners, 0, 20, args, processes=processes)
                    for latency, n in zip(latencies, counts, strict=True):
                        out["throughput"].append(row(run_once(
                            app, sims, inbox, partners, latency, n, args, processes=processes)))
                        print(f"  {latency} ms: {n} orders checked", file=sys.stderr)
                    if args.rate > 0:
                        n = max(1, round(args.rate * args.offered_seconds))
                        out["offered"] = row(run_once(app, sims, inbox, partners, 0, n, args,
                                                      rate=args.rate, processes=processes))
                        print(f"  offered {args.rate:g}/s: {n} orders checked", file=sys.stderr)
        finally:
            db.session.remove()
            db.drop_all()
            db.engine.dispose()
    return out


def goal_figures(results: dict[str, Any]) -> dict[str, tuple[str, float]]:
    """Each goal's measured figure, with where it comes from (the worst where several)."""
    figures: dict[str, tuple[str, float]] = {}
    for database, out in results["databases"].items():
        for cost in out["cost"]:
            where = f"{database}, {cost['wholesalers']}"
            for key in ("statements_per_order", "commits_per_order", "cpu_ms_per_order"):
                if key not in figures or cost[key] > figures[key][1]:
                    figures[key] = (where, cost[key])
        if database == "postgresql":
            for run in out["throughput"]:
                if run["latency_ms"] == 0:
                    figures["orders_per_s_0ms_postgresql"] = (database, run["orders_per_s"])
        offered = out.get("offered")
        if offered and ("p99_ms_at_offered_rate" not in figures
                        or offered["all"]["p99_ms"] > figures["p99_ms_at_offered_rate"][1]):
            figures["p99_ms_at_offered_rate"] = (database, offered["all"]["p99_ms"])
    return figures


def check_goals(results: dict[str, Any]) -> list[str]:
    """Print each goal beside its figure; return the goals missed."""
    figures = goal_figures(results)
    results["goals"] = {}
    missed = []
    print("\ngoals (per single-line order where it says so; the worst figure measured):")
    for key, (op, goal) in GOALS.items():
        if key not in figures:
            print(f"  {key:32} goal {op} {goal:<8g} not measured in this run")
            continue
        where, value = figures[key]
        ok = value <= goal if op == "<=" else value >= goal
        ratio = value / goal if goal else 0.0
        results["goals"][key] = {"goal": f"{op} {goal}", "measured": value, "where": where,
                                 "ratio": round(ratio, 2), "met": ok}
        print(f"  {key:32} goal {op} {goal:<8g} measured {value:<9g} ({where}; "
              f"{ratio:.2f} of the goal) {'met' if ok else 'MISSED'}")
        if not ok:
            missed.append(key)
    return missed


def report(results: dict[str, Any]) -> None:
    """Print the tables."""
    print(f"fulfilment benchmark (Python {results['python']}, {results['cpus']} CPUs; "
          f"nexway delivers at once by callback; sweep every {results['sweep_interval_s']} s, "
          f"poll after {results['poll_interval_s']} s)")
    for database, out in results["databases"].items():
        print(f"\n== {database}")
        print("cost per single-line order, paid one after another (payment to e-mail):")
        print(f"{'wholesaler':>12}{'orders':>8}{'statements':>12}{'commits':>9}{'CPU ms':>9}"
              f"{'p50 ms':>9}")
        for c in out["cost"]:
            print(f"{c['wholesalers']:>12}{c['orders']:>8}{c['statements_per_order']:>12.1f}"
                  f"{c['commits_per_order']:>9.2f}{c['cpu_ms_per_order']:>9.1f}"
                  f"{c['all']['p50_ms']:>9.0f}")
        first = out["throughput"][0] if out["throughput"] else {}
        layout = (f"{first['processes'][0]} shop-and-worker processes of {first['processes'][1]} "
                  "threads and a web process for callbacks" if first.get("processes")
                  else f"{first.get('concurrency', 0)} threads in this process")
        if first.get("celery_workers"):
            layout = (f"{first['processes'][0]} shop processes of {first['processes'][1]} threads, "
                      f"a web process, {first['celery_workers'][0]} Celery workers of "
                      f"{first['celery_workers'][1]} threads on Redis")
        print(f"throughput ({layout}; both wholesalers; CPU of every process):")
        print(f"{'latency':>8}{'orders':>8}{'wall s':>8}{'orders/s':>10}{'p50 ms':>9}"
              f"{'p99 ms':>9}{'CPU ms/order':>14}  load average (1, 5, 15 min) before")
        runs = list(out["throughput"]) + ([out["offered"]] if out.get("offered") else [])
        for r in runs:
            label = f"{r['latency_ms']}ms" if not r.get("rate_per_s") else f"@{r['rate_per_s']:g}/s"
            load = ", ".join(f"{x:.2f}" for x in r["load_average"][:3])
            print(f"{label:>8}{r['orders']:>8}{r['wall_s']:>8.2f}{r['orders_per_s']:>10.1f}"
                  f"{r['all']['p50_ms']:>9.0f}{r['all']['p99_ms']:>9.0f}"
                  f"{r['cpu_ms_per_order']:>14.1f}  {load}")
        for r in runs:
            by = ", ".join(f"{k} {v}" for k, v in sorted(r["nexway_lines_delivered_by"].items()))
            print(f"  {r['latency_ms']} ms{' offered' if r.get('rate_per_s') else ''}: "
                  f"nexway lines delivered by {by or '-'}")


if __name__ == "__main__":
    main()
