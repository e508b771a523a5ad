"""Startup stress check: start the production server many times, burst checkouts at each start.

Each start runs `comptoir serve` (gunicorn, 2 gthread workers x 4 threads) with COMPTOIR_ENV=
production and a complete production configuration: PostgreSQL (a database of the bench's own,
dropped and created again, migrated with `comptoir db upgrade`, demo data loaded once in
development mode), the Stripe gateway against localstripe, jobs on a Redis broker, rate limits
and sessions on Redis, e-mail over SMTP (aiosmtpd), the vault on S3 (moto) and both wholesaler
simulators on this machine's non-loopback address. Fresh random secrets are generated for every
run and never printed. Workers start with PYTHONFAULTHANDLER=1.

As soon as the server accepts connections, --clients buyers each open the product page, add it
to their cart, open the checkout page, and all post the checkout at once behind a barrier. The
server log is then searched for worker deaths (`Worker (pid:N) was sent SIGSEGV!`, `exited with
code`) and faulthandler tracebacks, and the buyers' answers for reset connections. A start that
shows any of them counts as crashed; its log is kept in bench/results/startup-logs/.

Run: `.venv/bin/python bench/bench_startup.py [--starts 30] [--clients 16]` (or
COMPTOIR_BENCH_STARTS, COMPTOIR_BENCH_CLIENTS; --database-url or COMPTOIR_BENCH_DATABASE_URL,
--redis-url, --host-address; --server gunicorn [--preload] for the plain gunicorn command line).
Exits 1 when any start crashed, failed to start, or any checkout did not reach Stripe. Writes
bench/results/startup.json. `--self-test` SIGSEGVs a worker at every burst and passes only if
every start is caught, with its faulthandler traceback.

Run one at a time: the bench owns its database, Redis databases 9-11 (emptied at each start)
and localstripe, whose state is process-global.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
import psycopg  # noqa: E402
import redis  # noqa: E402
import requests  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

import config  # noqa: E402
from fulfilment.simulators import SimulatorHandle, build_simulator  # noqa: E402
from fulfilment.simulators.server import SimulatorServer  # noqa: E402
from tests.support.localstripe_server import running_localstripe  # noqa: E402

RESULTS = ROOT / "bench" / "results"
LOGS = RESULTS / "startup-logs"
COMPTOIR = [sys.executable, "-c", "from app import cli; cli()"]
DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/comptoir_bench_startup"
PUBLIC_URL = "https://shop.comptoir-bench.example"
S3_BUCKET = "comptoir-bench-vault"
# Redis database numbers the bench owns and empties before every start.
REDIS_DBS = {"broker": 9, "ratelimit": 10, "sessions": 11}
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
# What gunicorn logs when a worker dies. Before we stop the server any death is a crash; while
# it stops, SIGTERM is ours and only another signal or a non-zero exit counts.
DEATH_RE = re.compile(r"Worker \(pid:\d+\) (was sent \w+|exited with code \d+)")
STOPPING_DEATH_RE = re.compile(r"Worker \(pid:\d+\) (was sent (?!SIGTERM)\w+|exited with code \d+)")
# What faulthandler writes when a worker dies in C code (then every thread's Python stack).
FATAL_RE = re.compile(r"Fatal Python error: .*")


def main() -> int:
    args = parse_args()
    if problem := missing_server(args):
        # As the tests do: skip with the reason locally, fail under CI.
        print(f"startup bench skipped: {problem}")
        return 1 if os.environ.get("CI") == "true" else 0
    RESULTS.mkdir(exist_ok=True)
    shutil.rmtree(LOGS, ignore_errors=True)  # only this run's failing starts are kept
    host_address = args.host_address or non_loopback_address()
    with tempfile.TemporaryDirectory(prefix="comptoir-bench-startup-") as tmp, \
            contextlib.ExitStack() as stack:
        services = start_services(stack, host_address)
        env = production_environment(args, services, Path(tmp))
        prepare_database(args.database_url, env)
        results = [one_start(i, args, env, Path(tmp), services.stripe_url)
                   for i in range(1, args.starts + 1)]
    return report(args, results)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=int(os.environ.get(
        "COMPTOIR_BENCH_STARTS", "30")), help="production server starts (default 30)")
    parser.add_argument("--clients", type=int, default=int(os.environ.get(
        "COMPTOIR_BENCH_CLIENTS", "16")), help="concurrent checkouts per start (default 16)")
    parser.add_argument("--database-url", default=os.environ.get(
        "COMPTOIR_BENCH_DATABASE_URL", DEFAULT_DATABASE),
        help="PostgreSQL database the bench owns: dropped and created again")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379",
                        help=f"Redis server; the bench uses databases {sorted(REDIS_DBS.values())}")
    parser.add_argument("--host-address", default=None,
                        help="non-loopback address for the simulated wholesalers, SMTP and S3 "
                             "(default: the first of `hostname -I`)")
    parser.add_argument("--partner", default="numeriland")
    parser.add_argument("--product", default="WIN11-HOME")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--server", choices=("serve", "gunicorn"), default="serve",
                        help="`comptoir serve` (default), or the plain gunicorn command line "
                             "with the same settings")
    parser.add_argument("--preload", action="store_true",
                        help="with --server gunicorn: import the app in the master (--preload)")
    parser.add_argument("--self-test", action="store_true",
                        help="send SIGSEGV to one worker during each burst: every start must "
                             "then count as crashed (checks the detector, not the shop)")
    parser.add_argument("--settle", type=float, default=1.0,
                        help="seconds to watch the log after the burst before stopping")
    args = parser.parse_args()
    if args.preload and args.server != "gunicorn":
        parser.error("--preload needs --server gunicorn")
    if not args.database_url.startswith("postgresql"):
        parser.error("the startup bench needs PostgreSQL (--database-url postgresql+psycopg://...)")
    return args


# -- outside systems -------------------------------------------------------------------------


@dataclass
class Services:
    host_address: str
    stripe_url: str
    smtp_port: int
    s3_url: str
    nexway_url: str
    arvato_url: str
    secrets: dict[str, str]


def start_services(stack: contextlib.ExitStack, host: str) -> Services:
    """Start localstripe, SMTP, S3 and both wholesaler simulators; the stack stops them."""
    values = fresh_secrets()
    localstripe = stack.enter_context(running_localstripe())
    smtp = Controller(_DropMail(), hostname=host, port=free_port(host))
    smtp.start()
    stack.callback(smtp.stop)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    moto = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
    moto.start()
    stack.callback(moto.stop)
    s3_url = f"http://{host}:{moto.get_host_and_port()[1]}"
    s3 = boto3.client("s3", endpoint_url=s3_url, region_name="eu-west-3",
                      aws_access_key_id="bench", aws_secret_access_key=values["S3_SECRET"])
    s3.create_bucket(Bucket=S3_BUCKET, ObjectLockEnabledForBucket=True,
                     CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
    urls = {}
    for name in ("nexway", "arvato"):
        credentials = {"api_key": values["NEXWAY_API_KEY"],
                       "callback_secret": values["NEXWAY_CALLBACK_SECRET"]} if name == "nexway" \
            else {"username": values["ARVATO_USERNAME"], "password": values["ARVATO_PASSWORD"]}
        # `comptoir wholesaler-sim` binds loopback only; production refuses loopback wholesalers.
        handle = SimulatorHandle(simulator := build_simulator(name, **credentials),
                                 SimulatorServer((host, 0), simulator)).start()
        stack.callback(handle.stop)
        urls[name] = handle.url
    return Services(host, localstripe.url, smtp.port, s3_url, urls["nexway"], urls["arvato"],
                    values)


class _DropMail:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        return "250 OK"


def fresh_secrets() -> dict[str, str]:
    """Every secret production asks for, random for this run (32+ bytes), never printed.

    config.SECRETS generates each in its own format, so a secret added there is covered here.
    """
    values = {name: make() for name, make in config.SECRETS.items()}
    for name in ("SECRET_KEY", "NEXWAY_API_KEY", "NEXWAY_CALLBACK_SECRET", "ARVATO_PASSWORD"):
        values[name] = secrets.token_urlsafe(48)
    values["ARVATO_USERNAME"] = "comptoir-bench"
    values["STRIPE_SECRET_KEY"] = "sk_test_" + secrets.token_hex(32)
    values["STRIPE_WEBHOOK_SECRET"] = "whsec_" + secrets.token_urlsafe(32)
    values["S3_SECRET"] = secrets.token_urlsafe(32)
    return values


def production_environment(args: argparse.Namespace, s: Services, tmp: Path) -> dict[str, str]:
    """The whole production configuration, as COMPTOIR_* variables: one line per setting.

    Production refuses the demo's defaults (capture mail, disk vault, loopback wholesalers, the
    default broker, memory:// rate limits, file sessions, short secrets): when config.py learns
    to refuse another, give it its proper value here.
    """
    redis_url = args.redis_url.rstrip("/")
    settings = {
        "ENV": "production",
        "INSTANCE_PATH": str(tmp / "instance"),
        "DATABASE_URL": args.database_url,
        "PUBLIC_URL": PUBLIC_URL,
        "CALLBACK_BASE_URL": PUBLIC_URL,
        "PLATFORM_HOSTS": urlsplit(PUBLIC_URL).hostname,
        "PAYMENT_GATEWAY": "stripe",
        "STRIPE_API_BASE": s.stripe_url,
        "TASKS_EAGER": "false",
        "CELERY_BROKER_URL": f"{redis_url}/{REDIS_DBS['broker']}",
        "RATELIMIT_STORAGE_URI": f"{redis_url}/{REDIS_DBS['ratelimit']}",
        "SESSION_STORE": "redis",
        "SESSION_REDIS_URL": f"{redis_url}/{REDIS_DBS['sessions']}",
        "MAIL_BACKEND": "smtp",
        "SMTP_HOST": s.host_address,
        "SMTP_PORT": str(s.smtp_port),
        "MAIL_SENDER": "Comptoir bench <no-reply@comptoir-bench.example>",
        "VAULT_BACKEND": "s3",
        "VAULT_S3_BUCKET": S3_BUCKET,
        "VAULT_S3_ENDPOINT": s.s3_url,
        "VAULT_S3_REGION": "eu-west-3",
        "VAULT_S3_ACCESS_KEY_ID": "bench",
        "VAULT_S3_SECRET_ACCESS_KEY": s.secrets["S3_SECRET"],
        "NEXWAY_URL": s.nexway_url,
        "ARVATO_URL": s.arvato_url,
        # The platform's identity and bank accounts (checked digits, not the demo's).
        "PLATFORM_LEGAL_NAME": "Comptoir Bench SAS", "PLATFORM_SIREN": "732829320",
        "PLATFORM_VAT_NUMBER": "FR44732829320",
        "PLATFORM_REGISTERED_OFFICE": "12 quai Saint-Antoine, 69002 Lyon",
        "PAYOUT_DEBTOR_NAME": "Comptoir Bench SAS",
        "PAYOUT_DEBTOR_IBAN": "FR1420041010050500013M02606", "PAYOUT_DEBTOR_BIC": "PSSTFRPPLYO",
        "CREDIT_IBAN": "FR1420041010050500013M02606", "CREDIT_BIC": "PSSTFRPPLYO",
        **{name: s.secrets[name] for name in (*config.SECRETS, "STRIPE_SECRET_KEY",
                                               "STRIPE_WEBHOOK_SECRET")},
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPTOIR_")}
    env.update({f"COMPTOIR_{name}": value for name, value in settings.items()})
    env["PYTHONFAULTHANDLER"] = "1"
    return env


def missing_server(args: argparse.Namespace) -> str | None:
    """Why PostgreSQL or Redis cannot be used, or None when both answer."""
    try:
        with psycopg.connect(admin_url(args.database_url), connect_timeout=5):
            pass
    except psycopg.Error as exc:
        return f"PostgreSQL is unreachable ({type(exc).__name__})"
    client = redis.Redis.from_url(args.redis_url, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"Redis is unreachable ({type(exc).__name__})"
    finally:
        client.close()
    return None


def non_loopback_address() -> str:
    """This machine's first non-loopback IPv4 address (`hostname -I`)."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True,  # noqa: S607
                             check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        out = [socket.gethostbyname(socket.gethostname())]
    for address in out:
        if "." in address and not address.startswith("127."):
            return address
    raise SystemExit("no non-loopback IPv4 address: pass --host-address")


