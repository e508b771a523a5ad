"""Storefront commands: demo data, demo credentials, serving."""

from __future__ import annotations

import faulthandler
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import click
from flask import Flask, current_app
from flask.cli import with_appcontext


@click.group("demo")
def demo_group() -> None:
    """Demo data for trying the shop."""


@demo_group.command("load")
@click.option("--history/--no-history", default=True, show_default=True,
              help="Also give the demo buyer and a reseller a history of orders (made once).")
@with_appcontext
def demo_load(history: bool) -> None:
    """Create or refresh the demo partners, catalogue and logins, and their history (idempotent)."""
    import demo

    if current_app.config["ENV"] == "production":
        raise click.ClickException("demo data is refused in production")
    counts = demo.load(history=history)
    click.echo(
        f"demo data ready: {counts['partners']} partners, {counts['products']} products, "
        f"{counts['logins']} logins"
    )
    if counts["history_orders"]:
        click.echo(f"demo history made: {counts['history_orders']} orders, their deliveries, "
                   "a refund, a subscription and a reseller's payout")
    elif history:
        click.echo("demo history already there (the demo buyer has orders): nothing added")


@click.command("demo-credentials")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option(
    "--base-url", default=None, help="Where the shop is served (default http://127.0.0.1:$PORT)."
)
@with_appcontext
def demo_credentials(as_json: bool, base_url: str | None) -> None:
    """Print the demo partners, logins and keys."""
    import demo

    base = base_url or f"http://127.0.0.1:{os.environ.get('PORT', '5000')}"
    data = demo.credentials(base)
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    click.echo(render_credentials(data, base))


def render_credentials(data: dict[str, Any], base: str) -> str:
    lines = [f"Comptoir is served on {base}/", "", "Partner shops:"]
    for p in data["partners"]:
        port = base.rsplit(":", 1)[-1] if base.count(":") == 2 else ""
        own_host = f"http://{p['host']}:{port}/" if p["host"] and port else f"http://{p['host']}/"
        lines.append(f"  {p['name']:<28} {p['kind']:<8} {p['url']}   (also {own_host})")
        if p.get("api_key"):
            lines.append(f"  {'':<28} API key: {p['api_key']}")
    logins = data["logins"]
    lines += [
        "",
        f"Buyer login:    {logins['buyer']['email']} / {logins['buyer']['password']}",
        f"Operator login: {logins['operator']['email']} / {logins['operator']['password']}"
        f"  -> {base}/admin/",
        f"                then a two-step code: `comptoir users totp-code "
        f"{logins['operator']['email']}` (or add the secret "
        f"{logins['operator'].get('totp_secret') or '-'} to an authenticator app)",
        "Test card:      4242 4242 4242 4242 (4000 0000 0000 0002 is declined)",
        f"Caught e-mails: {base}/dev/mail",
    ]
    for r in data.get("resellers", []):
        lines.append(f"Reseller {r['code']} ({r['partner']}): {r['email']} / {r['password']}")
    return "\n".join(lines)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    default=lambda: int(os.environ.get("PORT", "5000")),
    type=int,
    help="Port (default $PORT or 5000).",
)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option(
    "--embedded/--no-embedded",
    default=None,
    help="Also run both wholesaler simulators and the fulfilment sweeper "
    "(default: on in development, never in production).",
)
@with_appcontext
def serve(host: str, port: int, workers: int, embedded: bool | None) -> None:
    """Serve the shop with gunicorn (and, in development, what the shop talks to)."""
    from gunicorn.app.base import BaseApplication

    master_app = current_app._get_current_object()  # type: ignore[attr-defined]
    production = master_app.config["ENV"] == "production"
    if embedded and production:
        raise click.ClickException(
            "the simulators and the in-process sweeper are refused in production"
        )
    refusal = _port_taken(host, port)
    if refusal:
        raise click.ClickException(
            f"the shop cannot listen on {host}:{port} ({refusal}): another program holds that "
            "port. Serve on another one with --port N (or PORT=N make run)."
        )
    helpers: list[subprocess.Popen[bytes]] = []
    if embedded if embedded is not None else not production:
        base = f"http://{host}:{port}"
        os.environ.setdefault("COMPTOIR_CALLBACK_BASE_URL", base)
        os.environ.setdefault("COMPTOIR_PUBLIC_URL", base)
        helpers = _start_embedded_helpers(master_app, float(current_app.config["SWEEP_INTERVAL"]))

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", 4)
            self.cfg.set("accesslog", "-")
            # Link tokens (order, backup, confirmation links) never reach the access log.
            self.cfg.set("logger_class", "storefront.security.redact.RedactingGunicornLogger")
            # Forwarded headers are read by the app, through COMPTOIR_TRUSTED_PROXIES only.
            self.cfg.set("forwarded_allow_ips", "")
            # One control socket per user would be shared by every server on the machine.
            self.cfg.set("control_socket_disable", True)
            self.cfg.set("post_fork", lambda server, worker: _in_new_worker(master_app))

        def load(self) -> Flask:
            from app import create_app

            return create_app()

    try:
        Server().run()
    finally:
        _stop(helpers)


