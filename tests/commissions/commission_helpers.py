"""Shared values and helpers of the commission tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

from flask import Flask
from support.processes import PATIENCE, join_all

from commerce.models import Order, OrderLine
from commissions import Rates

RATES = Rates.from_json({
    "perpetual": {"office": "0.08", "windows": "0.05", "visio": "0.10", "project": "0.10",
                  "*": "0.05"},
    "addons": {"backup": "0.30", "install": "0.40"},
    "subscription": {"first_year": "0.12", "first_year_bonus": "0.06", "renewal": "0.06",
                     "upsell": "0.12", "upsell_bonus": "0.06"},
})
PROGRAMME_START = datetime(2026, 1, 1, tzinfo=UTC)


def at(month: int, day: int, hour: int = 10, year: int = 2026) -> datetime:
    """A UTC time in the tests' calendar."""
    return datetime(year, month, day, hour, tzinfo=UTC)


def line_of(order: Order, code: str) -> OrderLine:
    """The order's line for a product code."""
    return next(line for line in order.lines if line.product_code == code)


def race(app: Flask, work: Callable[[], object], threads_n: int = 8) -> list[BaseException]:
    """Run `work` in as many threads at once, each in its own app context and session, and
    commit each; the errors raised."""
    from extensions import db

    db.session.remove()
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def run() -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=PATIENCE)
                work()
                db.session.commit()  # as a relay or a job does
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    join_all(threads)
    return errors
