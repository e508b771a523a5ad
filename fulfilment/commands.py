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
    """Run a Celery worker on the configured broker (extra arguments go to Celery).

    Without -Q it takes the jobs' queue and the webhooks' queue; production runs webhooks on
    workers of their own (`comptoir worker -Q webhooks`, and `-Q celery` for the rest), so that a
    slow partner endpoint never holds a worker that delivers licences."""
    _require_broker()
    queues: list[str] = []
    if not any(a in ("-Q", "--queues") or a.startswith(("-Q", "--queues=")) for a in celery_args):
        from flask import current_app

        queues = ["-Q", ",".join(dict.fromkeys([
            str(current_app.config.get("CELERY_QUEUE") or "celery"),
            str(current_app.config.get("WEBHOOK_QUEUE") or "webhooks")]))]
    celery.worker_main(["worker", "--loglevel=INFO", *queues, *celery_args])


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
    """Push on what is due: event deliveries, line retries and polls, callbacks, e-mails."""
    from fulfilment.services import sweep

    while True:
        report = sweep()
        if report.lines_tried or report.events_delivered or report.events_failed or \
                report.callbacks_applied or report.emails_sent or interval is None:
            click.echo(_describe(report))
        db.session.remove()
        if interval is None:
            return
        time.sleep(interval)


def _describe(report) -> str:  # type: ignore[no-untyped-def]
    results = ", ".join(f"{n} {status}" for status, n in sorted(report.line_results.items()))
    return (f"sweep: {report.events_delivered} event deliveries done, {report.events_failed} "
            f"failed; {report.lines_tried} lines tried{f' ({results})' if results else ''}; "
            f"{report.callbacks_applied} callbacks applied; {report.emails_sent} e-mails sent")


@fulfilment_group.command("retry")
@click.argument("order_line_id", required=False)
@click.option("--due-only", is_flag=True,
              help="Only what is due now (the periodic sweep's behaviour); default: everything.")
@with_appcontext
def retry_command(order_line_id: str | None, due_only: bool) -> None:
    """Try waiting work again now: every open line and pending event delivery, or one line.

    With ORDER_LINE_ID, a line waiting for an operator (needs attention) is tried again.
    Without it, every line still on its way and every pending event delivery is tried now,
    whatever its retry time, unless --due-only; then it prints how many still wait.
    """
    from fulfilment.operations import OperationError, retry_now
    from fulfilment.services import retry_waiting

    if order_line_id:
        try:
            status = retry_now(uuid.UUID(order_line_id), actor="cli")
        except (ValueError, OperationError) as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"line {order_line_id}: {status}")
        return
    report = retry_waiting(due_only=due_only)
    click.echo(_describe(report))
    click.echo(f"still waiting: {report.lines_waiting} lines, {report.deliveries_waiting} event "
               f"deliveries, {report.callbacks_waiting} callbacks, "
               f"{report.attention} lines need an operator")


def init_app(app: Flask) -> None:
    for command in (worker, scheduler, fulfilment_group):
        app.cli.add_command(command)