def _in_new_worker(master_app: Flask) -> None:
    """Right after fork: keep faulthandler on, and own no pooled connection of the master's."""
    # A segfault in C code (libpq, OpenSSL) then still leaves every thread's traceback in the log.
    faulthandler.enable(all_threads=True)
    # The master built an app to read its settings; a connection it ever pooled must not be
    # reused by a worker, which would share the socket with the master and its sibling workers.
    # (Each worker builds its own app after the fork; see Server.load.)
    from extensions import db

    with master_app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)


@dataclass(frozen=True)
class Simulated:
    """A simulator `comptoir serve` runs beside the shop in development."""

    name: str
    setting: str  # the URL setting the shop calls it at; the simulator listens on its port
    command: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.name} simulator"


SIMULATED = (
    Simulated("Nexway", "NEXWAY_URL", ("wholesaler-sim", "nexway")),
    Simulated("Arvato", "ARVATO_URL", ("wholesaler-sim", "arvato")),
    Simulated("VIES", "VIES_URL", ("vat", "vies-sim")),
)
LOOPBACK = ("127.0.0.1", "localhost")
START_PATIENCE = 30.0  # seconds a simulator has to accept connections


def _port_taken(host: str, port: int) -> str | None:
    """Why host:port cannot be listened on (another program holds it), or None when it can."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _start_embedded_helpers(app: Flask, sweep_interval: float) -> list[subprocess.Popen[bytes]]:
    """The wholesaler and VIES simulators (those whose URL is on loopback), and the sweeper
    loops, as child processes of the server; each simulator is checked to be listening before
    the shop starts. A port already taken stops everything with a message saying how to move
    it."""
    command = [sys.executable, "-c", "from app import cli; cli()"]
    simulated: list[tuple[Simulated, int]] = []
    elsewhere: list[str] = []
    for sim in SIMULATED:
        url = urlsplit(str(app.config[sim.setting]))
        if url.hostname not in LOOPBACK or not url.port:
            elsewhere.append(f"  {sim.name} is called at {url.geturl()} (not simulated)")
            continue
        refusal = _port_taken("127.0.0.1", url.port)
        if refusal:
            raise click.ClickException(
                f"the {sim.label} cannot listen on port {url.port} ({refusal}): another program "
                f"holds it. Move the simulator with COMPTOIR_{sim.setting}=http://127.0.0.1:PORT "
                "(a free port), or stop what listens there."
            )
        simulated.append((sim, url.port))
    loop = str(min(sweep_interval, 10.0))
    jobs = (
        ("fulfilment", "sweep", "--loop", loop),
        ("refunds", "retry", "--loop", loop),
        # Subscriptions renew on the real clock here too: the hourly job, every minute.
        ("subscriptions", "renew-due", "--loop", "60"),
    )
    helpers: list[subprocess.Popen[bytes]] = []
    try:
        started = [(sim, port, subprocess.Popen([*command, *sim.command]))  # noqa: S603 - our CLI
                   for sim, port in simulated]
        helpers += [process for _sim, _port, process in started]
        _wait_until_listening(started)
        helpers += [subprocess.Popen([*command, *job]) for job in jobs]  # noqa: S603 - our CLI
    except BaseException:
        _stop(helpers)
        raise
    lines = ["development: beside the shop,"]
    lines += [f"  {sim.label} on http://127.0.0.1:{port} ({'COMPTOIR_' + sim.setting} moves it)"
              for sim, port in simulated]
    lines += elsewhere
    lines.append("  the fulfilment and refund sweepers and the subscriptions' renewal job")
    click.echo("\n".join(lines))
    return helpers


def _wait_until_listening(started: list[tuple[Simulated, int, subprocess.Popen[bytes]]]) -> None:
    """Return once every simulator accepts connections; a clear error if one ended or hangs."""
    deadline = time.monotonic() + START_PATIENCE
    waiting = list(started)
    while waiting:
        for item in list(waiting):
            sim, port, process = item
            if process.poll() is not None:
                raise click.ClickException(
                    f"the {sim.label} stopped at start (exit code {process.returncode}; its "
                    f"messages are above). Move it with COMPTOIR_{sim.setting}="
                    "http://127.0.0.1:PORT if its port is the problem.")
            if _accepts(port):
                waiting.remove(item)
        if waiting and time.monotonic() > deadline:
            names = ", ".join(f"{sim.label} (port {port})" for sim, port, _p in waiting)
            raise click.ClickException(f"not listening after {START_PATIENCE:.0f} s: {names}")
        if waiting:
            time.sleep(0.1)


def _stop(helpers: list[subprocess.Popen[bytes]]) -> None:
    for process in helpers:
        process.terminate()
    for process in helpers:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def init_app(app: Flask) -> None:
    app.cli.add_command(demo_group)
    app.cli.add_command(demo_credentials)
    app.cli.add_command(serve)
