"""Job commands: `comptoir worker`, `comptoir scheduler`, `comptoir fulfilment sweep|retry`."""

from __future__ import annotations

import time
import uuid

import click
from flask import Flask
from flask.cli import with_appcontext

from extensions import celery, db


@click.command("worker", context_settings={"ignore_unknown_options": True})
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
@with_appcontext
def worker(celery_args: tuple[str, ...]) -> None:
    """Run a Celery worker on the configured broker (extra arguments go to Celery)."""
    _require_broker()
    celery.worker_main(["worker", "--loglevel=INFO", *celery_args])


@click.command("scheduler", context_settings={"ignore_unknown_options": True})
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
@with_appcontext
def scheduler(celery_args: tuple[str, ...]) -> None:
    """Run the one Celery beat that queues the periodic sweep (run exactly one)."""
    _require_broker()
    celery.start(["beat", "--loglevel=INFO", *celery_args])


def _require_broker() -> None:
    if celery.conf.task_always_eager:
        raise click.ClickException(
            "jobs run in-process here (COMPTOIR_TASKS_EAGER): set it to false "
            "and COMPTOIR_CELERY_BROKER_URL to run workers"
        )


@click.group("fulfilment")
def fulfilment_group() -> None:
    """Fulfilment maintenance."""


@fulfilment_group.command("sweep")
@click.option(
    "--loop",
    "interval",
    type=float,
    default=None,
    help="Sweep again every INTERVAL seconds until stopped.",
)
@with_appcontext
def sweep_command(interval: float | None) -> None:
    """Finish paid orders that were lost, crashed or are due for a retry."""
    from fulfilment.services import sweep

    while True:
        report = sweep()
        if report.orders_started or report.lines_tried or report.emails_sent or interval is None:
            click.echo(
                f"sweep: {report.orders_started} orders started, {report.lines_tried} lines tried "
                f"{report.line_results}, {report.emails_sent} e-mails sent"
            )
        db.session.remove()
        if interval is None:
            return
        time.sleep(interval)


@fulfilment_group.command("retry")
@click.argument("order_line_id")
@with_appcontext
def retry_command(order_line_id: str) -> None:
    """Try a needs-attention line again now."""
    from fulfilment.operations import retry_now

    status = retry_now(uuid.UUID(order_line_id), actor="cli")
    click.echo(f"line {order_line_id}: {status}")


def init_app(app: Flask) -> None:
    for command in (worker, scheduler, fulfilment_group):
        app.cli.add_command(command)
