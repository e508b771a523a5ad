"""Fulfilment benchmark: paid-to-delivered orders per second, and p50/p99 from payment to e-mail.

Both wholesaler simulators (arvato answers synchronously, nexway delivers later by signed
callback to the app served on loopback) and an SMTP server run in this process. For each
simulator latency (0 ms and 200 ms) the script places N orders across two partners (one per
wholesaler), confirms their payments from a few worker threads (the paid hand-off runs the
fulfilment task in-process, TASKS_EAGER) and waits until every buyer's e-mail has reached the
SMTP server. A sweeper thread plays the Celery beat sweep, with short intervals (--sweep-interval,
--poll-interval): it finishes what a lost hand-off or a lost callback left behind.

Each run is checked before its numbers count: every order delivered, exactly one e-mail per
buyer, each simulator bought exactly once per line routed to it.

Orders have one line by default. With --two-line-share above 0 (orders with two licences), two
lines of one order can settle in two workers at once (a callback and the sweep's poll, or the
hand-off and the sweep), and the buyer then gets a second, "rest of your licences" e-mail: the
check fails on it, by design. The table also says how each nexway line was delivered (its
callback, or a poll after the callback was answered 200 and dropped).

Run: `.venv/bin/python bench/bench_fulfilment.py [--orders 200,60] [--concurrency 8]
[--database-url URL]` (or COMPTOIR_BENCH_DATABASE_URL). Prints a table and writes JSON to
bench/results/fulfilment.json (and fulfilment-<database>.json).
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
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import create_engine, func, select, text
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
NEXWAY = {"api_key": "bench-nexway-key", "callback_secret": "bench-nexway-callback-secret"}
ARVATO = {"username": "comptoir", "password": "bench-arvato-password"}
OFFICE, M365 = "OFFICE-HOME-2024-WIN", "M365-FAMILY-1Y"
PARTNERS = {"arvato": "bench-oem", "nexway": "bench-retail"}


# -- the SMTP side ------------------------------------------------------------------------------


class Inbox:
    """aiosmtpd handler: when each message arrived (perf_counter), per recipient."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrivals: dict[str, list[float]] = {}
        self.changed = threading.Condition(self.lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        now = time.perf_counter()
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
    """Start from an empty public schema (the bench database is the bench's own)."""
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
        partner = Partner(slug=slug, name=f"Bench {code}", kind=kind, wholesaler_code=code,
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
                 two_line_share: float) -> list[Placed]:
    """n orders, alternating partners; a share of them has a second line (two purchases)."""
    placed = []
    two_lines = set(range(0, n, max(1, round(1 / two_line_share)))) if two_line_share > 0 else set()
    two_lines |= {i + 1 for i in two_lines if i + 1 < n}  # both partners alike
    for i in range(n):
        code = "arvato" if i % 2 == 0 else "nexway"
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


def pay_all(app: Flask, placed: list[Placed], concurrency: int) -> None:
    """Confirm every payment from `concurrency` threads, each in its own app context."""
    work: queue.Queue[Placed] = queue.Queue()
    for p in placed:
        work.put(p)
    errors: list[BaseException] = []

    def worker() -> None:
        with app.app_context():
            while True:
                try:
                    p = work.get_nowait()
                except queue.Empty:
                    return
                event = PaymentEvent(f"evt_{p.order_id.hex}", "checkout.session.completed",
                                     PaymentOutcome.PAID, p.order_id, None, p.total_cents,
                                     p.currency)
                p.t0 = time.perf_counter()
                try:
                    p.result = str(confirm_payment(event, "stripe"))
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
             args: argparse.Namespace) -> RunResult:
    """Place, pay, wait for every e-mail, check, and measure."""
    for handle in sims.values():
        handle.reset()
        handle.configure(latency_ms=latency_ms, default_stock=1_000_000)
    sims["nexway"].configure(delivery_delay_ms=0)
    run = f"{latency_ms}ms-{secrets.token_hex(3)}"
    placed = place_orders(run, n, partners, args.two_line_share)
    recipients = {p.email for p in placed}

    with sweeping(app, args.sweep_interval) as sweeps, watching_callbacks() as callbacks:
        pay_all(app, placed, args.concurrency)
        paid_done = time.perf_counter()
        arrived = inbox.wait_for(recipients, args.timeout)
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
        return {"p50_ms": round(percentile(values, 50), 1),
                "p99_ms": round(percentile(values, 99), 1), "max_ms": round(max(values), 1),
                "mean_ms": round(statistics.fmean(values), 1)}

    delivered_by = how_delivered([p.order_id for p in placed if p.wholesaler == "nexway"])
    result = RunResult(latency_ms, n, args.concurrency)
    result.timings = {
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
    """Run the benchmark and report."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", default="200,60",
                        help="orders per run, for 0 ms and 200 ms latency (one number: both)")
    parser.add_argument("--latencies", default="0,200", help="simulator latencies in ms")
    parser.add_argument("--concurrency", type=int, default=8, help="payment worker threads")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for the e-mails of a run")
    parser.add_argument("--sweep-interval", type=float, default=1.0,
                        help="seconds between sweeps (beat); 0: no sweeper")
    parser.add_argument("--two-line-share", type=float, default=0.0,
                        help="share of orders with a second line (0..1); above 0, two lines of "
                             "one order can finish in two workers at once (see the report)")
    parser.add_argument("--poll-interval", type=float, default=1.0,
                        help="FULFILMENT_POLL_INTERVAL: seconds before an accepted nexway "
                             "order may be polled")
    parser.add_argument("--database-url", default=os.environ.get("COMPTOIR_BENCH_DATABASE_URL"),
                        help="default: SQLite in a temporary directory "
                             "(env COMPTOIR_BENCH_DATABASE_URL)")
    args = parser.parse_args()
    latencies = [int(x) for x in args.latencies.split(",")]
    counts = [int(x) for x in args.orders.split(",")]
    counts = (counts * len(latencies))[:len(latencies)] if len(counts) == 1 else counts
    if len(counts) != len(latencies):
        parser.error("--orders needs one number, or one per latency")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        with start_simulator("nexway", config={"delivery_delay_ms": 0}, **NEXWAY) as nexway, \
                start_simulator("arvato", **ARVATO) as arvato, tempfile.TemporaryDirectory() as tmp:
            sims = {"nexway": nexway, "arvato": arvato}
            instance = Path(tmp)
            url = args.database_url or f"sqlite:///{instance / 'bench.db'}"
            if url.startswith("postgresql"):
                reset_postgres(url)
            app = create_app(settings(url, instance, controller.port, sims, args))
            results = bench(app, sims, inbox, args, latencies, counts)
    finally:
        controller.stop()
    report({
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "database": url.split(":", 1)[0].split("+", 1)[0],
        "concurrency": args.concurrency,
        "sweep_interval_s": args.sweep_interval,
        "two_line_share": args.two_line_share,
        "poll_interval_s": args.poll_interval,
        "nexway_delivery_delay_ms": 0,
        "runs": results,
    })


def bench(app: Flask, sims: dict[str, SimulatorHandle], inbox: Inbox, args: argparse.Namespace,
          latencies: list[int], counts: list[int]) -> list[dict[str, Any]]:
    """Schema, catalogue, the served app and the sweeper; then one run per latency."""
    with app.app_context():
        db.create_all()
        ensure_signing_key(actor="bench")
        partners = load_catalogue()
        results = []
        try:
            with served(app) as base_url:
                app.config["CALLBACK_BASE_URL"] = base_url
                for latency, n in zip(latencies, counts, strict=True):
                    result = run_once(app, sims, inbox, partners, latency, n, args)
                    results.append({"latency_ms": result.latency_ms, "orders": result.orders,
                                    **result.timings})
                    print(f"  {latency} ms: {n} orders checked", file=sys.stderr)
        finally:
            db.session.remove()
            db.drop_all()
            db.engine.dispose()
    return results


def report(results: dict[str, Any]) -> None:
    """Print the table and save the JSON."""
    print(f"fulfilment benchmark ({results['database']}, {results['concurrency']} payment threads, "
          f"Python {results['python']}, {results['cpus']} CPUs; nexway delivery delay 0 ms; "
          f"sweep every {results['sweep_interval_s']} s, "
          f"poll after {results['poll_interval_s']} s)")
    header = (f"{'latency':>8}{'orders':>8}{'lines':>7}{'wall s':>8}{'orders/s':>10}"
              f"{'p50 ms':>9}{'p99 ms':>9}{'arvato p50/p99':>17}{'nexway p50/p99':>17}"
              "  nexway lines delivered by")
    print(header)
    for r in results["runs"]:
        a, x = r["arvato"], r["nexway"]
        by = ", ".join(f"{k} {v}" for k, v in sorted(r["nexway_lines_delivered_by"].items()))
        print(f"{r['latency_ms']:>6}ms{r['orders']:>8}{r['lines']:>7}{r['wall_s']:>8.2f}"
              f"{r['orders_per_s']:>10.1f}{r['all']['p50_ms']:>9.0f}{r['all']['p99_ms']:>9.0f}"
              f"{a['p50_ms']:>8.0f} /{a['p99_ms']:>6.0f}{x['p50_ms']:>9.0f} /{x['p99_ms']:>6.0f}"
              f"  {by}")
    for r in results["runs"]:
        answers = ", ".join(f"{k} {v}" for k, v in sorted(r["nexway_callbacks"].items()))
        print(f"{r['latency_ms']:>6}ms nexway callbacks: {answers} (each recorded in the inbox "
              f"and answered 202, applied after)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    text_ = json.dumps(results, indent=2) + "\n"
    for name in ("fulfilment.json", f"fulfilment-{results['database']}.json"):
        (RESULTS / name).write_text(text_)
    print(f"written bench/results/fulfilment.json and fulfilment-{results['database']}.json")


if __name__ == "__main__":
    main()