def prepare_database(url: str, env: dict[str, str]) -> None:
    """Drop and create the bench's database, migrate it, load the demo shop (development)."""
    name = urlsplit(url).path.lstrip("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or name in ("postgres", "template1", "test"):
        raise SystemExit(f"refusing to recreate database {name!r}: give the bench its own")
    with psycopg.connect(admin_url(url), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    run_cli(["db", "upgrade"], env)
    run_cli(["demo", "load"], {**env, "COMPTOIR_ENV": "development"})


def admin_url(url: str) -> str:
    """The libpq URL of the server's `postgres` database, for creating and dropping ours."""
    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://"))
    return urlunsplit(parts._replace(path="/postgres"))


def run_cli(arguments: list[str], env: dict[str, str]) -> None:
    done = subprocess.run([*COMPTOIR, *arguments], env=env, cwd=ROOT, capture_output=True,  # noqa: S603
                          text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"`comptoir {' '.join(arguments)}` failed:\n{done.stderr[-4000:]}")


# -- one start -------------------------------------------------------------------------------


@dataclass
class StartResult:
    index: int
    ready_seconds: float | None
    outcomes: Counter[str] = field(default_factory=Counter)
    deaths: list[str] = field(default_factory=list)
    tracebacks: int = 0
    faulthandler: bool = False
    log: str = ""

    @property
    def resets(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k.startswith("reset"))

    @property
    def crashed(self) -> bool:
        return bool(self.deaths or self.resets)

    @property
    def started(self) -> bool:
        return self.ready_seconds is not None

    @property
    def failed_checkouts(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k != "stripe")


def one_start(index: int, args: argparse.Namespace, env: dict[str, str], tmp: Path,
              stripe_url: str) -> StartResult:
    """Serve in production, burst checkouts as soon as it listens, stop it, read its log."""
    flush_redis(args.redis_url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp / f"start-{index}.log"
    with log_path.open("wb") as log, served(server_command(args, port), env, log) as process:
        began = time.monotonic()
        ready = wait_listening(port, process, timeout=60)
        result = StartResult(index, time.monotonic() - began if ready else None)
        if ready:
            injure = (lambda: kill_one_worker(log_path)) if args.self_test else None
            result.outcomes = burst(base, args, stripe_url, injure)
            time.sleep(args.settle)
        log.flush()
        before_stop = log_path.read_text(errors="replace")
    text = log_path.read_text(errors="replace")
    found = ["worker " + m.group(1) for m in DEATH_RE.finditer(before_stop)]
    found += ["worker " + m.group(1) for m in STOPPING_DEATH_RE.finditer(text, len(before_stop))]
    found += [m.group(0) for m in FATAL_RE.finditer(text)]
    result.deaths = found
    result.faulthandler = any(d.startswith("Fatal Python error") for d in found)
    result.tracebacks = text.count("Traceback (most recent call last)")
    result.log = text
    status = "CRASHED" if result.crashed else "ok" if result.started else "NO-START"
    ready_s = f"{result.ready_seconds:.2f}s" if result.ready_seconds is not None else "never"
    print(f"start {index:3d}: {status:7s} ready {ready_s:>6}  checkouts "
          f"{dict(result.outcomes)}  deaths {result.deaths or '-'}", flush=True)
    if result.crashed or result.failed_checkouts or not result.started:
        LOGS.mkdir(parents=True, exist_ok=True)
        (LOGS / f"start-{index}.log").write_text(text)
    return result


@contextlib.contextmanager
def served(command: list[str], env: dict[str, str],
           log: Any) -> Iterator[subprocess.Popen[bytes]]:
    """Run the server in its own process group; stop, then kill and reap all of it."""
    process = subprocess.Popen(  # noqa: S603
        command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        stop_group(process)


def server_command(args: argparse.Namespace, port: int) -> list[str]:
    """`comptoir serve`, or gunicorn with the same settings (2 gthread workers x 4 threads)."""
    if args.server == "serve":
        return [*COMPTOIR, "serve", "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(args.workers)]
    return [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
            "--workers", str(args.workers), "--worker-class", "gthread", "--threads", "4",
            "--access-logfile", "-", *(["--preload"] if args.preload else []), "app:create_app()"]


def kill_one_worker(log_path: Path) -> None:
    """Self-test: SIGSEGV the first worker gunicorn booted, as a crash in C code would."""
    pids = re.findall(r"Booting worker with pid: (\d+)", log_path.read_text(errors="replace"))
    if pids:
        os.kill(int(pids[0]), signal.SIGSEGV)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop gunicorn as a deploy does (SIGTERM to the master), then SIGKILL whatever is left of
    its process group, and reap the master."""
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(20)
    deadline = time.monotonic() + 10
    while True:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            break  # no process of the group is left
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(0.1)
        if time.monotonic() > deadline:
            raise RuntimeError(f"server process group {process.pid} would not die")
    process.wait()


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait until the port accepts a connection; False if the server exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.01)
    return False


class Buyer:
    """One browser: a requests session that sends the Secure session cookie over plain HTTP."""

    def __init__(self, shop: str) -> None:
        self.shop = shop
        self.http = requests.Session()

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        answer = self.http.request(method, self.shop + path, allow_redirects=False,
                                   timeout=60, **kwargs)
        # The __Host- cookie is Secure: behind TLS the browser sends it; here we are plain HTTP.
        for cookie in self.http.cookies:
            cookie.secure = False
        return answer

    def prepare(self, product: str) -> str:
        """Open the product page, add it to the cart, open checkout; return its CSRF token."""
        page = self.call("GET", f"/products/{product}")
        added = self.call("POST", f"/cart/add/{product}",
                          data={"csrf_token": csrf(page.text), "quantity": "1"})
        if not added.is_redirect:
            raise ValueError(f"add to cart answered {added.status_code}")
        return csrf(self.call("GET", "/checkout").text)


def burst(base: str, args: argparse.Namespace, stripe_url: str,
          on_release: Callable[[], None] | None = None) -> Counter[str]:
    """Each buyer fills a cart and opens checkout; then all post the checkout at once."""
    barrier = threading.Barrier(args.clients, action=on_release, timeout=60)
    outcomes: list[str] = ["unfinished"] * args.clients

    def run(i: int) -> None:
        buyer = Buyer(f"{base}/p/{args.partner}")
        try:
            try:
                token = buyer.prepare(args.product)
            except (requests.RequestException, ValueError) as exc:
                outcomes[i] = "prepare:" + classify(exc)
                barrier.abort()
                return
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                outcomes[i] = "barrier-broken"
                return
            try:
                answer = buyer.call("POST", "/checkout", data={
                    "csrf_token": token, "email": f"buyer{i}@bench.example",
                    "name": f"Buyer {i}", "billing_country": "FR", "consent": "y"})
            except requests.RequestException as exc:
                outcomes[i] = classify(exc)
                return
            location = answer.headers.get("Location", "")
            paying = answer.is_redirect and location.startswith(f"{stripe_url}/checkout/pay/cs_")
            outcomes[i] = "stripe" if paying else f"http-{answer.status_code}"
        finally:
            buyer.http.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Counter(outcomes)


def csrf(html: str) -> str:
    match = CSRF_RE.search(html)
    if not match:
        raise ValueError("no csrf_token in the page")
    return match.group(1) or match.group(2)


def classify(exc: BaseException) -> str:
    """Name a client failure: a reset/closed connection is what a dying worker leaves."""
    text = repr(exc)
    if any(s in text for s in ("ConnectionReset", "RemoteDisconnected", "Connection aborted",
                               "BrokenPipe")):
        return "reset"
    if isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, ValueError):
        return "bad-page"
    return type(exc).__name__


def flush_redis(url: str) -> None:
    for number in REDIS_DBS.values():
        client = redis.Redis.from_url(f"{url.rstrip('/')}/{number}")
        try:
            client.flushdb()
        finally:
            client.close()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# -- summary ---------------------------------------------------------------------------------


def report(args: argparse.Namespace, results: list[StartResult]) -> int:
    """Print the summary, write startup.json, and say whether the run passes."""
    crashed = [r.index for r in results if r.crashed]
    unstarted = [r.index for r in results if not r.started]
    failed = sum(r.failed_checkouts for r in results)
    outcomes: Counter[str] = sum((r.outcomes for r in results), Counter())
    deaths: Counter[str] = sum((Counter(r.deaths) for r in results), Counter())
    ready = sorted(r.ready_seconds for r in results if r.ready_seconds is not None)
    summary = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "server": args.server + (" --preload" if args.preload else ""),
        "workers": args.workers,
        "threads": 4,
        "clients_per_start": args.clients,
        "self_test": args.self_test,
        "starts": len(results),
        "crashed": len(crashed),
        "crashed_starts": crashed,
        "did_not_start": unstarted,
        "deaths": dict(deaths),
        "checkouts": dict(outcomes),
        "failed_checkouts": failed,
        "server_tracebacks": sum(r.tracebacks for r in results),
        "ready_seconds_median": round(ready[len(ready) // 2], 3) if ready else None,
    }
    (RESULTS / "startup.json").write_text(json.dumps(summary, indent=2) + "\n")
    print()
    print(f"startup bench: {len(results)} production starts tried, {len(crashed)} crashed "
          f"({', '.join(map(str, crashed)) or 'none'}), {len(unstarted)} did not start")
    print(f"  checkouts: {dict(outcomes)} ({failed} did not reach Stripe)")
    print(f"  worker deaths: {dict(deaths) or 'none'}; "
          f"Python tracebacks in the server logs: {summary['server_tracebacks']}")
    print(f"  summary in {RESULTS / 'startup.json'}"
          + (f"; failing starts' logs in {LOGS}" if crashed or unstarted or failed else ""))
    if args.self_test:
        caught = all(r.crashed and r.faulthandler for r in results)
        print(f"  self-test: {'every' if caught else 'NOT every'} injected SIGSEGV was caught "
              "with its faulthandler traceback")
        return 0 if caught and not unstarted else 1
    return 1 if crashed or unstarted or failed else 0


if __name__ == "__main__":
    sys.exit(main())
